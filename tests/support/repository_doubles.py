"""A small HTTP/1.1 server on loopback (trio + h11) that tests script, for what the real Fedoras
here cannot show: a JWT-checking front end, TLS client certificates, faults.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path

import attrs
import h11
import httpx
import trio

from plastrond.config import RepositoryConfig


@attrs.define
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    #: the client's certificate subject, when the double speaks TLS and the client sent one
    peer_subject: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@attrs.define
class Reply:
    status: int = 200
    headers: list[tuple[str, str]] = attrs.field(factory=list)
    body: bytes = b""


Handler = Callable[[Request], Awaitable[Reply]]


@attrs.define
class Double:
    base: str
    requests: list[Request]


async def _serve_one(stream: trio.abc.Stream, handler: Handler, seen: list[Request]) -> None:
    conn = h11.Connection(h11.SERVER)
    peer_subject = None
    if isinstance(stream, trio.SSLStream):
        try:
            await stream.do_handshake()
        except (trio.BrokenResourceError, ssl.SSLError):
            return
        cert = stream.getpeercert()
        if cert:
            subject = dict(pair[0] for pair in cert.get("subject", ()))
            peer_subject = str(subject.get("commonName"))

    async def next_event() -> h11.Event | type[h11.PAUSED] | type[h11.NEED_DATA]:
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                try:
                    data = await stream.receive_some(65536)
                except (trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError):
                    data = b""
                conn.receive_data(data)
                continue
            return event

    try:
        while True:
            event = await next_event()
            if not isinstance(event, h11.Request):
                return
            body = bytearray()
            while True:
                part = await next_event()
                if isinstance(part, h11.Data):
                    body += part.data
                elif isinstance(part, h11.EndOfMessage):
                    break
                else:
                    return
            request = Request(
                method=event.method.decode(),
                target=event.target.decode(),
                headers={k.decode().lower(): v.decode("latin-1") for k, v in event.headers},
                body=bytes(body),
                peer_subject=peer_subject,
            )
            seen.append(request)
            reply = await handler(request)
            headers = [*reply.headers, ("Content-Length", str(len(reply.body)))]
            out = conn.send(h11.Response(status_code=reply.status, headers=headers)) or b""
            if reply.body and request.method != "HEAD":
                out += conn.send(h11.Data(data=reply.body)) or b""
            out += conn.send(h11.EndOfMessage()) or b""
            await stream.send_all(out)
            if conn.our_state is h11.MUST_CLOSE or conn.their_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()
    except (trio.BrokenResourceError, trio.ClosedResourceError, h11.ProtocolError):
        return
    finally:
        await trio.aclose_forcefully(stream)


@asynccontextmanager
async def serve(
    handler: Handler, *, ssl_context: ssl.SSLContext | None = None
) -> AsyncIterator[Double]:
    """Run *handler* behind an HTTP server on 127.0.0.1 for the duration of the block."""
    seen: list[Request] = []

    async def on_connection(stream: trio.SocketStream) -> None:
        wrapped: trio.abc.Stream = stream
        if ssl_context is not None:
            wrapped = trio.SSLStream(stream, ssl_context, server_side=True)
        await _serve_one(wrapped, handler, seen)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        scheme = "https" if ssl_context is not None else "http"
        yield Double(base=f"{scheme}://127.0.0.1:{port}", requests=seen)
        nursery.cancel_scope.cancel()


def repo_config(rest_url: str, **overrides: object) -> RepositoryConfig:
    values: dict[str, object] = {
        "rest_endpoint": rest_url.rstrip("/"),
        "relpath": "/",
        "log_dir": Path("/tmp"),
        "timeout": 30.0,
    }
    values.update(overrides)
    return RepositoryConfig(**values)  # type: ignore[arg-type]


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to a real transport and notes (trio time, method, URL, headers)."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[float, str, str, httpx.Headers]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((trio.current_time(), request.method, str(request.url), request.headers))
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()
