"""The client side of a STOMP session as a state machine: `ClientConnection`."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeAlias

from ._encoder import encode
from ._errors import LocalProtocolError, ProtocolError
from ._frame import SUPPORTED_VERSIONS, Event, Frame, Heartbeat, OversizedFrame
from ._parser import Parser

__all__ = ["ClientConnection", "ExtraHeaders", "State", "Subscription"]

#: Extra headers a caller may add to a frame the connection builds.
ExtraHeaders: TypeAlias = Iterable[tuple[str, str]] | Mapping[str, str]

_ACK_MODES = ("auto", "client", "client-individual")


class State(enum.Enum):
    """Where a `ClientConnection` is in its session."""

    IDLE = "idle"  #: nothing sent yet
    CONNECTING = "connecting"  #: CONNECT (or STOMP) built, CONNECTED not yet received
    CONNECTED = "connected"  #: CONNECTED received; frames may be sent
    DISCONNECTING = "disconnecting"  #: DISCONNECT with a receipt built, receipt not yet received
    CLOSED = "closed"  #: the session ended cleanly; close the transport
    ERRORED = "errored"  #: an ERROR frame arrived or the peer broke the protocol


@dataclass(frozen=True, slots=True)
class Subscription:
    """A subscription the client made and has not ended."""

    id: str
    destination: str
    ack: str


def _pairs(headers: ExtraHeaders) -> list[tuple[str, str]]:
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers)


def _parse_heartbeat(value: str) -> tuple[int, int]:
    first, comma, second = value.partition(",")
    first, second = first.strip(), second.strip()
    if comma and first.isascii() and first.isdigit() and second.isascii() and second.isdigit():
        return int(first), int(second)
    raise ProtocolError(f"CONNECTED heart-beat {value!r} is not two non-negative integers")


class ClientConnection:
    """The client side of one STOMP session, with no I/O and no clock.

    The caller moves bytes and time; the connection builds frames and keeps the state::

        conn = ClientConnection("broker.example", login="u", passcode="p", heartbeat=(10000, 10000))
        sock.sendall(conn.encode(conn.connect())); conn.note_sent(now())
        for event in conn.receive_data(sock.recv(65536), now()):
            ...                      # CONNECTED, MESSAGE, RECEIPT, ERROR frames or Heartbeat
        if conn.heartbeat_due(now()):
            sock.sendall(conn.encode(Heartbeat())); conn.note_sent(now())
        if conn.peer_overdue(now()):
            ...                      # no bytes from the broker for too long: treat as dead

    **Parsing.** The connection owns a `Parser` (pass one to set its limits; its version is
    set to 1.0 until CONNECTED, since nothing is agreed before). `receive_data`
    feeds it, notes that bytes arrived, and runs every event through `receive`. The parser
    switches to the negotiated version on the CONNECTED frame itself, so frames that arrive in
    the same piece of data after CONNECTED are decoded by the right rules. A caller that parses
    by itself can instead pass events to `receive` (and call `note_received` for every piece of
    bytes, since the EOL after a frame's NUL yields no event).

    **Heart-beats.** *heartbeat* is ``(cx, cy)`` in milliseconds: the client can send every
    *cx* ms and wants to hear from the broker every *cy* ms (0: never). From CONNECTED's
    ``heart-beat: sx,sy`` the rule of the STOMP spec gives `send_interval` = max(cx, sy) and
    `receive_interval` = max(sx, cy), each 0 when either side is 0 (and both 0 in STOMP 1.0).
    *now* values are seconds on any monotonic clock (``trio.current_time()``). A heart-beat is
    due when nothing was sent for `send_interval`; the peer is overdue when nothing was
    received for *peer_grace* times `receive_interval`.

    **Receipts.** Every frame built with ``receipt=`` is remembered until its RECEIPT arrives.
    A RECEIPT whose id was never asked for (or already answered) is a `ProtocolError`: this
    connection builds every frame, so an unknown receipt means the broker is confused; frames
    built by hand can be registered with `expect_receipt`. The RECEIPT for a DISCONNECT
    closes the session.

    **Errors.** An ERROR frame is returned like any frame and moves the state to `State.ERRORED`
    (the broker closes the connection after it). A frame the protocol does not allow also moves
    it there and raises `ProtocolError`. A call the state forbids (SEND before CONNECTED, NACK in
    STOMP 1.0, ...) raises `LocalProtocolError` and changes nothing.
    """

    def __init__(
        self,
        host: str,
        *,
        login: str | None = None,
        passcode: str | None = None,
        heartbeat: tuple[int, int] = (0, 0),
        accept_versions: Sequence[str] = SUPPORTED_VERSIONS,
        peer_grace: float = 2.0,
        parser: Parser | None = None,
    ) -> None:
        cx, cy = heartbeat
        if not (isinstance(cx, int) and isinstance(cy, int) and cx >= 0 and cy >= 0):
            raise ValueError(f"heartbeat must be two non-negative integers (ms), not {heartbeat}")
        versions = tuple(accept_versions)
        if not versions or any(v not in SUPPORTED_VERSIONS for v in versions):
            raise ValueError(f"accept_versions must be a non-empty subset of {SUPPORTED_VERSIONS}")
        if peer_grace < 1:
            raise ValueError("peer_grace must be at least 1")
        self.host = host
        self.login = login
        self.passcode = passcode
        self.heartbeat = (cx, cy)
        self.accept_versions = versions
        self.peer_grace = peer_grace
        # Before CONNECTED no escaping is agreed: decode as 1.0 (an ERROR for a failed login
        # is then read verbatim rather than rejected for an escape).
        self.parser = parser if parser is not None else Parser("1.0")
        self.parser.version = "1.0"
        self._state = State.IDLE
        self._version: str | None = None
        self._server_heartbeat = (0, 0)
        self._send_interval = 0
        self._receive_interval = 0
        self._connected_at: float | None = None
        self._last_sent: float | None = None
        self._last_received: float | None = None
        self._connected_frame: Frame | None = None
        self._error_frame: Frame | None = None
        self._subscriptions: dict[str, Subscription] = {}
        self._receipts: dict[str, str] = {}
        self._transactions: set[str] = set()
        #: the last frame built and its bytes (what `encode` is most often asked for next)
        self._last_encoded: tuple[Frame, bytes] | None = None
        self._disconnect_receipt: str | None = None
        self._counter = 0

    # -- state ----------------------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    @property
    def version(self) -> str | None:
        """The negotiated protocol version, once CONNECTED has been received."""
        return self._version

    @property
    def server_heartbeat(self) -> tuple[int, int]:
        """The broker's ``heart-beat`` (sx, sy) from CONNECTED; (0, 0) before or without it."""
        return self._server_heartbeat

    @property
    def send_interval(self) -> int:
        """Milliseconds between heart-beats the client must send (0: none)."""
        return self._send_interval

    @property
    def receive_interval(self) -> int:
        """Milliseconds between heart-beats the broker will send (0: none)."""
        return self._receive_interval

    @property
    def connected_frame(self) -> Frame | None:
        return self._connected_frame

    @property
    def error_frame(self) -> Frame | None:
        """The ERROR frame that moved the connection to `State.ERRORED`, if any."""
        return self._error_frame

    @property
    def subscriptions(self) -> Mapping[str, Subscription]:
        """The active subscriptions by id (a read-only view)."""
        return MappingProxyType(self._subscriptions)

    @property
    def receipts_outstanding(self) -> Mapping[str, str]:
        """Receipt ids asked for and not yet received, with the command that asked."""
        return MappingProxyType(self._receipts)

    @property
    def transactions(self) -> frozenset[str]:
        """The transactions begun and not yet committed or aborted."""
        return frozenset(self._transactions)

    # -- building frames ------------------------------------------------------------------

    def encode(self, event: Frame | Heartbeat) -> bytes:
        """The wire bytes of *event* under the negotiated version."""
        last = self._last_encoded
        if last is not None and last[0] is event:
            self._last_encoded = None
            return last[1]
        return encode(event, self._version or self.accept_versions[-1])

    def _encodable(self, frame: Frame) -> Frame:
        """*frame*, once it is known to encode (LocalProtocolError else, before any state
        changes); `encode` then hands out these bytes without encoding it again."""
        data = encode(frame, self._version or self.accept_versions[-1])
        self._last_encoded = (frame, data)
        return frame

    def connect(self, *, headers: ExtraHeaders = (), stomp_command: bool = False) -> Frame:
        """The CONNECT frame (or STOMP, with *stomp_command*) that opens the session."""
        if self._state is not State.IDLE:
            raise LocalProtocolError(f"connect() when the connection is {self._state.value}")
        ours = [("accept-version", ",".join(self.accept_versions)), ("host", self.host)]
        if self.login is not None:
            ours.append(("login", self.login))
        if self.passcode is not None:
            ours.append(("passcode", self.passcode))
        if self.accept_versions != ("1.0",):
            ours.append(("heart-beat", f"{self.heartbeat[0]},{self.heartbeat[1]}"))
        frame = Frame("STOMP" if stomp_command else "CONNECT", self._merge(ours, headers))
        self._encodable(frame)
        self._state = State.CONNECTING
        return frame

    def subscribe(
        self,
        destination: str,
        *,
        id: str | None = None,
        ack: str = "client-individual",
        headers: ExtraHeaders = (),
        receipt: str | None = None,
    ) -> Frame:
        """A SUBSCRIBE frame; *id* defaults to a fresh ``sub-N``."""
        self._require_connected("subscribe")
        if ack not in _ACK_MODES:
            raise LocalProtocolError(f"unknown ack mode {ack!r}; expected one of {_ACK_MODES}")
        if ack == "client-individual" and self._version == "1.0":
            raise LocalProtocolError("ack mode client-individual needs STOMP 1.1; use 'client'")
        if id is None:
            id = self._fresh("sub")
        if id in self._subscriptions:
            raise LocalProtocolError(f"subscription id {id!r} is already in use")
        ours = [("destination", destination), ("id", id), ("ack", ack)]
        frame = self._build("SUBSCRIBE", ours, headers, receipt)
        self._subscriptions[id] = Subscription(id, destination, ack)
        return frame

    def unsubscribe(
        self, id: str, *, headers: ExtraHeaders = (), receipt: str | None = None
    ) -> Frame:
        """An UNSUBSCRIBE frame for the subscription *id*."""
        self._require_connected("unsubscribe")
        if id not in self._subscriptions:
            raise LocalProtocolError(f"no subscription with id {id!r}")
        frame = self._build("UNSUBSCRIBE", [("id", id)], headers, receipt)
        del self._subscriptions[id]
        return frame

    def send(
        self,
        destination: str,
        body: bytes = b"",
        *,
        headers: ExtraHeaders = (),
        content_type: str | None = None,
        transaction: str | None = None,
        receipt: str | None = None,
    ) -> Frame:
        """A SEND frame (`encode` adds ``content-length``)."""
        self._require_connected("send")
        ours = [("destination", destination)]
        if content_type is not None:
            ours.append(("content-type", content_type))
        self._add_transaction(ours, transaction)
        return self._build("SEND", ours, headers, receipt, body)

    def ack(
        self,
        message: Frame | OversizedFrame,
        *,
        transaction: str | None = None,
        receipt: str | None = None,
    ) -> Frame:
        """The ACK for a MESSAGE: by its ``ack`` header in 1.2, by ``message-id`` and
        ``subscription`` in 1.1, by ``message-id`` in 1.0."""
        return self._acknowledge("ACK", message, transaction, receipt)

    def nack(
        self,
        message: Frame | OversizedFrame,
        *,
        transaction: str | None = None,
        receipt: str | None = None,
    ) -> Frame:
        """The NACK for a MESSAGE (STOMP 1.1 and later), with the headers of `ack`."""
        return self._acknowledge("NACK", message, transaction, receipt)

    def begin(self, transaction: str | None = None, *, receipt: str | None = None) -> Frame:
        """A BEGIN frame; *transaction* defaults to a fresh ``tx-N``."""
        self._require_connected("begin")
        if transaction is None:
            transaction = self._fresh("tx")
        if transaction in self._transactions:
            raise LocalProtocolError(f"transaction {transaction!r} is already open")
        frame = self._build("BEGIN", [("transaction", transaction)], (), receipt)
        self._transactions.add(transaction)
        return frame

    def commit(self, transaction: str, *, receipt: str | None = None) -> Frame:
        """A COMMIT frame for an open transaction."""
        return self._end_transaction("COMMIT", transaction, receipt)

    def abort(self, transaction: str, *, receipt: str | None = None) -> Frame:
        """An ABORT frame for an open transaction."""
        return self._end_transaction("ABORT", transaction, receipt)

    def disconnect(self, *, receipt: str | None = None) -> Frame:
        """The DISCONNECT frame. With *receipt* the state becomes `State.DISCONNECTING` until
        the broker's RECEIPT (the graceful way); without, it is `State.CLOSED` at once."""
        self._require_connected("disconnect")
        frame = self._build("DISCONNECT", [], (), receipt)
        if receipt is None:
            self._state = State.CLOSED
        else:
            self._disconnect_receipt = receipt
            self._state = State.DISCONNECTING
        return frame

    def expect_receipt(self, receipt: str, command: str = "") -> None:
        """Register a receipt id asked for by a frame built without this connection."""
        if receipt in self._receipts:
            raise LocalProtocolError(f"receipt id {receipt!r} is already outstanding")
        self._receipts[receipt] = command

    # -- receiving ------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview, now: float) -> list[Event]:
        """Parse *data* from the broker and `receive` each event; return the events.

        If the data is malformed, the events parsed before the fault are still received (so an
        ERROR frame just before it is kept in `error_frame`), then the state becomes
        `State.ERRORED` and the parser's `ProtocolError` is raised.
        """
        if data:
            self._last_received = now
        try:
            events = self.parser.feed(data)
        except ProtocolError as exc:
            try:
                for event in exc.events:
                    self.receive(event, now)
            finally:
                self._state = State.ERRORED
            raise
        for event in events:
            self.receive(event, now)
        return events

    def receive(self, event: Event, now: float) -> Event:
        """Update the state for one event from the broker; return the event."""
        self._last_received = now
        if type(event) is Heartbeat:
            return event
        try:
            if type(event) is OversizedFrame:
                # The protocol state depends on headers only: a RECEIPT or CONNECTED counts
                # as such, an ERROR is kept with the first bytes of its body.
                self._receive_frame(Frame(event.command, event.headers, event.body_prefix), now)
                return event
            assert isinstance(event, Frame)
            return self._receive_frame(event, now)
        except ProtocolError:
            self._state = State.ERRORED
            raise

    def _receive_frame(self, frame: Frame, now: float) -> Frame:
        command = frame.command
        state = self._state
        if state is State.CLOSED or state is State.ERRORED:
            raise ProtocolError(f"{command} frame received after the session {state.value}")
        if state is State.IDLE:
            raise ProtocolError(f"{command} frame received before CONNECT was sent")
        if command == "MESSAGE":
            if state is State.CONNECTING:
                raise ProtocolError("MESSAGE frame received before CONNECTED")
            return frame
        if command == "RECEIPT":
            if state is State.CONNECTING:
                raise ProtocolError("RECEIPT frame received before CONNECTED")
            receipt = frame.get("receipt-id")
            if receipt is None:
                raise ProtocolError("RECEIPT frame without a receipt-id header")
            if self._receipts.pop(receipt, None) is None:
                raise ProtocolError(f"RECEIPT for receipt-id {receipt!r}, which was not asked for")
            if receipt == self._disconnect_receipt:
                self._state = State.CLOSED
            return frame
        if command == "ERROR":
            receipt = frame.get("receipt-id")
            if receipt is not None:
                self._receipts.pop(receipt, None)
            self._error_frame = frame
            self._state = State.ERRORED
            return frame
        if command == "CONNECTED":
            if state is not State.CONNECTING:
                raise ProtocolError("CONNECTED frame received twice")
            self._negotiate(frame, now)
            return frame
        raise ProtocolError(f"a broker does not send {command!r} frames")

    def _negotiate(self, frame: Frame, now: float) -> None:
        version = frame.get("version", "1.0")
        if version not in self.accept_versions:
            raise ProtocolError(
                f"CONNECTED names version {version!r}, which the client did not accept "
                f"({','.join(self.accept_versions)})"
            )
        sx, sy = 0, 0
        value = frame.get("heart-beat")
        if value is not None and version != "1.0":
            sx, sy = _parse_heartbeat(value)
        cx, cy = self.heartbeat
        self._version = version
        self.parser.version = version
        self._server_heartbeat = (sx, sy)
        self._send_interval = max(cx, sy) if cx and sy else 0
        self._receive_interval = max(sx, cy) if sx and cy else 0
        self._connected_frame = frame
        self._connected_at = now
        self._state = State.CONNECTED

    # -- time -----------------------------------------------------------------------------

    def note_sent(self, now: float) -> None:
        """Record that bytes were written to the broker at *now*."""
        self._last_sent = now

    def note_received(self, now: float) -> None:
        """Record that bytes arrived from the broker at *now*."""
        self._last_received = now

    @property
    def next_heartbeat_deadline(self) -> float | None:
        """When the client must next send something, or None when it need not."""
        if not self._send_interval or self._connected_at is None:
            return None
        if self._state is not State.CONNECTED and self._state is not State.DISCONNECTING:
            return None
        last = self._last_sent
        if last is None or last < self._connected_at:
            last = self._connected_at
        return last + self._send_interval / 1000

    def heartbeat_due(self, now: float) -> bool:
        """Whether a heart-beat must be sent now (nothing sent for `send_interval`)."""
        deadline = self.next_heartbeat_deadline
        return deadline is not None and now >= deadline

    @property
    def peer_deadline(self) -> float | None:
        """When the broker is overdue if nothing arrives first, or None when never."""
        if not self._receive_interval or self._last_received is None:
            return None
        if self._state is not State.CONNECTED and self._state is not State.DISCONNECTING:
            return None
        return self._last_received + self.peer_grace * self._receive_interval / 1000

    def peer_overdue(self, now: float) -> bool:
        """Whether nothing arrived for *peer_grace* times `receive_interval`."""
        deadline = self.peer_deadline
        return deadline is not None and now > deadline

    # -- helpers --------------------------------------------------------------------------

    def _fresh(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}-{self._counter}"

    def _require_connected(self, what: str) -> None:
        if self._state is not State.CONNECTED:
            raise LocalProtocolError(f"{what}() when the connection is {self._state.value}")

    def _merge(self, ours: list[tuple[str, str]], extra: ExtraHeaders) -> list[tuple[str, str]]:
        added = _pairs(extra)
        if added:
            taken = {name for name, _ in ours}
            for name, _ in added:
                if name in taken or name == "receipt":
                    raise LocalProtocolError(
                        f"header {name!r} is set by the connection; pass it as an argument"
                    )
            ours = ours + added
        return ours

    def _build(
        self,
        command: str,
        ours: list[tuple[str, str]],
        extra: ExtraHeaders,
        receipt: str | None,
        body: bytes = b"",
    ) -> Frame:
        headers = self._merge(ours, extra)
        if receipt is not None:
            if receipt in self._receipts:
                raise LocalProtocolError(f"receipt id {receipt!r} is already outstanding")
            headers.append(("receipt", receipt))
        # Encoded before the state changes: a frame that cannot be sent changes nothing.
        frame = self._encodable(Frame(command, headers, body))
        if receipt is not None:
            self._receipts[receipt] = command
        return frame

    def _add_transaction(self, ours: list[tuple[str, str]], transaction: str | None) -> None:
        if transaction is not None:
            if transaction not in self._transactions:
                raise LocalProtocolError(f"transaction {transaction!r} is not open")
            ours.append(("transaction", transaction))

    def _acknowledge(
        self,
        command: str,
        message: Frame | OversizedFrame,
        transaction: str | None,
        receipt: str | None,
    ) -> Frame:
        self._require_connected(command.lower())
        version = self._version
        if command == "NACK" and version == "1.0":
            raise LocalProtocolError("NACK does not exist in STOMP 1.0")
        if message.command != "MESSAGE":
            raise LocalProtocolError(f"{command} for a {message.command} frame, not a MESSAGE")
        subscription = message.get("subscription")
        known = self._subscriptions.get(subscription) if subscription is not None else None
        if known is not None and known.ack == "auto":
            raise LocalProtocolError(
                f"{command} for a message of subscription {subscription!r}, which uses ack:auto"
            )
        ours: list[tuple[str, str]]
        if version == "1.2":
            ack_id = message.get("ack")
            if ack_id is None:
                raise LocalProtocolError(f"{command}: the MESSAGE has no 'ack' header")
            ours = [("id", ack_id)]
        else:
            message_id = message.get("message-id")
            if message_id is None:
                raise LocalProtocolError(f"{command}: the MESSAGE has no 'message-id' header")
            ours = [("message-id", message_id)]
            if version == "1.1":
                if subscription is None:
                    raise LocalProtocolError(f"{command}: the MESSAGE has no 'subscription' header")
                ours.append(("subscription", subscription))
        self._add_transaction(ours, transaction)
        return self._build(command, ours, (), receipt)

    def _end_transaction(self, command: str, transaction: str, receipt: str | None) -> Frame:
        self._require_connected(command.lower())
        if transaction not in self._transactions:
            raise LocalProtocolError(f"transaction {transaction!r} is not open")
        frame = self._build(command, [("transaction", transaction)], (), receipt)
        self._transactions.discard(transaction)
        return frame
