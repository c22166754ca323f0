"""One STOMP session with the broker over a trio stream.

`BrokerConnection` drives a `stompframe.ClientConnection` (which builds the frames and keeps
the protocol state) over a socket: one task reads and dispatches, one writes (several queued
frames go out in one write), one keeps the heart-beats and declares the broker dead when it
has been silent for twice the negotiated interval. Nothing here knows about jobs.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Callable, Sequence
from typing import TypeAlias, TypedDict, Unpack

import trio

from stompframe import (
    DEFAULT_MAX_FRAME_BYTES,
    ClientConnection,
    Frame,
    Heartbeat,
    OversizedFrame,
    Parser,
    ProtocolError,
    State,
)

from .. import metrics
from ..config import BrokerAddress, BrokerConfig
from ..errors import PlastronError, describe
from ..waiting import first_to_end, wait_any

__all__ = [
    "BrokerConnection",
    "BrokerError",
    "ConnectionLost",
    "Message",
    "open_configured",
    "ssl_context_for",
]

log = logging.getLogger(__name__)

#: largest write we assemble from queued frames
_WRITE_CHUNK = 256 * 1024


class BrokerError(PlastronError):
    """The broker refused or broke the session (an ERROR frame, a protocol violation)."""


class ConnectionLost(BrokerError):
    """The connection ended: closed, reset, silent for too long, or refused."""


ReceiptCallback = Callable[[], None]


class SessionOptions(TypedDict, total=False):
    """The keywords of `BrokerConnection.handshake`, which `open` passes on."""

    virtual_host: str | None
    login: str | None
    passcode: str | None
    heartbeat: tuple[int, int]
    client_id: str | None
    max_frame_bytes: int | None


#: A MESSAGE as handlers get it: whole, or (past the frame limit) its headers and first bytes.
Message: TypeAlias = Frame | OversizedFrame


class BrokerConnection:
    """A connected session. Use `open()`; then `run()` in a nursery until it raises."""

    def __init__(
        self, stream: trio.abc.Stream, protocol: ClientConnection, address: BrokerAddress
    ) -> None:
        self.stream = stream
        self.protocol = protocol
        self.address = address
        self._outgoing_send, self._outgoing = trio.open_memory_channel[bytes](float("inf"))
        self._handlers: dict[str, trio.MemorySendChannel[Message]] = {}
        self._receipts: dict[str, ReceiptCallback] = {}
        self._receipt_counter = 0
        self._closed = False
        #: set when the session has ended (what receipt waiters wait on beside the receipt)
        self.ended = trio.Event()

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        address: BrokerAddress,
        *,
        ssl_context: ssl.SSLContext | None = None,
        timeout: float = 30.0,
        **session: Unpack[SessionOptions],
    ) -> BrokerConnection:
        """Connect, send CONNECT (1.2, falling back to 1.1 and 1.0) and wait for CONNECTED;
        *session* is as `handshake` takes it."""
        stream: trio.abc.Stream
        with trio.fail_after(timeout):
            try:
                if ssl_context is not None:
                    stream = await trio.open_ssl_over_tcp_stream(
                        address.host, address.port, ssl_context=ssl_context
                    )
                else:
                    stream = await trio.open_tcp_stream(address.host, address.port)
            except OSError as e:
                raise ConnectionLost(describe(e)) from None
            return await cls.handshake(stream, address, **session)

    @classmethod
    async def handshake(
        cls,
        stream: trio.abc.Stream,
        address: BrokerAddress,
        *,
        virtual_host: str | None = None,
        login: str | None = None,
        passcode: str | None = None,
        heartbeat: tuple[int, int] = (10_000, 10_000),
        client_id: str | None = None,
        max_frame_bytes: int | None = None,
    ) -> BrokerConnection:
        """Open the STOMP session on a connected *stream*. A frame larger than
        *max_frame_bytes* (None: stompframe's default) does not end the session: its body is
        dropped as it arrives and a MESSAGE handler gets an `OversizedFrame` (headers, first
        bytes, size), which can be acknowledged and answered like any message. A header
        section over the limit still ends the session."""
        parser = Parser(
            max_frame_bytes=max_frame_bytes or DEFAULT_MAX_FRAME_BYTES, discard_oversized=True
        )
        protocol = ClientConnection(
            virtual_host or address.host,
            login=login,
            passcode=passcode,
            heartbeat=heartbeat,
            parser=parser,
        )
        extra = [("client-id", client_id)] if client_id else []
        self = cls(stream, protocol, address)
        try:
            await self._write_now(protocol.encode(protocol.connect(headers=extra)))
            while protocol.state is State.CONNECTING:
                data = await self._receive_some()
                for event in protocol.receive_data(data, trio.current_time()):
                    if isinstance(event, Frame | OversizedFrame) and event.command == "ERROR":
                        raise BrokerError(f"{address} refused the session: {_reason(event)}")
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        return self

    # --- API used while running ------------------------------------------------------------

    @property
    def version(self) -> str:
        return self.protocol.version or "1.0"

    def subscribe(
        self,
        destination: str,
        handler: trio.MemorySendChannel[Message],
        *,
        ack: str = "client-individual",
        headers: Sequence[tuple[str, str]] = (),
    ) -> str:
        """Subscribe; MESSAGE frames for it go to *handler*. Returns the subscription id."""
        if ack == "client-individual" and self.version == "1.0":
            ack = "client"
        frame = self.protocol.subscribe(destination, ack=ack, headers=headers)
        sub_id = frame.get("id")
        assert sub_id is not None
        self._handlers[sub_id] = handler
        self._queue(frame)
        return sub_id

    def unsubscribe(self, sub_id: str) -> None:
        if sub_id in self.protocol.subscriptions and self.protocol.state is State.CONNECTED:
            self._queue(self.protocol.unsubscribe(sub_id))
        self._handlers.pop(sub_id, None)

    def send(
        self,
        destination: str,
        body: bytes,
        headers: Sequence[tuple[str, str]] = (),
        *,
        on_receipt: ReceiptCallback | None = None,
    ) -> None:
        """Queue a SEND; *on_receipt* runs when the broker confirms it."""
        receipt = self._new_receipt(on_receipt) if on_receipt is not None else None
        self._queue(self.protocol.send(destination, body, headers=headers, receipt=receipt))

    async def send_and_confirm(
        self, destination: str, body: bytes, headers: Sequence[tuple[str, str]] = ()
    ) -> None:
        """SEND and wait for the broker's RECEIPT (ConnectionLost if the session ends first)."""
        done = trio.Event()
        self.send(destination, body, headers, on_receipt=done.set)
        await self._wait_receipt(done)

    def ack(self, message: Message) -> None:
        """Acknowledge *message*. On a closed session this does nothing: the broker will
        deliver the message again, and the caller must be ready for that anyway."""
        if self.is_open:
            self._queue(self.protocol.ack(message))

    def nack(self, message: Message) -> None:
        if self.is_open and self.version != "1.0":
            self._queue(self.protocol.nack(message))

    @property
    def is_open(self) -> bool:
        return not self._closed and self.protocol.state is State.CONNECTED

    async def disconnect(self, timeout: float = 5.0) -> None:
        """DISCONNECT with a receipt and wait for it (bounded); then close the socket."""
        if self.protocol.state is State.CONNECTED and not self._closed:
            done = trio.Event()
            receipt = self._new_receipt(done.set)
            self._queue(self.protocol.disconnect(receipt=receipt))
            with trio.move_on_after(timeout):
                await self._wait_receipt(done)
        await self.aclose()

    async def aclose(self) -> None:
        self._end()
        self._receipts.clear()
        await trio.aclose_forcefully(self.stream)

    def _end(self) -> None:
        self._closed = True
        self.ended.set()

    # --- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Read, write and keep heart-beats until the connection ends; then raise
        ConnectionLost (or BrokerError for an ERROR frame)."""
        try:
            # The first task to fail says why; the others were only cancelled.
            failure = await first_to_end(
                self._reader, self._writer, self._heartbeats, expected=BrokerError
            )
        finally:
            self._end()
            for handler in self._handlers.values():
                handler.close()
        raise failure or ConnectionLost(f"connection to {self.address} ended")

    async def _receive_some(self) -> bytes:
        try:
            data = await self.stream.receive_some(65536)
        except (trio.BrokenResourceError, OSError) as e:
            raise ConnectionLost(f"connection to {self.address} broke: {e}") from None
        except trio.ClosedResourceError:
            raise ConnectionLost(f"connection to {self.address} closed") from None
        if not data:
            raise ConnectionLost(f"{self.address} closed the connection")
        return bytes(data)

    async def _reader(self) -> None:
        protocol = self.protocol
        while True:
            data = await self._receive_some()
            try:
                events = protocol.receive_data(data, trio.current_time())
            except ProtocolError as e:
                raise BrokerError(f"protocol error from {self.address}: {e}") from None
            for event in events:
                if type(event) is Heartbeat:
                    continue
                assert isinstance(event, Frame | OversizedFrame)
                self._dispatch(event)
            if protocol.state is State.CLOSED:
                raise ConnectionLost(f"session with {self.address} closed")

    def _dispatch(self, frame: Message) -> None:
        command = frame.command
        if command == "MESSAGE":
            sub_id = frame.get("subscription")
            handler = self._handlers.get(sub_id or "")
            if handler is None:
                log.warning("message for unknown subscription %r dropped unacknowledged", sub_id)
                return
            try:
                handler.send_nowait(frame)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                log.debug("message for closed subscription %s left unacknowledged", sub_id)
        elif command == "RECEIPT":
            if type(frame) is OversizedFrame:
                log.warning("RECEIPT with a body of %d bytes (bodies are ignored)", frame.size)
            callback = self._receipts.pop(frame.get("receipt-id") or "", None)
            if callback is not None:
                callback()
        elif command == "ERROR":
            raise BrokerError(f"{self.address} sent ERROR: {_reason(frame)}")

    async def _writer(self) -> None:
        async for data in self._outgoing:
            parts = [data]
            size = len(data)
            while size < _WRITE_CHUNK:
                try:
                    more = self._outgoing.receive_nowait()
                except trio.WouldBlock:
                    break
                parts.append(more)
                size += len(more)
            await self._write_now(b"".join(parts) if len(parts) > 1 else data)

    async def _write_now(self, data: bytes) -> None:
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            raise ConnectionLost(f"cannot write to {self.address}: {e}") from None
        self.protocol.note_sent(trio.current_time())

    async def _heartbeats(self) -> None:
        protocol = self.protocol
        while True:
            now = trio.current_time()
            if protocol.peer_overdue(now):
                metrics.BROKER_HEARTBEAT_MISSES.inc()
                interval = protocol.receive_interval / 1000
                raise ConnectionLost(
                    f"{self.address} silent for over {protocol.peer_grace * interval:g} s "
                    "(heart-beats missed)"
                )
            if protocol.heartbeat_due(now):
                self._outgoing_send.send_nowait(protocol.encode(Heartbeat()))
                # Count it as sent now so that we do not queue it twice while it is written.
                protocol.note_sent(now)
            deadlines = [d for d in (protocol.next_heartbeat_deadline, protocol.peer_deadline) if d]
            if deadlines:
                await trio.sleep_until(max(min(deadlines), now + 0.001))
            else:
                await trio.sleep_forever()

    # --- helpers ---------------------------------------------------------------------------

    def _queue(self, frame: Frame) -> None:
        if self._closed:
            raise ConnectionLost(f"connection to {self.address} is closed")
        self._outgoing_send.send_nowait(self.protocol.encode(frame))

    def _new_receipt(self, callback: ReceiptCallback) -> str:
        self._receipt_counter += 1
        receipt = f"r-{self._receipt_counter}"
        self._receipts[receipt] = callback
        return receipt

    async def _wait_receipt(self, done: trio.Event) -> None:
        # Whichever comes first: the receipt, or the end of the session.
        await wait_any(done, self.ended)
        if not done.is_set():
            raise ConnectionLost(f"connection to {self.address} ended before the receipt")


def ssl_context_for(broker: BrokerConfig) -> ssl.SSLContext | None:
    """The TLS context MESSAGE_BROKER asks for (USE_TLS, TLS_CA_FILE), or None."""
    if not broker.use_tls:
        return None
    cafile = str(broker.tls_ca_file) if broker.tls_ca_file else None
    return ssl.create_default_context(cafile=cafile)


async def open_configured(
    broker: BrokerConfig,
    address: BrokerAddress,
    *,
    client_id: str | None = None,
    max_frame_bytes: int | None = None,
    timeout: float | None = None,
) -> BrokerConnection:
    """`BrokerConnection.open` with the session settings of the MESSAGE_BROKER section (login,
    virtual host, heart-beats, TLS, connect timeout): how the daemon and `plastrond submit`
    both connect."""
    return await BrokerConnection.open(
        address,
        virtual_host=broker.virtual_host,
        login=broker.login,
        passcode=broker.passcode,
        heartbeat=(broker.heartbeat_send_ms, broker.heartbeat_receive_ms),
        client_id=client_id,
        ssl_context=ssl_context_for(broker),
        timeout=broker.connect_timeout if timeout is None else timeout,
        max_frame_bytes=max_frame_bytes,
    )


def _reason(frame: Message) -> str:
    message = frame.get("message") or ""
    raw = frame.body if isinstance(frame, Frame) else frame.body_prefix
    body = raw.decode("utf-8", "replace").strip()
    text = message or body or "no reason given"
    if message and body and body != message:
        text = f"{message}: {body.splitlines()[0]}"
    return " ".join(text.split())[:500]
