"""The broker session's timing, against an in-memory broker double on trio's MockClock.

The double is a few lines of stompframe on the other end of a memory stream; the real broker
is exercised by the integration tests.
"""

from __future__ import annotations

import itertools

import pytest
import trio
import trio.testing

from plastrond.backoff import Backoff
from plastrond.broker.connection import BrokerConnection, BrokerError, ConnectionLost, Message
from plastrond.config import BrokerAddress
from stompframe import Frame, Heartbeat, OversizedFrame, Parser, encode

ADDRESS = BrokerAddress("broker.test", 61613)


class FakeBroker:
    """Answers CONNECT with CONNECTED and records what the client sends."""

    def __init__(self, stream: trio.abc.Stream, heartbeat: str = "1000,1000") -> None:
        self.stream = stream
        self.heartbeat = heartbeat
        self.parser = Parser("1.2")
        self.frames: list[Frame] = []
        self.heartbeats: list[float] = []

    async def serve(self, *, refuse: str | None = None) -> None:
        while True:
            try:
                data = await self.stream.receive_some(65536)
            except trio.ClosedResourceError:
                return  # the test closed our end
            if not data:
                return
            # A bare EOL is a heart-beat. (The parser cannot always tell: an EOL straight
            # after a frame's NUL is taken as that frame's trailing EOL.)
            if data.strip(b"\r\n") == b"":
                self.heartbeats.append(trio.current_time())
            for event in self.parser.feed(data):
                if isinstance(event, Heartbeat):
                    continue
                self.frames.append(event)
                if event.command == "CONNECT":
                    if refuse:
                        await self.send(Frame("ERROR", [("message", refuse)]))
                        continue
                    await self.send(
                        Frame("CONNECTED", [("version", "1.2"), ("heart-beat", self.heartbeat)])
                    )
                receipt = event.get("receipt")
                if receipt:
                    await self.send(Frame("RECEIPT", [("receipt-id", receipt)]))

    async def send(self, frame: Frame) -> None:
        await self.stream.send_all(encode(frame))


async def _session(nursery, heartbeat="1000,1000", client_hb=(1000, 1000)):
    client_end, broker_end = trio.testing.memory_stream_pair()
    broker = FakeBroker(broker_end, heartbeat)
    nursery.start_soon(broker.serve)
    conn = await BrokerConnection.handshake(
        client_end, ADDRESS, heartbeat=client_hb, client_id="plastrond/test"
    )
    return conn, broker


async def test_handshake_sends_connect_with_client_id_and_heartbeats(autojump_clock):
    async with trio.open_nursery() as nursery:
        conn, broker = await _session(nursery)
        connect = broker.frames[0]
        assert connect.command == "CONNECT"
        assert connect.get("accept-version") == "1.0,1.1,1.2"
        assert connect.get("host") == "broker.test"
        assert connect.get("client-id") == "plastrond/test"
        assert connect.get("heart-beat") == "1000,1000"
        assert conn.version == "1.2"
        nursery.cancel_scope.cancel()


async def test_refused_session_is_a_readable_error(autojump_clock):
    client_end, broker_end = trio.testing.memory_stream_pair()
    broker = FakeBroker(broker_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: broker.serve(refuse="Invalid client id"))
        with pytest.raises(BrokerError, match="refused the session: Invalid client id"):
            await BrokerConnection.handshake(client_end, ADDRESS)
        nursery.cancel_scope.cancel()


async def test_heartbeats_are_sent_when_nothing_else_is(autojump_clock):
    async with trio.open_nursery() as nursery:
        conn, broker = await _session(nursery)
        nursery.start_soon(conn.run)
        # Keep the broker audible so that the client does not give up on it.
        for _ in range(10):
            await trio.sleep(0.5)
            await broker.stream.send_all(b"\n")
        assert 4 <= len(broker.heartbeats) <= 6
        gaps = [b - a for a, b in itertools.pairwise(broker.heartbeats)]
        assert all(g == pytest.approx(1.0, abs=0.01) for g in gaps)
        nursery.cancel_scope.cancel()


async def test_silent_broker_is_dead_after_twice_the_interval(autojump_clock):
    async with trio.open_nursery() as nursery:
        conn, _broker = await _session(nursery, heartbeat="1000,1000")
        started = trio.current_time()
        with pytest.raises(ConnectionLost, match="heart-beats missed"):
            await conn.run()
        assert trio.current_time() - started == pytest.approx(2.0, abs=0.05)
        nursery.cancel_scope.cancel()


async def test_no_heartbeats_when_the_broker_offers_none(autojump_clock):
    async with trio.open_nursery() as nursery:
        conn, broker = await _session(nursery, heartbeat="0,0")
        nursery.start_soon(conn.run)
        await trio.sleep(3600)
        assert broker.heartbeats == []
        assert conn.is_open
        nursery.cancel_scope.cancel()


async def test_receipted_send_and_broker_closing(autojump_clock):
    async with trio.open_nursery() as nursery:
        conn, broker = await _session(nursery, heartbeat="0,0")
        lost: list[ConnectionLost] = []

        async def run_connection() -> None:
            try:
                await conn.run()
            except ConnectionLost as e:
                lost.append(e)

        nursery.start_soon(run_connection)
        await conn.send_and_confirm("/queue/x", b"body", [("PlastronJobId", "j")])
        sent = broker.frames[-1]
        assert sent.command == "SEND" and sent.get("PlastronJobId") == "j"
        assert sent.body == b"body"
        await broker.stream.aclose()
        await trio.sleep(0.1)
        assert not conn.is_open
        assert "broker.test:61613 closed the connection" in str(lost[0])
        # An ACK on a closed session is a quiet no-op: the broker redelivers.
        conn.ack(Frame("MESSAGE", [("ack", "1"), ("message-id", "1"), ("subscription", "0")]))
        nursery.cancel_scope.cancel()


def test_backoff_grows_caps_and_jitters():
    backoff = Backoff(initial=1.0, maximum=30.0, jitter=0.5)
    delays = list(itertools.islice(backoff.delays(), 10))
    for n, delay in enumerate(delays):
        ceiling = min(30.0, 2.0**n)
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 30.0 and delays[-1] >= 15.0
    assert len(set(delays)) == len(delays)  # jitter: attempts do not march in step
    assert next(backoff.delays()) <= 1.0  # a new series starts again from the first wait


def test_backoff_stays_at_its_cap_however_long_the_broker_stays_away():
    # About 17 hours of attempts 60 s apart: 2.0 ** 1100 would overflow a float.
    backoff = Backoff(initial=1.0, maximum=60.0, jitter=0.0)
    delays = list(itertools.islice(backoff.delays(), 5000))
    assert delays[:7] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0] and set(delays[6:]) == {60.0}


async def test_reconnect_schedule_on_mock_clock(autojump_clock):
    delays = Backoff(initial=0.5, maximum=4.0, jitter=0.5).delays()
    start = trio.current_time()
    for _ in range(6):
        await trio.sleep(next(delays))
    elapsed = trio.current_time() - start
    # 0.5 + 1 + 2 + 4 + 4 + 4 = 15.5 at most, half that at least.
    assert 15.5 / 2 <= elapsed <= 15.5


async def test_a_message_past_the_frame_limit_reaches_its_handler_and_the_session_goes_on(
    autojump_clock,
):
    # The body is dropped as it streams in; the handler gets its headers, first bytes and
    # size, and can acknowledge it; frames after it are read as usual.
    client_end, broker_end = trio.testing.memory_stream_pair()
    broker = FakeBroker(broker_end)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(broker.serve)
        conn = await BrokerConnection.handshake(client_end, ADDRESS, max_frame_bytes=4096)
        nursery.start_soon(conn.run)
        send, receive = trio.open_memory_channel[Message](10)
        sub = conn.subscribe("/queue/jobs", send)
        headers = [("subscription", sub), ("message-id", "m1"), ("ack", "a1")]
        await broker.stream.send_all(
            b"MESSAGE\n"
            + b"".join(b"%s:%s\n" % (k.encode(), v.encode()) for k, v in headers)
            + b"\n"
        )
        for _ in range(100):
            await broker.stream.send_all(b"x" * 1000)
        await broker.stream.send_all(b"\0\n")
        await broker.send(Frame("MESSAGE", [("subscription", sub), ("ack", "a2")], b"small"))
        big = await receive.receive()
        assert isinstance(big, OversizedFrame)
        assert big.size == 100_000
        assert big.body_prefix == b"x" * 4096
        conn.ack(big)
        small = await receive.receive()
        assert isinstance(small, Frame)
        assert (small.get("ack"), small.body) == ("a2", b"small")
        await trio.sleep(0.1)
        acks = [f for f in broker.frames if f.command == "ACK"]
        assert [f.get("id") for f in acks] == ["a1"]
        assert conn.is_open
        nursery.cancel_scope.cancel()
