"""ClientConnection: the client state machine, driven by frames, bytes and times. No I/O."""

from __future__ import annotations

import pytest

from stompframe import (
    ClientConnection,
    Frame,
    Heartbeat,
    LocalProtocolError,
    Parser,
    ProtocolError,
    State,
    Subscription,
    encode,
)


def connected(
    version: str = "1.2",
    *,
    heartbeat: tuple[int, int] = (0, 0),
    server_heartbeat: str | None = None,
    now: float = 0.0,
    **kw: object,
) -> ClientConnection:
    conn = ClientConnection("broker", heartbeat=heartbeat, **kw)  # type: ignore[arg-type]
    conn.connect()
    headers = [("version", version)] if version != "1.0" else []
    if server_heartbeat is not None:
        headers.append(("heart-beat", server_heartbeat))
    conn.receive(Frame("CONNECTED", headers), now)
    assert conn.state is State.CONNECTED
    return conn


def message(**headers: str) -> Frame:
    return Frame("MESSAGE", [(k.replace("_", "-"), v) for k, v in headers.items()], b"job")


# -- connecting ---------------------------------------------------------------------------


def test_connect_frame() -> None:
    conn = ClientConnection("vhost", login="me", passcode="secret", heartbeat=(5000, 10000))
    assert conn.state is State.IDLE
    frame = conn.connect(headers=[("client-id", "c1")])
    assert frame == Frame(
        "CONNECT",
        [
            ("accept-version", "1.0,1.1,1.2"),
            ("host", "vhost"),
            ("login", "me"),
            ("passcode", "secret"),
            ("heart-beat", "5000,10000"),
            ("client-id", "c1"),
        ],
    )
    assert conn.state is State.CONNECTING
    assert conn.version is None


def test_connect_with_the_stomp_command_and_only_stomp10() -> None:
    conn = ClientConnection("h", accept_versions=("1.0",))
    assert conn.connect(stomp_command=True) == Frame(
        "STOMP", [("accept-version", "1.0"), ("host", "h")]
    )


def test_connect_twice_is_refused() -> None:
    conn = ClientConnection("h")
    conn.connect()
    with pytest.raises(LocalProtocolError, match="connecting"):
        conn.connect()


def test_constructor_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="heartbeat"):
        ClientConnection("h", heartbeat=(-1, 0))
    with pytest.raises(ValueError, match="accept_versions"):
        ClientConnection("h", accept_versions=("1.3",))
    with pytest.raises(ValueError, match="accept_versions"):
        ClientConnection("h", accept_versions=())
    with pytest.raises(ValueError, match="peer_grace"):
        ClientConnection("h", peer_grace=0.5)


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_connected_gives_the_negotiated_version(version: str) -> None:
    conn = connected(version)
    assert conn.version == version
    assert conn.parser.version == version
    assert conn.connected_frame is not None


def test_a_version_the_client_did_not_accept_is_an_error() -> None:
    conn = ClientConnection("h", accept_versions=("1.1", "1.2"))
    conn.connect()
    with pytest.raises(ProtocolError, match="did not accept"):
        conn.receive(Frame("CONNECTED"), 0.0)  # no version header: 1.0
    assert conn.state is State.ERRORED


@pytest.mark.parametrize(
    ("client", "server", "send", "receive"),
    [
        ((0, 0), "0,0", 0, 0),
        ((1000, 2000), "0,0", 0, 0),
        ((0, 0), "3000,4000", 0, 0),
        ((1000, 2000), "3000,4000", 4000, 3000),
        ((5000, 6000), "3000,4000", 5000, 6000),
        ((1000, 0), "3000,4000", 4000, 0),
        ((0, 2000), "3000,4000", 0, 3000),
        ((1000, 2000), "0,4000", 4000, 0),
        ((1000, 2000), "3000,0", 0, 3000),
        ((1000, 2000), " 3000 , 4000 ", 4000, 3000),
    ],
)
def test_heartbeat_intervals_follow_the_spec_rule(
    client: tuple[int, int], server: str, send: int, receive: int
) -> None:
    conn = connected(heartbeat=client, server_heartbeat=server)
    assert (conn.send_interval, conn.receive_interval) == (send, receive)


def test_no_heartbeats_in_stomp10() -> None:
    conn = ClientConnection("h", heartbeat=(1000, 1000))
    conn.connect()
    conn.receive(Frame("CONNECTED", [("heart-beat", "1000,1000")]), 0.0)
    assert conn.version == "1.0"
    assert (conn.send_interval, conn.receive_interval) == (0, 0)


@pytest.mark.parametrize("value", ["", "1000", "a,b", "-1,0", "1,2,3"])
def test_a_bad_heart_beat_header_is_an_error(value: str) -> None:
    conn = ClientConnection("h", heartbeat=(1000, 1000))
    conn.connect()
    with pytest.raises(ProtocolError, match="heart-beat"):
        conn.receive(Frame("CONNECTED", [("version", "1.2"), ("heart-beat", value)]), 0.0)


def test_frames_before_connected_are_errors() -> None:
    conn = ClientConnection("h")
    with pytest.raises(ProtocolError, match="before CONNECT"):
        conn.receive(Frame("CONNECTED"), 0.0)
    conn = ClientConnection("h")
    conn.connect()
    with pytest.raises(ProtocolError, match="before CONNECTED"):
        conn.receive(Frame("MESSAGE"), 0.0)
    assert conn.state is State.ERRORED


def test_connected_twice_is_an_error() -> None:
    conn = connected()
    with pytest.raises(ProtocolError, match="twice"):
        conn.receive(Frame("CONNECTED", [("version", "1.2")]), 1.0)


def test_a_command_brokers_do_not_send_is_an_error() -> None:
    conn = connected()
    with pytest.raises(ProtocolError, match="SEND"):
        conn.receive(Frame("SEND"), 1.0)
    assert conn.state is State.ERRORED


def test_an_error_frame_at_login() -> None:
    conn = ClientConnection("h")
    conn.connect()
    [error] = conn.receive_data(b"ERROR\nmessage:bad login\\c no\n\nsorry\0\n", 1.0)
    assert isinstance(error, Frame)
    assert conn.state is State.ERRORED
    assert conn.error_frame == error
    # nothing is agreed before CONNECTED, so headers are taken verbatim
    assert error.get("message") == "bad login\\c no"


# -- receive_data and the parser ------------------------------------------------------------


def test_receive_data_switches_the_parser_inside_one_piece() -> None:
    conn = ClientConnection("h")
    conn.connect()
    data = (
        b"CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0\n"
        b"MESSAGE\nsubscription:s\nmessage-id:m\nack:a\\c1\nk:x\\ry\n\nbody\0\n"
    )
    events = conn.receive_data(data, 1.0)
    assert conn.version == "1.2"
    assert events[1] == Frame(
        "MESSAGE",
        [("subscription", "s"), ("message-id", "m"), ("ack", "a:1"), ("k", "x\ry")],
        b"body",
    )


def test_receive_data_uses_the_parser_it_was_given() -> None:
    parser = Parser("1.2", max_frame_bytes=100)
    conn = ClientConnection("h", parser=parser)
    assert conn.parser is parser and parser.version == "1.0"
    conn.connect()
    with pytest.raises(ProtocolError):
        conn.receive_data(b"CONNECTED\n\n" + b"x" * 200, 0.0)
    assert conn.state is State.ERRORED


def test_heartbeat_events_change_nothing_but_the_clock() -> None:
    conn = connected(heartbeat=(0, 1000), server_heartbeat="1000,0")
    assert conn.receive(Heartbeat(), 5.0) == Heartbeat()
    assert conn.state is State.CONNECTED
    assert conn.peer_deadline == 7.0


# -- subscriptions, sending, acknowledging -------------------------------------------------


def test_subscribe_and_unsubscribe() -> None:
    conn = connected()
    frame = conn.subscribe("/queue/jobs", headers={"activemq.prefetchSize": "1"})
    sub_id = frame.get("id")
    assert sub_id is not None
    assert frame == Frame(
        "SUBSCRIBE",
        [
            ("destination", "/queue/jobs"),
            ("id", sub_id),
            ("ack", "client-individual"),
            ("activemq.prefetchSize", "1"),
        ],
    )
    assert conn.subscriptions == {sub_id: Subscription(sub_id, "/queue/jobs", "client-individual")}
    assert conn.unsubscribe(sub_id) == Frame("UNSUBSCRIBE", [("id", sub_id)])
    assert conn.subscriptions == {}


def test_subscription_ids_are_fresh_and_unique() -> None:
    conn = connected()
    a = conn.subscribe("/q").get("id")
    b = conn.subscribe("/q").get("id")
    assert a != b
    conn.subscribe("/q", id="mine", ack="auto")
    with pytest.raises(LocalProtocolError, match="already in use"):
        conn.subscribe("/q", id="mine")
    with pytest.raises(LocalProtocolError, match="no subscription"):
        conn.unsubscribe("other")


def test_subscribe_checks_the_ack_mode() -> None:
    with pytest.raises(LocalProtocolError, match="unknown ack mode"):
        connected().subscribe("/q", ack="sometimes")
    with pytest.raises(LocalProtocolError, match=r"needs STOMP 1\.1"):
        connected("1.0").subscribe("/q")
    assert connected("1.0").subscribe("/q", ack="client").get("ack") == "client"


def test_headers_the_connection_sets_cannot_be_passed_as_extras() -> None:
    conn = connected()
    with pytest.raises(LocalProtocolError, match="destination"):
        conn.send("/q", b"", headers=[("destination", "/other")])
    with pytest.raises(LocalProtocolError, match="receipt"):
        conn.send("/q", b"", headers=[("receipt", "r")])


def test_send() -> None:
    conn = connected()
    frame = conn.send(
        "/queue/out", b"{}", headers=[("x", "1")], content_type="application/json", receipt="r1"
    )
    assert frame == Frame(
        "SEND",
        [
            ("destination", "/queue/out"),
            ("content-type", "application/json"),
            ("x", "1"),
            ("receipt", "r1"),
        ],
        b"{}",
    )
    assert conn.receipts_outstanding == {"r1": "SEND"}


def test_sending_before_connected_or_after_disconnect_is_refused() -> None:
    conn = ClientConnection("h")
    with pytest.raises(LocalProtocolError, match="idle"):
        conn.send("/q", b"")
    conn.connect()
    with pytest.raises(LocalProtocolError, match="connecting"):
        conn.subscribe("/q")
    conn = connected()
    conn.disconnect()
    with pytest.raises(LocalProtocolError, match="closed"):
        conn.send("/q", b"")


def test_ack_and_nack_in_stomp12_use_the_ack_header() -> None:
    conn = connected("1.2")
    sub = conn.subscribe("/q").get("id")
    assert sub is not None
    msg = message(subscription=sub, message_id="m1", ack="a1")
    assert conn.ack(msg) == Frame("ACK", [("id", "a1")])
    assert conn.nack(msg, receipt="r") == Frame("NACK", [("id", "a1"), ("receipt", "r")])


def test_ack_and_nack_in_stomp11_use_message_id_and_subscription() -> None:
    conn = connected("1.1")
    msg = message(subscription="s1", message_id="m1", ack="a1")
    assert conn.ack(msg) == Frame("ACK", [("message-id", "m1"), ("subscription", "s1")])
    assert conn.nack(msg) == Frame("NACK", [("message-id", "m1"), ("subscription", "s1")])


def test_ack_in_stomp10_uses_message_id_and_there_is_no_nack() -> None:
    conn = connected("1.0")
    msg = message(message_id="m1")
    assert conn.ack(msg) == Frame("ACK", [("message-id", "m1")])
    with pytest.raises(LocalProtocolError, match="NACK"):
        conn.nack(msg)


def test_ack_needs_the_headers_of_its_version() -> None:
    with pytest.raises(LocalProtocolError, match="'ack'"):
        connected("1.2").ack(message(subscription="s", message_id="m"))
    with pytest.raises(LocalProtocolError, match="'subscription'"):
        connected("1.1").ack(message(message_id="m"))
    with pytest.raises(LocalProtocolError, match="'message-id'"):
        connected("1.0").ack(message(subscription="s"))
    with pytest.raises(LocalProtocolError, match="not a MESSAGE"):
        connected().ack(Frame("RECEIPT"))


def test_acking_a_message_of_an_auto_subscription_is_refused() -> None:
    conn = connected()
    conn.subscribe("/q", id="s", ack="auto")
    with pytest.raises(LocalProtocolError, match="ack:auto"):
        conn.ack(message(subscription="s", message_id="m", ack="a"))


def test_transactions() -> None:
    conn = connected()
    begin = conn.begin()
    tx = begin.get("transaction")
    assert tx is not None and conn.transactions == {tx}
    assert conn.send("/q", b"x", transaction=tx).get("transaction") == tx
    msg = message(subscription="s", message_id="m", ack="a")
    assert conn.ack(msg, transaction=tx) == Frame("ACK", [("id", "a"), ("transaction", tx)])
    assert conn.commit(tx) == Frame("COMMIT", [("transaction", tx)])
    assert conn.transactions == frozenset()
    with pytest.raises(LocalProtocolError, match="not open"):
        conn.abort(tx)
    with pytest.raises(LocalProtocolError, match="not open"):
        conn.send("/q", b"x", transaction=tx)
    conn.begin("t2")
    with pytest.raises(LocalProtocolError, match="already open"):
        conn.begin("t2")
    assert conn.abort("t2", receipt="r") == Frame(
        "ABORT", [("transaction", "t2"), ("receipt", "r")]
    )


# -- receipts, errors, disconnecting --------------------------------------------------------


def test_receipts_are_tracked_until_they_arrive() -> None:
    conn = connected()
    conn.send("/q", b"", receipt="r1")
    conn.subscribe("/q", receipt="r2")
    assert dict(conn.receipts_outstanding) == {"r1": "SEND", "r2": "SUBSCRIBE"}
    conn.receive(Frame("RECEIPT", [("receipt-id", "r1")]), 1.0)
    assert dict(conn.receipts_outstanding) == {"r2": "SUBSCRIBE"}


def test_a_receipt_id_cannot_be_outstanding_twice() -> None:
    conn = connected()
    conn.send("/q", b"", receipt="r1")
    with pytest.raises(LocalProtocolError, match="already outstanding"):
        conn.send("/q", b"", receipt="r1")
    with pytest.raises(LocalProtocolError, match="already outstanding"):
        conn.expect_receipt("r1")


def test_an_unknown_receipt_is_a_protocol_error() -> None:
    conn = connected()
    with pytest.raises(ProtocolError, match="not asked for"):
        conn.receive(Frame("RECEIPT", [("receipt-id", "nope")]), 1.0)
    assert conn.state is State.ERRORED


def test_a_receipt_asked_for_by_hand_is_accepted() -> None:
    conn = connected()
    conn.expect_receipt("manual", "SEND")
    conn.receive(Frame("RECEIPT", [("receipt-id", "manual")]), 1.0)
    assert conn.state is State.CONNECTED


def test_a_receipt_without_id_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="receipt-id"):
        connected().receive(Frame("RECEIPT"), 1.0)


def test_an_error_frame_moves_to_errored() -> None:
    conn = connected()
    conn.send("/q", b"", receipt="r1")
    error = Frame("ERROR", [("message", "malformed"), ("receipt-id", "r1")], b"details")
    assert conn.receive(error, 1.0) is error
    assert conn.state is State.ERRORED
    assert conn.error_frame is error
    assert conn.receipts_outstanding == {}
    assert conn.receive(Heartbeat(), 2.0) == Heartbeat()
    with pytest.raises(ProtocolError, match="errored"):
        conn.receive(Frame("MESSAGE"), 2.0)
    with pytest.raises(LocalProtocolError, match="errored"):
        conn.send("/q", b"")


def test_disconnect_with_a_receipt_waits_for_it() -> None:
    conn = connected()
    assert conn.disconnect(receipt="bye") == Frame("DISCONNECT", [("receipt", "bye")])
    assert conn.state is State.DISCONNECTING
    # messages already on their way may still arrive
    conn.receive(message(subscription="s", message_id="m"), 1.0)
    conn.receive(Frame("RECEIPT", [("receipt-id", "bye")]), 1.0)
    assert conn.state is State.CLOSED
    with pytest.raises(ProtocolError, match="closed"):
        conn.receive(Frame("MESSAGE"), 2.0)


def test_disconnect_without_a_receipt_closes_at_once() -> None:
    conn = connected()
    assert conn.disconnect() == Frame("DISCONNECT")
    assert conn.state is State.CLOSED


def test_a_parse_error_in_receive_data_moves_to_errored() -> None:
    conn = connected()
    with pytest.raises(ProtocolError):
        conn.receive_data(b"MESSAGE\nno colon\n\n\0", 1.0)
    assert conn.state is State.ERRORED


def test_an_error_frame_before_garbage_is_kept() -> None:
    conn = connected()
    with pytest.raises(ProtocolError, match="without ':'"):
        conn.receive_data(b"ERROR\nmessage:going away\n\n\0\nJUNK\nno colon\n\n\0", 1.0)
    assert conn.state is State.ERRORED
    assert conn.error_frame == Frame("ERROR", [("message", "going away")])


def test_encode_uses_the_negotiated_version() -> None:
    conn = ClientConnection("h")
    assert conn.encode(conn.connect()).startswith(b"CONNECT\n")
    conn.receive(Frame("CONNECTED", [("version", "1.1")]), 0.0)
    with pytest.raises(LocalProtocolError):  # 1.1 cannot write a value ending in CR
        conn.send("/q", b"", headers=[("k", "a:b\r")], receipt=None)
    with pytest.raises(LocalProtocolError):
        conn.encode(Frame("SEND", [("destination", "/q"), ("k", "a:b\r")]))
    assert conn.encode(Frame("SEND", [("k", "a:b")])) == encode(
        Frame("SEND", [("k", "a:b")]), "1.1"
    )
    assert conn.encode(Heartbeat()) == b"\n"


# -- heart-beat timing -------------------------------------------------------------------


def test_heartbeat_due_after_the_send_interval() -> None:
    conn = connected(heartbeat=(1000, 0), server_heartbeat="0,1000", now=10.0)
    assert conn.next_heartbeat_deadline == 11.0
    assert not conn.heartbeat_due(10.5)
    assert conn.heartbeat_due(11.0)
    conn.note_sent(10.8)
    assert conn.next_heartbeat_deadline == pytest.approx(11.8)
    assert not conn.heartbeat_due(11.5)
    assert conn.heartbeat_due(11.8)


def test_no_heartbeat_deadline_without_a_send_interval() -> None:
    conn = connected(heartbeat=(0, 1000), server_heartbeat="1000,1000")
    assert conn.next_heartbeat_deadline is None
    assert not conn.heartbeat_due(1e9)
    idle = ClientConnection("h", heartbeat=(1000, 1000))
    assert idle.next_heartbeat_deadline is None and idle.peer_deadline is None


def test_peer_overdue_after_twice_the_receive_interval() -> None:
    conn = connected(heartbeat=(0, 1000), server_heartbeat="2000,0", now=100.0)
    assert conn.receive_interval == 2000
    assert conn.peer_deadline == 104.0
    assert not conn.peer_overdue(104.0)
    assert conn.peer_overdue(104.01)
    conn.receive_data(b"\n", 103.0)  # any bytes count
    assert not conn.peer_overdue(106.5)
    conn.note_received(106.0)
    assert conn.peer_deadline == 110.0


def test_the_peer_grace_is_a_parameter() -> None:
    conn = connected(heartbeat=(0, 1000), server_heartbeat="1000,0", now=0.0, peer_grace=1.5)
    assert conn.peer_deadline == 1.5
    assert conn.peer_overdue(1.6)


def test_no_heartbeat_deadlines_after_closing() -> None:
    conn = connected(heartbeat=(1000, 1000), server_heartbeat="1000,1000")
    conn.disconnect(receipt="bye")
    assert conn.next_heartbeat_deadline is not None  # still connected until the receipt
    conn.receive(Frame("RECEIPT", [("receipt-id", "bye")]), 0.5)
    assert conn.next_heartbeat_deadline is None
    assert conn.peer_deadline is None
    assert not conn.peer_overdue(100.0)


# -- a frame that cannot be encoded changes nothing ------------------------------------------


def _snapshot(conn: ClientConnection) -> tuple[object, ...]:
    return (
        conn.state,
        dict(conn.subscriptions),
        dict(conn.receipts_outstanding),
        conn.transactions,
    )


def test_a_connect_that_cannot_be_encoded_leaves_the_connection_idle() -> None:
    conn = ClientConnection("broker")
    with pytest.raises(LocalProtocolError):
        conn.connect(headers=[("client-id", "a\0b")])
    assert conn.state is State.IDLE
    assert conn.connect().command == "CONNECT"


@pytest.mark.parametrize(
    ("what", "call"),
    [
        ("subscribe", lambda c: c.subscribe("/queue/a\0b")),
        ("subscribe with a receipt", lambda c: c.subscribe("/queue/a", receipt="r\0")),
        ("unsubscribe", lambda c: c.unsubscribe("sub-kept", headers=[("x", "a\0b")])),
        ("send", lambda c: c.send("/queue/a\0b", b"x", receipt="r-send")),
        ("ack", lambda c: c.ack(message(subscription="sub-kept", ack="a\0b"), receipt="r-ack")),
        ("nack", lambda c: c.nack(message(subscription="sub-kept", ack="a\0b"), receipt="r-n")),
        ("begin", lambda c: c.begin("tx\0")),
        ("commit", lambda c: c.commit("tx-open", receipt="r\0")),
        ("abort", lambda c: c.abort("tx-open", receipt="r\0")),
        ("disconnect", lambda c: c.disconnect(receipt="r\0")),
    ],
)
def test_a_frame_that_cannot_be_encoded_changes_no_state(what, call) -> None:
    conn = connected()
    conn.subscribe("/queue/kept", id="sub-kept")
    conn.begin("tx-open")
    before = _snapshot(conn)
    with pytest.raises(LocalProtocolError):
        call(conn)
    assert _snapshot(conn) == before, what


def test_the_bytes_of_a_built_frame_are_those_encode_gives() -> None:
    conn = connected()
    frame = conn.send("/queue/a", b"body", receipt="r-1")
    assert conn.encode(frame) == encode(frame, "1.2")
    assert conn.encode(frame) == encode(frame, "1.2")  # asked twice: the same bytes


def test_local_and_remote_protocol_errors_are_siblings() -> None:
    from stompframe import StompError

    assert issubclass(LocalProtocolError, StompError) and issubclass(ProtocolError, StompError)
    assert not issubclass(LocalProtocolError, ProtocolError)
    assert not issubclass(ProtocolError, LocalProtocolError)
