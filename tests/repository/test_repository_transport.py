"""The client's own HTTP/1.1 transport (`_transport.H11Transport`) on what the real Fedoras do
not show on demand, against servers on loopback that misbehave as told: connections kept
alive and reused, a kept-alive connection the server closed, an answer sent before the body
was read, a server that never answers or is not there. (Everything else the transport does is
what every test against the real Fedoras does.)"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial

import h11
import pytest
import trio

from plastrond.repository import (
    RepositoryClient,
    RepositoryConnectionError,
    RepositoryHTTPError,
    RetryPolicy,
)
from plastrond.repository._transport import H11Transport
from tests.support.repository_doubles import repo_config

Serve = Callable[[trio.SocketStream, int], Awaitable[None]]


@asynccontextmanager
async def raw_server(serve_one: Serve) -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server on loopback; each connection is served by *serve_one(stream, n)*
    (n counts connections from 0). Yields the base URL and the list of connection numbers."""
    connections: list[int] = []

    async def on_connection(stream: trio.SocketStream) -> None:
        n = len(connections)
        connections.append(n)
        try:
            await serve_one(stream, n)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, on_connection, 0, host="127.0.0.1"))
        port = listeners[0].socket.getsockname()[1]
        yield f"http://127.0.0.1:{port}", connections
        nursery.cancel_scope.cancel()


async def read_request(stream: trio.SocketStream, conn: h11.Connection) -> bytes | None:
    """The next request's body (None when the client closed)."""
    body = b""
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.ConnectionClosed):
            return None
        if isinstance(event, h11.Data):
            body += event.data
        if isinstance(event, h11.EndOfMessage):
            return body


async def reply(stream: trio.SocketStream, conn: h11.Connection, status: int, body: bytes) -> None:
    headers = [("Content-Length", str(len(body))), ("Content-Type", "text/plain")]
    out = conn.send(h11.Response(status_code=status, headers=headers)) or b""
    out += (conn.send(h11.Data(data=body)) or b"") if body else b""
    out += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(out)


def client(base: str, **kwargs: object) -> RepositoryClient:
    config = repo_config(f"{base}/rest", timeout=kwargs.pop("timeout", 30.0))
    return RepositoryClient(config, retry=RetryPolicy(attempts=1), **kwargs)  # type: ignore[arg-type]


async def keep_alive_server(stream: trio.SocketStream, n: int, *, requests: int = 100) -> None:
    conn = h11.Connection(h11.SERVER)
    for _ in range(requests):
        if await read_request(stream, conn) is None:
            return
        await reply(stream, conn, 204, b"")
        conn.start_next_cycle()


async def test_the_default_transport_is_h11_and_keeps_connections_alive():
    async with raw_server(keep_alive_server) as (base, connections), client(base) as repo:
        assert isinstance(repo._shared.http._transport, H11Transport)
        for n in range(5):
            await repo.update(f"{base}/rest/a", f"INSERT DATA {{ <> <urn:p> {n} }}")
            assert await repo.exists(f"{base}/rest/a")
    assert connections == [0]  # ten requests, one connection


async def test_a_kept_alive_connection_the_server_closed_is_not_used_again():
    closing = partial(keep_alive_server, requests=1)
    async with raw_server(closing) as (base, connections), client(base) as repo:
        for _ in range(3):
            assert await repo.exists(f"{base}/rest/a")
            await trio.sleep(0.05)  # the server's close reaches the client
    assert connections == [0, 1, 2]


async def test_an_answer_sent_before_the_body_was_read_is_heard():
    async def refuse(stream: trio.SocketStream, n: int) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:  # only the head
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await stream.receive_some(65536))
            elif isinstance(event, h11.Request):
                break
        body = b"Checksum mismatch, too large anyway"
        out = conn.send(h11.Response(status_code=409, headers=[
            ("Content-Length", str(len(body))), ("Connection", "close")])) or b""  # fmt: skip
        await stream.send_all(out + (conn.send(h11.Data(data=body)) or b""))
        await trio.sleep(0.2)  # the client's send stalls, then meets the closed connection

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(64):  # 64 MiB, far more than the socket buffers hold
            yield b"x" * (1024 * 1024)

    async with raw_server(refuse) as (base, _), client(base) as repo:
        with pytest.raises(RepositoryHTTPError) as info:
            await repo.put_binary(
                f"{base}/rest/big",
                chunks(),
                filename="big.bin",
                mime_type="application/octet-stream",
                digest="sha-256=" + "0" * 64,
            )
    assert info.value.status == 409
    assert "Checksum mismatch" in info.value.reason


async def test_a_server_that_never_answers_times_out_as_before():
    async def silent(stream: trio.SocketStream, n: int) -> None:
        await trio.sleep_forever()

    async with raw_server(silent) as (base, _), client(base, timeout=0.3) as repo:
        with trio.fail_after(10):
            with pytest.raises(RepositoryConnectionError) as info:
                await repo.head(f"{base}/rest/a")
    assert str(info.value).endswith("no answer in time")


async def test_a_server_that_is_not_there_cannot_be_reached():
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there now
    async with client(f"http://127.0.0.1:{port}") as repo:
        with pytest.raises(RepositoryConnectionError) as info:
            await repo.head(f"http://127.0.0.1:{port}/rest/a")
    assert "cannot reach the repository" in str(info.value)


async def test_a_server_that_closes_without_answering_is_a_protocol_error():
    async def hang_up(stream: trio.SocketStream, n: int) -> None:
        await stream.receive_some(65536)

    async with raw_server(hang_up) as (base, _), client(base) as repo:
        with pytest.raises(RepositoryConnectionError) as info:
            await repo.head(f"{base}/rest/a")
    assert "Server disconnected without sending a response" in str(info.value)


async def test_the_pool_waits_for_a_free_connection_and_then_times_out():
    async with (
        raw_server(keep_alive_server) as (base, connections),
        client(base, timeout=0.3, max_connections=1) as repo,
    ):
        async with repo.open_binary(f"{base}/rest/a"):  # holds the one connection
            with pytest.raises(RepositoryConnectionError) as info:
                await repo.head(f"{base}/rest/b")
        assert await repo.exists(f"{base}/rest/b")  # free again once the stream is closed
    assert str(info.value).endswith("no free connection in time")
    assert connections == [0, 1]  # (the stream closed unread: its connection is not reused)
