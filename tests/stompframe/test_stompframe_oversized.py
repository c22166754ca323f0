"""The parser's ``discard_oversized`` mode: a frame whose body is over the limit becomes an
`OversizedFrame` (headers, first bytes, size), its body is dropped as it streams in, and the
stream goes on. No I/O.

`parse` checks that every chunking of the input (whole, byte by byte, cut in two anywhere)
gives the same events, so each rule holds across every stage the parser can be in when a
piece ends.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

import pytest

from stompframe import (
    DEFAULT_OVERSIZED_PREFIX,
    ClientConnection,
    Event,
    Frame,
    FrameTooLarge,
    HeaderLineTooLong,
    Heartbeat,
    OversizedFrame,
    Parser,
    ProtocolError,
    State,
    TooManyHeaders,
    encode,
)

HB = Heartbeat()
#: small limits, so that every chunking of a frame can be tried
SMALL = {"max_frame_bytes": 64, "discard_oversized": True, "oversized_prefix": 8}


def _feed(data: bytes, cuts: list[int], kw: dict[str, Any]) -> list[Event]:
    parser = Parser("1.2", **kw)
    events: list[Event] = []
    start = 0
    for cut in [*cuts, len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    parser.feed_eof()
    return events


def parse(data: bytes, **kw: Any) -> list[Event]:
    """The events of *data*, the same for every chunking (checked)."""
    kw = {**SMALL, **kw}
    whole = _feed(data, [], kw)
    assert _feed(data, list(range(1, len(data))), kw) == whole
    for cut in range(1, len(data)):
        assert _feed(data, [cut], kw) == whole, cut
    return whole


def parse_error(data: bytes, **kw: Any) -> ProtocolError:
    kw = {**SMALL, **kw}
    errors = []
    for cuts in ([], list(range(1, len(data))), [len(data) // 2]):
        with pytest.raises(ProtocolError) as info:
            _feed(data, cuts, kw)
        errors.append(info.value)
    assert len({type(e) for e in errors}) == 1, errors
    return errors[0]


def message(body: bytes, *, length: bool) -> bytes:
    head = b"MESSAGE\nsubscription:s\nack:a1\n"
    if length:
        head += b"content-length:%d\n" % len(body)
    return head + b"\n" + body + b"\0\n"


NEXT = b"MESSAGE\nsubscription:s\nack:a2\n\nnext\0\n"
NEXT_FRAME = Frame("MESSAGE", [("subscription", "s"), ("ack", "a2")], b"next")


def test_an_oversized_body_without_content_length_is_reported_and_the_stream_goes_on() -> None:
    body = bytes(range(1, 200))  # no NUL inside
    events = parse(message(body, length=False) + NEXT)
    assert events == [
        OversizedFrame("MESSAGE", [("subscription", "s"), ("ack", "a1")], body[:8], len(body)),
        NEXT_FRAME,
    ]


def test_an_oversized_body_with_content_length_may_hold_nuls() -> None:
    body = b"\0ab\0" * 50
    events = parse(message(body, length=True) + NEXT)
    assert len(events) == 2
    first = events[0]
    assert isinstance(first, OversizedFrame)
    assert first.command == "MESSAGE"
    assert first.get("ack") == "a1"
    assert first.get("content-length") == "200"
    assert first.body_prefix == body[:8]
    assert first.size == 200
    assert events[1] == NEXT_FRAME


def test_the_limit_is_the_whole_frame_from_command_to_nul() -> None:
    head = b"SEND\n\n"
    fits = head + b"x" * (64 - len(head) - 1) + b"\0"  # exactly max_frame_bytes
    assert parse(fits) == [Frame("SEND", (), b"x" * 57)]
    over = head + b"x" * 58 + b"\0"
    assert parse(over) == [OversizedFrame("SEND", (), b"x" * 8, 58)]
    fits_cl = b"SEND\ncontent-length:39\n\n" + b"y" * 39 + b"\0"
    assert len(fits_cl) == 64
    assert parse(fits_cl) == [Frame("SEND", [("content-length", "39")], b"y" * 39)]
    over_cl = b"SEND\ncontent-length:40\n\n" + b"y" * 40 + b"\0"
    assert parse(over_cl) == [OversizedFrame("SEND", [("content-length", "40")], b"y" * 8, 40)]


def test_heartbeats_around_an_oversized_frame_are_kept() -> None:
    # The LF right after the NUL is padding; the next one is a heart-beat.
    data = b"\n" + message(b"z" * 100, length=False) + b"\n\r\n" + NEXT
    events = parse(data)
    assert events[0] == HB
    assert isinstance(events[1], OversizedFrame)
    assert events[1].size == 100
    assert events[2:] == [HB, HB, NEXT_FRAME]


def test_several_oversized_frames_in_a_row() -> None:
    one = message(b"a" * 70, length=True)
    two = message(b"b" * 90, length=False)
    events = parse(one + two + NEXT)
    assert [(type(e).__name__, getattr(e, "size", None)) for e in events] == [
        ("OversizedFrame", 70),
        ("OversizedFrame", 90),
        ("Frame", None),
    ]


def test_a_body_shorter_than_the_prefix_can_still_be_oversized() -> None:
    # Long headers and a short body: the prefix is the whole body.
    data = b"SEND\n" + b"h:" + b"v" * 55 + b"\n\nabc\0"
    assert parse(data) == [OversizedFrame("SEND", [("h", "v" * 55)], b"abc", 3)]


def test_the_prefix_length_is_configurable() -> None:
    body = b"q" * 100
    assert parse(message(body, length=False), oversized_prefix=0)[0] == OversizedFrame(
        "MESSAGE", [("subscription", "s"), ("ack", "a1")], b"", 100
    )
    event = parse(message(body, length=True), oversized_prefix=1000)[0]
    assert isinstance(event, OversizedFrame)
    assert event.body_prefix == body
    assert Parser().feed(b"") == [] and DEFAULT_OVERSIZED_PREFIX == 4096
    with pytest.raises(ValueError):
        Parser(discard_oversized=True, oversized_prefix=-1)


def test_without_the_mode_an_oversized_body_is_still_fatal() -> None:
    for length in (False, True):
        error = parse_error(message(b"z" * 100, length=length), discard_oversized=False)
        assert isinstance(error, FrameTooLarge)


def test_a_header_section_over_the_limit_stays_fatal() -> None:
    # No headers could be reported without buffering past the limit.
    long_head = b"SEND\n" + b"".join(b"h%d:%s\n" % (i, b"v" * 10) for i in range(10)) + b"\nx\0"
    assert isinstance(parse_error(long_head), FrameTooLarge)
    unended = b"SEND\n" + b"h:" + b"v" * 100
    parser = Parser(**SMALL)
    with pytest.raises(FrameTooLarge):
        parser.feed(unended)
    many = b"SEND\n" + b"a:1\n" * 5 + b"\n\0"
    assert isinstance(parse_error(many, max_headers=3), TooManyHeaders)
    long_line = b"SEND\nh:" + b"v" * 40 + b"\n\n\0"
    assert isinstance(parse_error(long_line, max_header_line=20), HeaderLineTooLong)


def test_content_length_must_still_end_in_a_nul() -> None:
    bad = b"SEND\ncontent-length:100\n\n" + b"w" * 100 + b"X"
    error = parse_error(bad + b"\0")
    assert "is not the NUL that ends a frame" in str(error)


def test_the_stream_ending_inside_a_dropped_body_is_an_error() -> None:
    for length in (False, True):
        parser = Parser(**SMALL)
        assert parser.feed(message(b"e" * 200, length=length)[:150]) == []
        assert parser.buffered == 8  # only the prefix is held
        with pytest.raises(ProtocolError, match="stream ended inside a frame"):
            parser.feed_eof()


def test_an_oversized_connected_frame_still_switches_the_version() -> None:
    parser = Parser("1.0", **SMALL)
    events = parser.feed(b"CONNECTED\nversion:1.1\n\n" + b"c" * 60 + b"\0")
    assert isinstance(events[0], OversizedFrame)
    assert parser.version == "1.1"


def _flat(parser: Parser, pieces: int, piece: bytes) -> int:
    """Peak bytes allocated while *pieces* copies of *piece* are fed."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        for _ in range(pieces):
            assert parser.feed(piece) == []
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("length", [False, True], ids=["to-nul", "content-length"])
def test_memory_stays_flat_whatever_the_size_of_the_dropped_body(length: bool) -> None:
    # 256 MiB through a parser with a 1 MiB limit, in 64 KiB pieces: nothing of it is kept
    # but the prefix, so the peak of allocations stays far below even one MiB.
    piece = b"p" * 65536
    pieces = 4096
    size = piece_total = pieces * len(piece)
    parser = Parser(max_frame_bytes=1024 * 1024, discard_oversized=True)
    head = b"MESSAGE\nsubscription:s\nack:a9\n"
    if length:
        head += b"content-length:%d\n" % size
    assert parser.feed(head + b"\n") == []
    peak = _flat(parser, pieces, piece)
    assert peak < 256 * 1024, peak
    assert parser.buffered == DEFAULT_OVERSIZED_PREFIX
    (event, heartbeat, frame) = parser.feed(b"\0\n\n" + NEXT)
    assert isinstance(event, OversizedFrame)
    assert event.size == piece_total
    assert event.body_prefix == b"p" * DEFAULT_OVERSIZED_PREFIX
    assert event.get("ack") == "a9"
    assert heartbeat == HB
    assert frame == NEXT_FRAME


def test_a_body_being_buffered_is_dropped_once_it_passes_the_limit() -> None:
    # Without content-length the body is kept until it crosses the limit; from then on only
    # the prefix is held.
    parser = Parser(max_frame_bytes=1000, discard_oversized=True, oversized_prefix=10)
    assert parser.feed(b"SEND\n\n" + b"a" * 900) == []
    assert parser.buffered == 906
    assert parser.feed(b"b" * 900) == []
    assert parser.buffered == 10
    (event,) = parser.feed(b"c\0")
    assert event == OversizedFrame("SEND", (), b"a" * 10, 1801)


def test_the_connection_passes_an_oversized_message_on_and_can_ack_it() -> None:
    conn = ClientConnection("h", parser=Parser(**{**SMALL, "max_frame_bytes": 200}))
    conn.encode(conn.connect())
    conn.receive_data(b"CONNECTED\nversion:1.2\n\n\0", 0.0)
    conn.subscribe("/queue/a", ack="client-individual", id="s")
    events = conn.receive_data(message(b"m" * 300, length=True), 1.0)
    (oversized,) = events
    assert isinstance(oversized, OversizedFrame)
    ack = conn.ack(oversized)
    assert ack.command == "ACK"
    assert ack.get("id") == "a1"
    assert conn.state is State.CONNECTED
    with pytest.raises(TypeError):
        encode(oversized)  # type: ignore[arg-type]


def test_the_connection_counts_an_oversized_receipt_and_keeps_an_oversized_error() -> None:
    conn = ClientConnection("h", parser=Parser(**{**SMALL, "max_frame_bytes": 200}))
    conn.encode(conn.connect())
    conn.receive_data(b"CONNECTED\nversion:1.2\n\n\0", 0.0)
    conn.send("/queue/a", b"x", receipt="r1")
    conn.receive_data(b"RECEIPT\nreceipt-id:r1\n\n" + b"r" * 300 + b"\0", 1.0)
    assert conn.receipts_outstanding == {}
    conn.receive_data(b"ERROR\nmessage:too big\n\n" + b"e" * 300 + b"\0", 2.0)
    assert conn.state is State.ERRORED
    assert conn.error_frame == Frame("ERROR", [("message", "too big")], b"e" * 8)
