"""The client's HTTP/1.1 transport: h11 over trio streams, with a small pool of kept-alive
connections. It stands where httpx's default transport (httpcore, anyio) stood, and costs a
fraction of its CPU per request: one h11 connection per trio stream, no pool scan beyond the
idle connections of one origin, one deadline per read or write.

`H11Transport(ssl_context=..., max_connections=...)` (without a context: httpx's default one,
certifi's authorities) is an `httpx.AsyncBaseTransport`: the
client's `httpx.AsyncClient` still builds requests, applies authentication, follows redirects
and runs the metrics hooks; tests may pass any other transport (`httpx.MockTransport`) instead.

What it promises, as httpcore did:
- request bodies are streamed as httpx gives them (a file's chunks are never gathered), and
  response bodies as they arrive: nothing is held whole unless the caller reads it whole;
- the timeouts of `httpx.Timeout` (connect, read, write: each a deadline for one step; pool:
  the wait for a free connection) raise `ConnectTimeout`, `ReadTimeout`, `WriteTimeout`,
  `PoolTimeout`; a failure to connect raises `ConnectError`, one in mid-request `ReadError` or
  `WriteError`, a server that closes or breaks the protocol `RemoteProtocolError`: the same
  httpx exceptions as before, so the retry policy and the error messages are unchanged;
- a server that answers before it has read the whole body (and closes) is heard: a write
  error while sending is set aside and the answer read;
- a connection goes back to the pool only after a complete exchange, and is dropped when it has
  been idle longer than *keepalive_expiry* or the server closed it meanwhile.
"""

from __future__ import annotations

import math
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import h11
import httpx
import trio

__all__ = ["H11Transport"]

_READ_SIZE = 64 * 1024
_Origin = tuple[bytes, str, int]


_WRITE = "write"
_READ = "read"


class _Steps:
    """The deadline of one step of an exchange (a write or a read), kept in one cancel scope
    whose deadline each step moves: cheaper than a scope per step."""

    __slots__ = ("scope", "step")

    def __init__(self, scope: trio.CancelScope) -> None:
        self.scope = scope
        self.step = _WRITE

    def start(self, step: str, timeout: float | None) -> None:
        self.step = step
        self.scope.deadline = trio.current_time() + timeout if timeout is not None else math.inf


class _Connection:
    """One HTTP/1.1 connection: a trio stream and its h11 state."""

    __slots__ = ("h11", "idle_since", "origin", "stream")

    def __init__(self, origin: _Origin, stream: trio.abc.Stream) -> None:
        self.origin = origin
        self.stream = stream
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        """Whether this idle connection may carry another request: not idle too long, and
        the server has not closed it (an idle socket that is readable has met its end)."""
        if now - self.idle_since > expiry:
            return False
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        sock = getattr(stream, "socket", None)
        return sock is None or not sock.is_readable()

    async def send(self, data: bytes, steps: _Steps, timeout: float | None) -> None:
        steps.start(_WRITE, timeout)
        try:
            await self.stream.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
            raise httpx.WriteError(_text(e) or "connection lost while sending") from e

    async def next_event(self, steps: _Steps, timeout: float | None) -> Any:
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as e:
                raise httpx.RemoteProtocolError(str(e)) from e
            if event is not h11.NEED_DATA:
                return event
            steps.start(_READ, timeout)
            try:
                data = await self.stream.receive_some(_READ_SIZE)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as e:
                raise httpx.ReadError(_text(e) or "connection lost while reading") from e
            if not data and self.h11.their_state is h11.SEND_RESPONSE:
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            self.h11.receive_data(bytes(data))

    def close(self) -> None:
        """Close at once, without a TLS goodbye (it needs no await: safe anywhere, even as a
        generator is finalized)."""
        stream = self.stream
        if isinstance(stream, trio.SSLStream):
            stream = stream.transport_stream
        sock = getattr(stream, "socket", None)
        if sock is not None:
            sock.close()


class H11Transport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over trio with a pool of at most *max_connections* connections."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        max_connections: int = 20,
        keepalive_expiry: float = 5.0,
    ) -> None:
        self._ssl_context = ssl_context
        self._slots = trio.Semaphore(max_connections)
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._keepalive_expiry = keepalive_expiry
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        await self._acquire(timeouts.get("pool"))
        connection: _Connection | None = None
        try:
            connection = await self._connection(request.url, timeouts.get("connect"))
            head = await self._exchange(connection, request, timeouts)
        except BaseException:
            if connection is not None:
                connection.close()
            self._slots.release()
            raise
        return httpx.Response(
            head.status_code,
            headers=head.headers.raw_items(),
            stream=_Body(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()

    # -- connections -----------------------------------------------------------------------

    async def _acquire(self, timeout: float | None) -> None:
        if self._closed:
            raise RuntimeError("the transport is closed")
        with _deadline(timeout) as scope:
            await self._slots.acquire()
        if scope.cancelled_caught:
            raise httpx.PoolTimeout("no free connection in time")

    async def _connection(self, url: httpx.URL, timeout: float | None) -> _Connection:
        scheme = url.raw_scheme
        port = url.port or (443 if scheme == b"https" else 80)
        origin = (scheme, url.host, port)
        idle = self._idle.get(origin)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if connection.reusable(now, self._keepalive_expiry):
                return connection
            connection.close()
        return _Connection(origin, await self._connect(origin, timeout))

    async def _connect(self, origin: _Origin, timeout: float | None) -> trio.abc.Stream:
        scheme, host, port = origin
        with _deadline(timeout) as scope:
            try:
                stream: trio.abc.Stream = await trio.open_tcp_stream(host, port)
                if scheme == b"https":
                    if self._ssl_context is None:  # httpx's defaults, made once when needed
                        self._ssl_context = httpx.create_ssl_context()
                    context = self._ssl_context
                    tls = trio.SSLStream(
                        stream, context, server_hostname=host, https_compatible=True
                    )
                    try:
                        await tls.do_handshake()
                    except BaseException:
                        _Connection(origin, stream).close()
                        raise
                    stream = tls
                return stream
            except (OSError, trio.BrokenResourceError, ssl.SSLError) as e:
                raise httpx.ConnectError(_text(e) or f"cannot connect to {host}:{port}") from e
        assert scope.cancelled_caught
        raise httpx.ConnectTimeout("connection timed out")

    def _release(self, connection: _Connection, reuse: bool) -> None:
        """Give *connection* back (idle, when *reuse*) and free its slot."""
        self._slots.release()
        if reuse and not self._closed:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.origin, []).append(connection)

    # -- one exchange ----------------------------------------------------------------------

    async def _exchange(
        self, connection: _Connection, request: httpx.Request, timeouts: dict[str, Any]
    ) -> h11.Response:
        """Send *request* on *connection*; the head of its answer. One cancel scope serves
        every step: each write or read moves its deadline (`_Steps`)."""
        with trio.CancelScope() as scope:
            steps = _Steps(scope)
            return await self._send_and_receive(connection, request, timeouts, steps)
        if steps.step is _WRITE:
            raise httpx.WriteTimeout("sending timed out")
        raise httpx.ReadTimeout("no answer in time")

    async def _send_and_receive(
        self,
        connection: _Connection,
        request: httpx.Request,
        timeouts: dict[str, Any],
        steps: _Steps,
    ) -> h11.Response:
        write, read = timeouts.get("write"), timeouts.get("read")
        state = connection.h11
        try:
            head = state.send(
                h11.Request(
                    method=request.method, target=request.url.raw_path, headers=request.headers.raw
                )
            )
        except h11.LocalProtocolError as e:
            raise httpx.LocalProtocolError(str(e)) from e
        try:
            if isinstance(request.stream, httpx.ByteStream):  # bytes: sent with the head
                body = b"".join(request.stream)
                data = head + (state.send(h11.Data(data=body)) if body else b"")
                await connection.send(data + state.send(h11.EndOfMessage()), steps, write)
            else:
                await connection.send(head, steps, write)
                async for chunk in _chunks(request.stream):
                    await connection.send(state.send(h11.Data(data=chunk)), steps, write)
                await connection.send(state.send(h11.EndOfMessage()), steps, write)
        except httpx.WriteError as e:
            # The server may have answered (a 4xx) and closed before reading the whole body:
            # its answer says more than the broken pipe.
            try:
                return await _head(connection, steps, read)
            except httpx.TransportError:
                raise e from None
        return await _head(connection, steps, read)


class _Body(httpx.AsyncByteStream):
    """A response's body as it arrives; closing it returns or drops the connection."""

    def __init__(
        self, transport: H11Transport, connection: _Connection, timeout: float | None
    ) -> None:
        self._transport = transport
        self._connection: _Connection | None = connection
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        if connection is None:
            return
        try:
            while True:
                with trio.CancelScope() as scope:
                    event = await connection.next_event(_Steps(scope), self._timeout)
                if scope.cancelled_caught:
                    raise httpx.ReadTimeout("no answer in time")
                if isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    break
        finally:
            self._finish()

    async def aclose(self) -> None:
        self._finish()

    def _finish(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None:
            return
        state = connection.h11
        reuse = state.our_state is h11.DONE and state.their_state is h11.DONE
        if reuse:
            try:
                state.start_next_cycle()
            except h11.LocalProtocolError:
                reuse = False
        self._transport._release(connection, reuse)
        if not reuse:
            connection.close()


async def _head(connection: _Connection, steps: _Steps, timeout: float | None) -> h11.Response:
    while True:
        event = await connection.next_event(steps, timeout)
        if isinstance(event, h11.Response):
            return event
        if isinstance(event, h11.ConnectionClosed):
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")


async def _chunks(stream: httpx.SyncByteStream | httpx.AsyncByteStream) -> AsyncIterator[bytes]:
    if isinstance(stream, httpx.AsyncByteStream):
        async for chunk in stream:
            if chunk:
                yield chunk
    else:  # pragma: no cover - httpx gives an async client async streams
        _sync_stream(stream)


def _sync_stream(stream: object) -> NoReturn:
    raise TypeError(f"a synchronous request body ({type(stream).__name__}) in an async client")


def _deadline(timeout: float | None) -> trio.CancelScope:
    return trio.move_on_after(timeout) if timeout is not None else trio.CancelScope()


def _text(e: BaseException) -> str:
    return str(e) or (str(e.__cause__) if e.__cause__ else "")
