"""stompframe against the real ActiveMQ: ClientConnection and its Parser over a plain socket.

Each test opens its own socket to the broker of the session `activemq` fixture, uses a queue
of its own, and bounds every wait.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from stompframe import ClientConnection, Event, Frame, Heartbeat, State

pytestmark = pytest.mark.integration

TIMEOUT = 20.0


class Session:
    """A ClientConnection over a blocking socket, pumped until a condition holds."""

    def __init__(self, host: str, port: int, conn: ClientConnection) -> None:
        self.conn = conn
        self.sock = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock.settimeout(0.05)
        self.events: list[Event] = []
        self.bytes_received = 0

    def send(self, event: Frame | Heartbeat) -> None:
        self.sock.sendall(self.conn.encode(event))
        self.conn.note_sent(time.monotonic())

    def pump(self, until: Callable[[], bool], timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            now = time.monotonic()
            assert now < deadline, f"timed out; state {self.conn.state}, got {self.events}"
            assert not self.conn.peer_overdue(now), "the broker stopped sending heart-beats"
            if self.conn.heartbeat_due(now):
                self.send(Heartbeat())
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            assert data, "the broker closed the connection"
            self.bytes_received += len(data)
            self.events += self.conn.receive_data(data, time.monotonic())

    def frames(self, command: str) -> list[Frame]:
        return [e for e in self.events if isinstance(e, Frame) and e.command == command]

    def receipt_arrived(self, receipt: str) -> Callable[[], bool]:
        return lambda: receipt not in self.conn.receipts_outstanding

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def session(activemq) -> Iterator[Callable[..., Session]]:  # type: ignore[no-untyped-def]
    opened: list[Session] = []

    def open_session(**kw: object) -> Session:
        conn = ClientConnection("localhost", **kw)  # type: ignore[arg-type]
        s = Session(activemq.host, activemq.port, conn)
        opened.append(s)
        s.send(conn.connect())
        s.pump(lambda: conn.state is not State.CONNECTING)
        assert conn.state is State.CONNECTED, conn.error_frame
        return s

    yield open_session
    for s in opened:
        s.close()


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_connect_subscribe_send_receive_ack_disconnect(
    session: Callable[..., Session], version: str
) -> None:
    heartbeat = (0, 0) if version == "1.0" else (500, 500)
    s = session(heartbeat=heartbeat, accept_versions=(version,))
    conn = s.conn
    assert conn.version == version
    queue = f"/queue/stompframe.it.{uuid.uuid4().hex}"
    ack_mode = "client" if version == "1.0" else "client-individual"

    s.send(conn.subscribe(queue, id="sub-1", ack=ack_mode, receipt="r-sub"))
    s.pump(s.receipt_arrived("r-sub"))

    note = "two\nlines, a back\\slash and a colon: here" if version != "1.0" else "colon: ok"
    body = b"binary\0body with a NUL, " + "café".encode()
    s.send(
        conn.send(
            queue,
            body,
            headers=[("PlastronJobId", "http://localhost:3000/import_jobs/1"), ("note", note)],
            receipt="r-send",
        )
    )
    s.pump(lambda: bool(s.frames("MESSAGE")) and "r-send" not in conn.receipts_outstanding)
    [message] = s.frames("MESSAGE")
    assert message.body == body
    assert message.get("note") == note
    assert message.get("PlastronJobId") == "http://localhost:3000/import_jobs/1"
    assert message.get("destination") == queue

    s.send(conn.ack(message, receipt="r-ack"))
    s.pump(s.receipt_arrived("r-ack"))

    s.send(conn.disconnect(receipt="r-disc"))
    s.pump(lambda: conn.state is State.CLOSED)
    assert conn.receipts_outstanding == {}
    assert not s.frames("ERROR")


def test_heartbeats_are_negotiated_and_kept(session: Callable[..., Session]) -> None:
    # One second, and three intervals of grace: a broker on a loaded CI machine (or in a GC
    # pause) may be late by more than one 300 ms beat without being dead.
    s = session(heartbeat=(1000, 1000), peer_grace=3.0)
    conn = s.conn
    assert conn.version == "1.2"
    assert conn.send_interval >= 1000 and conn.receive_interval >= 1000
    start = time.monotonic()
    received_before = s.bytes_received
    # Idle for a few receive intervals: the pump sends our heart-beats when due and checks
    # that the broker's keep arriving (peer_overdue would fail the test).
    s.pump(lambda: time.monotonic() - start > 4 * conn.receive_interval / 1000 + 0.5)
    assert s.bytes_received > received_before
    assert any(isinstance(e, Heartbeat) for e in s.events)
    assert conn.state is State.CONNECTED
    s.send(conn.disconnect(receipt="bye"))
    s.pump(lambda: conn.state is State.CLOSED)


def test_a_large_message_arrives_in_many_reads(session: Callable[..., Session]) -> None:
    s = session()
    conn = s.conn
    queue = f"/queue/stompframe.it.{uuid.uuid4().hex}"
    s.send(conn.subscribe(queue, ack="auto"))
    body = bytes(range(256)) * 8192  # 2 MiB, NULs included
    s.send(conn.send(queue, body, receipt="r-big"))
    s.pump(lambda: bool(s.frames("MESSAGE")))
    [message] = s.frames("MESSAGE")
    assert message.body == body
    s.send(conn.disconnect(receipt="bye"))
    s.pump(lambda: conn.state is State.CLOSED)


def test_an_error_frame_from_the_broker(session: Callable[..., Session]) -> None:
    s = session()
    conn = s.conn
    # An ACK for a message the broker never sent is an error for ActiveMQ.
    fake = Frame("MESSAGE", [("ack", "no-such-message"), ("subscription", "none")])
    s.send(conn.ack(fake, receipt="r-bad"))
    s.pump(lambda: conn.state is State.ERRORED)
    assert conn.error_frame is not None
    assert conn.error_frame.get("message")
