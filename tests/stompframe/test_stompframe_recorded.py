"""Recorded sessions with a real ActiveMQ 5.17.2, decoded byte for byte (see data/README.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stompframe import ClientConnection, Event, Frame, Heartbeat, Parser, State

DATA = Path(__file__).parent / "data"
SESSION_12 = (DATA / "activemq-5.17.2-stomp12-session.bin").read_bytes()
SESSION_11 = (DATA / "activemq-5.17.2-stomp11-session.bin").read_bytes()


def frames_of(events: list[Event]) -> list[Frame]:
    return [e for e in events if isinstance(e, Frame)]


def decode(data: bytes) -> list[Event]:
    # Before CONNECTED nothing is agreed; the parser follows CONNECTED's version.
    return Parser("1.0").feed(data)


@pytest.mark.parametrize("session", [SESSION_12, SESSION_11], ids=["1.2", "1.1"])
def test_every_chunking_decodes_the_same(session: bytes) -> None:
    whole = decode(session)
    parser = Parser("1.0")
    one_by_one: list[Event] = []
    for i in range(len(session)):
        one_by_one += parser.feed(session[i : i + 1])
    assert one_by_one == whole
    for cut in range(0, len(session), 7):
        parser = Parser("1.0")
        assert parser.feed(session[:cut]) + parser.feed(session[cut:]) == whole


def test_stomp12_session() -> None:
    events = decode(SESSION_12)
    commands = [e.command if isinstance(e, Frame) else "heart-beat" for e in events]
    assert commands == [
        "CONNECTED",
        "RECEIPT",
        "RECEIPT",
        "MESSAGE",
        "RECEIPT",
        "MESSAGE",
        "RECEIPT",
        "RECEIPT",
        "heart-beat",
        "heart-beat",
        "heart-beat",
        "RECEIPT",
        "RECEIPT",
    ]
    connected, *_ = frames_of(events)
    assert connected.get("version") == "1.2"
    assert connected.get("heart-beat") == "1000,0"
    assert connected.get("server") == "ActiveMQ/5.17.2"
    # CONNECTED is never unescaped: its session id keeps raw colons
    assert (connected.get("session") or "").startswith("ID:vm-")

    first, second = (f for f in frames_of(events) if f.command == "MESSAGE")
    assert first.body == b"binary\0body\0with NULs"
    assert first.get("content-length") == "21"
    assert first.get("note") == "line one\nline two\\with backslash:colon\rcr"
    assert first.get("PlastronJobId") == "http://localhost:3000/import_jobs/7"
    assert first.get("subscription") == "sub-1"
    assert (first.get("ack") or "").startswith("ID:vm-")
    assert (first.get("message-id") or "").startswith("ID:vm-")
    assert first.get("message-id", "").endswith(":-1:1:1")
    assert second.body == "plain text body, café".encode()
    assert second.get("unicode") == "café ☃"
    assert second.get("content-type") == "text/plain"

    receipts = [f.get("receipt-id") for f in frames_of(events) if f.command == "RECEIPT"]
    assert receipts == [
        "r-sub",
        "r-send-1",
        "r-send-2",
        "r-ack-297",
        "r-ack-650",
        "r-unsub",
        "r-disc",
    ]


def test_stomp11_session() -> None:
    parser = Parser("1.0")
    events = parser.feed(SESSION_11)
    assert parser.version == "1.1"
    first, second = (f for f in frames_of(events) if f.command == "MESSAGE")
    assert first.get("note") == "line one\nline two\\with backslash:colon"
    assert first.body == b"binary\0body\0with NULs"
    assert second.get("unicode") == "café ☃"
    assert not any(isinstance(e, Heartbeat) for e in events)


def test_client_connection_replays_the_stomp12_session() -> None:
    """Drive a ClientConnection through the recorded broker side, making the frames the
    recording client made, and end CLOSED with no receipt outstanding."""
    events = decode(SESSION_12)
    queue = next(f.get("destination") for f in frames_of(events) if f.command == "MESSAGE")
    assert queue is not None
    conn = ClientConnection("localhost", heartbeat=(0, 1000))
    conn.connect()
    ack_receipts = iter(["r-ack-297", "r-ack-650"])
    acks = []
    now = 0.0
    # Replay in pieces the size of a typical read.
    parser_events: list[Event] = []
    for start in range(0, len(SESSION_12), 64):
        now += 0.1
        for event in conn.receive_data(SESSION_12[start : start + 64], now):
            parser_events.append(event)
            if not isinstance(event, Frame):
                continue
            if event.command == "CONNECTED":
                conn.subscribe(queue, id="sub-1", receipt="r-sub")
                conn.send(queue, b"binary\0body\0with NULs", receipt="r-send-1")
                conn.send(queue, b"text", receipt="r-send-2")
            elif event.command == "MESSAGE":
                acks.append(conn.ack(event, receipt=next(ack_receipts)))
            elif event.get("receipt-id") == "r-ack-650":
                conn.unsubscribe("sub-1", receipt="r-unsub")
                conn.disconnect(receipt="r-disc")
    assert parser_events == events
    assert conn.version == "1.2"
    assert (conn.send_interval, conn.receive_interval) == (0, 1000)
    assert conn.state is State.CLOSED
    assert conn.receipts_outstanding == {}
    assert [a.get("id") for a in acks] == [
        f.get("ack") for f in frames_of(events) if f.command == "MESSAGE"
    ]
