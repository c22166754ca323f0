"""The parser, one rule at a time, feeding bytes. No I/O.

`parse` feeds its input whole, one byte at a time and split in two at every position, and
checks that every chunking gives the same events (or the same error).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from stompframe import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_HEADERS,
    Event,
    Frame,
    FrameTooLarge,
    HeaderLineTooLong,
    Heartbeat,
    LimitExceeded,
    Parser,
    ProtocolError,
    TooManyHeaders,
)

HB = Heartbeat()


def _feed(data: bytes, cuts: list[int], version: str, kw: dict[str, Any]) -> list[Event]:
    parser = Parser(version, **kw)
    events: list[Event] = []
    start = 0
    for cut in [*cuts, len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events


def parse(data: bytes, version: str = "1.2", **kw: Any) -> list[Event]:
    """The events of *data*, the same for every chunking (checked)."""
    whole = _feed(data, [], version, kw)
    assert _feed(data, list(range(1, len(data))), version, kw) == whole
    for cut in range(1, len(data)):
        assert _feed(data, [cut], version, kw) == whole, cut
    return whole


def parse_error(data: bytes, version: str = "1.2", **kw: Any) -> ProtocolError:
    """The error *data* raises, the same type for every chunking (checked)."""
    errors = []
    for cuts in ([], list(range(1, len(data))), [len(data) // 2]):
        with pytest.raises(ProtocolError) as info:
            _feed(data, cuts, version, kw)
        errors.append(info.value)
    assert len({type(e) for e in errors}) == 1, errors
    return errors[0]


# -- framing ------------------------------------------------------------------------------


def test_a_simple_frame() -> None:
    assert parse(b"SEND\ndestination:/queue/a\n\nhello\0") == [
        Frame("SEND", [("destination", "/queue/a")], b"hello")
    ]


def test_a_frame_without_headers_or_body() -> None:
    assert parse(b"DISCONNECT\n\n\0") == [Frame("DISCONNECT")]


def test_feeding_nothing_returns_nothing() -> None:
    parser = Parser()
    assert parser.feed(b"") == []
    assert parser.feed(b"SEND\n") == []
    assert parser.feed(b"") == []
    assert parser.buffered == 5


def test_empty_pieces_inside_a_frame_change_nothing() -> None:
    parser = Parser()
    events: list[Event] = []
    for piece in [b"S", b"", b"END\n", b"", b"\n", b"", b"ab", b"", b"\0", b"", b"\r", b"", b"\n"]:
        events += parser.feed(piece)
    assert events == [Frame("SEND", (), b"ab")]
    parser = Parser()
    for piece in [b"SEND\ncontent-length:2\n\n", b"", b"a", b"", b"b", b"", b"\0"]:
        events = parser.feed(piece)
    assert events == [Frame("SEND", [("content-length", "2")], b"ab")]


def test_bytes_like_input_is_accepted() -> None:
    parser = Parser()
    assert parser.feed(bytearray(b"SEND\n\nab")) == []
    assert parser.feed(memoryview(b"c\0")) == [Frame("SEND", (), b"abc")]


def test_crlf_line_ends() -> None:
    assert parse(b"SEND\r\na:1\r\nb:2\r\n\r\nbody\0") == [
        Frame("SEND", [("a", "1"), ("b", "2")], b"body")
    ]


def test_mixed_lf_and_crlf_line_ends() -> None:
    assert parse(b"SEND\na:1\r\nb:2\n\r\nbody\0") == [
        Frame("SEND", [("a", "1"), ("b", "2")], b"body")
    ]
    assert parse(b"SEND\r\na:1\n\nbody\0") == [Frame("SEND", [("a", "1")], b"body")]


def test_crlf_line_ends_in_every_version() -> None:
    for version in ("1.0", "1.1", "1.2"):
        assert parse(b"SEND\r\na:1\r\n\r\n\0", version) == [Frame("SEND", [("a", "1")])]


def test_heartbeats_between_frames() -> None:
    assert parse(b"\n\r\nSEND\n\n\0") == [HB, HB, Frame("SEND")]


def test_one_eol_after_the_nul_is_padding_further_ones_are_heartbeats() -> None:
    frame = Frame("MESSAGE", (), b"x")
    assert parse(b"MESSAGE\n\nx\0\n") == [frame]
    assert parse(b"MESSAGE\n\nx\0\r\n") == [frame]
    assert parse(b"MESSAGE\n\nx\0\n\n\r\n") == [frame, HB, HB]
    assert parse(b"MESSAGE\n\nx\0\nMESSAGE\n\nx\0\n") == [frame, frame]


def test_padding_is_recognised_across_feeds() -> None:
    parser = Parser()
    assert parser.feed(b"MESSAGE\n\n\0") == [Frame("MESSAGE")]
    assert parser.feed(b"\n") == []  # the padding of the frame before
    assert parser.feed(b"\n") == [HB]  # a heart-beat
    assert parser.feed(b"\r") == []
    assert parser.feed(b"\n") == [HB]


def test_a_cr_between_frames_must_start_a_crlf() -> None:
    assert "CR" in str(parse_error(b"\rSEND\n\n\0"))


def test_body_without_content_length_ends_at_the_first_nul() -> None:
    assert parse(b"SEND\n\nab\0SEND\n\ncd\0") == [
        Frame("SEND", (), b"ab"),
        Frame("SEND", (), b"cd"),
    ]


def test_body_with_content_length_may_contain_nul() -> None:
    assert parse(b"SEND\ncontent-length:5\n\na\0b\0c\0\n") == [
        Frame("SEND", [("content-length", "5")], b"a\0b\0c")
    ]


def test_content_length_zero() -> None:
    assert parse(b"SEND\ncontent-length:0\n\n\0") == [Frame("SEND", [("content-length", "0")])]


def test_first_content_length_wins() -> None:
    assert parse(b"SEND\ncontent-length:1\ncontent-length:3\n\na\0") == [
        Frame("SEND", [("content-length", "1"), ("content-length", "3")], b"a")
    ]


def test_content_length_is_found_only_as_a_header_name() -> None:
    data = b"SEND\nx-content-length:9\nnote:content-length:9\ncontent-length:1\n\n\0\0"
    assert parse(data) == [
        Frame(
            "SEND",
            [("x-content-length", "9"), ("note", "content-length:9"), ("content-length", "1")],
            b"\0",
        )
    ]
    assert parse(b"SEND\nx-content-length:9\n\nab\0") == [
        Frame("SEND", [("x-content-length", "9")], b"ab")
    ]


def test_content_length_with_crlf() -> None:
    assert parse(b"SEND\r\ncontent-length:2\r\n\r\n\0\0\0") == [
        Frame("SEND", [("content-length", "2")], b"\0\0")
    ]


@pytest.mark.parametrize("value", [b"-1", b"+1", b"1.0", b"", b" 1", b"0x1", b"\xd9\xa1"])
def test_content_length_must_be_decimal_digits(value: bytes) -> None:
    error = parse_error(b"SEND\ncontent-length:" + value + b"\n\nx\0")
    assert "content-length" in str(error)


def test_content_length_body_must_be_followed_by_nul() -> None:
    error = parse_error(b"SEND\ncontent-length:1\n\nab\0")
    assert "NUL" in str(error)


def test_stream_of_frames_and_heartbeats() -> None:
    data = (
        b"CONNECTED\nversion:1.2\n\n\0\n"
        b"\n"
        b"MESSAGE\nsubscription:0\nmessage-id:1\ncontent-length:3\n\na\0b\0\n"
        b"RECEIPT\nreceipt-id:r1\n\n\0\n"
    )
    assert parse(data) == [
        Frame("CONNECTED", [("version", "1.2")]),
        HB,
        Frame(
            "MESSAGE",
            [("subscription", "0"), ("message-id", "1"), ("content-length", "3")],
            b"a\0b",
        ),
        Frame("RECEIPT", [("receipt-id", "r1")]),
    ]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n"])
@pytest.mark.parametrize("with_length", [False, True])
def test_a_long_header_section_in_pieces_of_any_size(eol: bytes, with_length: bool) -> None:
    """Header sections longer than the parser re-reads whole (8 KiB) are searched in place."""
    headers = [(f"h{i}", "v" * 150 + "\\c" + str(i)) for i in range(120)]
    if with_length:
        headers.append(("content-length", "3"))
    body = b"a\0b" if with_length else b"ab"
    head = b"SEND" + eol + b"".join(f"{k}:{v}".encode() + eol for k, v in headers)
    data = head + eol + body + b"\0\n"
    assert len(head) > 16 * 1024
    expected = [Frame("SEND", [(k, v.replace("\\c", ":")) for k, v in headers], body)]
    for size in (1, 2, 3, 5, 64, 1000, 4096, 8191, 8192, 9000, 100_000):
        parser = Parser()
        events: list[Event] = []
        for i in range(0, len(data), size):
            events += parser.feed(data[i : i + size])
        assert events == expected, size


# -- headers ------------------------------------------------------------------------------


def test_a_raw_colon_in_a_value_is_kept() -> None:
    assert parse(b"SEND\nurl:http://h:8080/x\n\n\0") == [
        Frame("SEND", [("url", "http://h:8080/x")])
    ]


def test_empty_values_and_repeated_names() -> None:
    assert parse(b"SEND\na:\na:x\n:v\n\n\0") == [Frame("SEND", [("a", ""), ("a", "x"), ("", "v")])]


def test_a_header_line_without_colon_is_an_error() -> None:
    assert "without ':'" in str(parse_error(b"SEND\nnocolon\n\n\0"))


def test_headers_are_utf8() -> None:
    assert parse("SEND\ncafé:☃\n\n\0".encode()) == [Frame("SEND", [("café", "☃")])]


def test_invalid_utf8_in_headers_is_an_error() -> None:
    assert "UTF-8" in str(parse_error(b"SEND\na:\xff\n\n\0"))
    assert "UTF-8" in str(parse_error(b"SE\xc3ND\n\n\0"))


def test_the_body_is_not_decoded() -> None:
    assert parse(b"SEND\n\n\xff\xfe\0") == [Frame("SEND", (), b"\xff\xfe")]


def test_nul_inside_a_header_section_is_an_error() -> None:
    assert "NUL" in str(parse_error(b"SEND\na:b\0\n\n\0"))
    assert "NUL" in str(parse_error(b"SEND\0"))


ESCAPED = b"SEND\nk\\ce\\\\y:a\\nb\\cc\\\\d\n\n\0"


def test_stomp12_unescapes_cr_lf_colon_backslash() -> None:
    assert parse(b"SEND\nk:a\\rb\\nc\\cd\\\\e\n\n\0", "1.2") == [
        Frame("SEND", [("k", "a\rb\nc:d\\e")])
    ]
    assert parse(ESCAPED, "1.2") == [Frame("SEND", [("k:e\\y", "a\nb:c\\d")])]


def test_stomp11_unescapes_lf_colon_backslash_but_not_cr() -> None:
    assert parse(ESCAPED, "1.1") == [Frame("SEND", [("k:e\\y", "a\nb:c\\d")])]
    assert "\\\\r" in str(parse_error(b"SEND\nk:a\\rb\n\n\0", "1.1"))


def test_stomp10_does_not_unescape() -> None:
    assert parse(ESCAPED, "1.0") == [Frame("SEND", [("k\\ce\\\\y", "a\\nb\\cc\\\\d")])]
    assert parse(b"SEND\nk:a\\tb\\\n\n\0", "1.0") == [Frame("SEND", [("k", "a\\tb\\")])]


@pytest.mark.parametrize("command", [b"CONNECT", b"CONNECTED", b"STOMP"])
def test_connect_and_connected_headers_are_never_unescaped(command: bytes) -> None:
    data = command + b"\nlogin:a\\cb\\tc\n\n\0"
    for version in ("1.1", "1.2"):
        [frame] = parse(data, version, follow_connected=False)
        assert isinstance(frame, Frame)
        assert frame.headers == (("login", "a\\cb\\tc"),)


@pytest.mark.parametrize(
    "value", [b"\\t", b"a\\", b"\\\\\\", b"\\C", b"\\x41", b"\\ ", b"a\\\\b\\q"]
)
def test_an_undefined_escape_is_an_error(value: bytes) -> None:
    for version in ("1.1", "1.2"):
        error = parse_error(b"SEND\nk:" + value + b"\n\n\0", version)
        assert "escape" in str(error) or "backslash" in str(error)
        error = parse_error(b"SEND\n" + value + b":v\n\n\0", version)


def test_escaped_backslash_followed_by_letters() -> None:
    assert parse(b"SEND\nk:\\\\c\\\\n\\\\\\c\n\n\0") == [Frame("SEND", [("k", "\\c\\n\\:")])]


# -- versions -----------------------------------------------------------------------------


def test_connected_switches_the_version_for_the_frames_after_it() -> None:
    data = b"CONNECTED\nversion:1.1\n\n\0\nMESSAGE\nk:a\\cb\n\n\0\n"
    parser = Parser("1.0")
    assert parser.feed(data) == [
        Frame("CONNECTED", [("version", "1.1")]),
        Frame("MESSAGE", [("k", "a:b")]),
    ]
    assert parser.version == "1.1"
    # and the same for every chunking
    assert parse(data, "1.0")[1] == Frame("MESSAGE", [("k", "a:b")])


def test_connected_without_version_means_stomp10() -> None:
    parser = Parser("1.2")
    parser.feed(b"CONNECTED\n\n\0MESSAGE\nk:a\\cb\n\n\0")
    assert parser.version == "1.0"


def test_connected_with_a_content_length_body_switches_too() -> None:
    parser = Parser("1.0")
    assert parser.feed(b"CONNECTED\nversion:1.2\ncontent-length:1\n\nx") == []
    assert parser.feed(b"\0MESSAGE\nk:\\r\n\n\0") == [
        Frame("CONNECTED", [("version", "1.2"), ("content-length", "1")], b"x"),
        Frame("MESSAGE", [("k", "\r")]),
    ]


def test_connected_with_an_unknown_version_is_an_error() -> None:
    assert "version" in str(parse_error(b"CONNECTED\nversion:2.0\n\n\0"))


def test_following_connected_can_be_turned_off() -> None:
    parser = Parser("1.2", follow_connected=False)
    parser.feed(b"CONNECTED\nversion:1.0\n\n\0")
    assert parser.version == "1.2"


def test_version_can_be_set_by_hand() -> None:
    parser = Parser("1.0")
    assert parser.feed(b"SEND\nk:\\c\n\n\0") == [Frame("SEND", [("k", "\\c")])]
    parser.version = "1.2"
    assert parser.feed(b"SEND\nk:\\c\n\n\0") == [Frame("SEND", [("k", ":")])]
    with pytest.raises(ValueError, match="unsupported"):
        parser.version = "1.3"
    with pytest.raises(ValueError, match="unsupported"):
        Parser("2.0")


# -- end of stream and errors -------------------------------------------------------------


def test_feed_eof_between_frames_is_fine() -> None:
    parser = Parser()
    parser.feed(b"SEND\n\n\0\n\n")
    parser.feed_eof()


@pytest.mark.parametrize(
    "data", [b"SE", b"SEND\n", b"SEND\n\nbody", b"SEND\ncontent-length:4\n\nab", b"\r"]
)
def test_feed_eof_inside_a_frame_is_an_error(data: bytes) -> None:
    parser = Parser()
    parser.feed(data)
    with pytest.raises(ProtocolError, match="ended inside a frame"):
        parser.feed_eof()


def test_an_error_carries_the_events_parsed_before_it() -> None:
    parser = Parser()
    parser.feed(b"\nSEND\n\n")
    with pytest.raises(ProtocolError) as info:
        parser.feed(b"a\0ERROR\nmessage:bye\n\n\0\nSEND\nno colon\n\n\0")
    assert info.value.events == (Frame("SEND", (), b"a"), Frame("ERROR", [("message", "bye")]))


def test_an_error_is_final() -> None:
    parser = Parser()
    with pytest.raises(ProtocolError):
        parser.feed(b"SEND\nbad\n\n\0")
    with pytest.raises(ProtocolError, match="failed earlier"):
        parser.feed(b"SEND\n\n\0")
    with pytest.raises(ProtocolError, match="failed earlier"):
        parser.feed_eof()


# -- limits -------------------------------------------------------------------------------


def test_default_limits() -> None:
    assert 10 * 2**20 <= DEFAULT_MAX_FRAME_BYTES <= 128 * 2**20
    assert DEFAULT_MAX_HEADERS == 1000
    with pytest.raises(ValueError):
        Parser(max_frame_bytes=0)


def test_limit_errors_are_protocol_errors() -> None:
    for cls in (FrameTooLarge, TooManyHeaders, HeaderLineTooLong):
        assert issubclass(cls, LimitExceeded)
        assert issubclass(cls, ProtocolError)


def test_a_frame_at_the_size_limit_is_accepted() -> None:
    data = b"SEND\n\n" + b"x" * 10 + b"\0"
    assert parse(data, max_frame_bytes=len(data)) == [Frame("SEND", (), b"x" * 10)]
    assert isinstance(parse_error(data, max_frame_bytes=len(data) - 1), FrameTooLarge)
    data = b"SEND\ncontent-length:3\n\nxyz\0"
    assert parse(data, max_frame_bytes=len(data)) == [
        Frame("SEND", [("content-length", "3")], b"xyz")
    ]
    assert isinstance(parse_error(data, max_frame_bytes=len(data) - 1), FrameTooLarge)


def test_a_large_content_length_raises_at_the_header() -> None:
    parser = Parser(max_frame_bytes=1000)
    with pytest.raises(FrameTooLarge, match="content-length 5000"):
        parser.feed(b"SEND\ncontent-length:5000\n\n")


def test_a_body_without_content_length_raises_as_soon_as_it_is_too_large() -> None:
    parser = Parser(max_frame_bytes=1000)
    parser.feed(b"SEND\n\n")
    for _ in range(9):
        parser.feed(b"x" * 100)
    assert parser.buffered == 906
    with pytest.raises(FrameTooLarge):
        parser.feed(b"x" * 100)


def test_an_unfinished_header_section_raises_without_buffering_it_all() -> None:
    parser = Parser(max_frame_bytes=10_000, max_header_line=100_000, max_headers=100_000)
    parser.feed(b"SEND\n")
    fed = 5
    with pytest.raises(FrameTooLarge):
        while True:
            parser.feed(b"a:b\n")
            fed += 4
    assert 10_000 <= fed + 4 <= 10_004


def test_too_many_headers() -> None:
    ok = b"SEND\n" + b"a:b\n" * 5 + b"\n\0"
    assert len(parse(ok, max_headers=5)[0].headers) == 5  # type: ignore[union-attr]
    assert isinstance(parse_error(ok, max_headers=4), TooManyHeaders)


@pytest.mark.parametrize("limit", [10, 3000])  # 3000 lines outgrow the 8 KiB re-read
def test_too_many_headers_raises_before_the_header_section_ends(limit: int) -> None:
    parser = Parser(max_headers=limit)
    parser.feed(b"SEND\n")
    for _ in range(limit):
        parser.feed(b"a:b\n")
    with pytest.raises(TooManyHeaders):
        parser.feed(b"a:b\n")


def test_header_line_too_long() -> None:
    ok = b"SEND\nk:" + b"v" * 8 + b"\n\n\0"
    assert parse(ok, max_header_line=10) == [Frame("SEND", [("k", "v" * 8)])]
    assert isinstance(parse_error(ok, max_header_line=9), HeaderLineTooLong)
    assert isinstance(parse_error(b"SENDSENDSEND\n\n\0", max_header_line=9), HeaderLineTooLong)


@pytest.mark.parametrize("limit", [1000, 20_000])  # 20 KB outgrow the 8 KiB re-read
def test_header_line_too_long_raises_before_the_line_ends(limit: int) -> None:
    parser = Parser(max_header_line=limit)
    parser.feed(b"SEND\nk:")
    fed = 2
    with pytest.raises(HeaderLineTooLong):
        while True:
            fed += 100
            parser.feed(b"v" * 100)
    assert limit < fed <= limit + 100


# -- cost -------------------------------------------------------------------------------


@pytest.mark.parametrize("with_length", [False, True])
def test_a_64_mib_body_in_4_kib_pieces_is_linear(with_length: bool) -> None:
    size = 64 * 2**20
    body = b"\x01" * size
    head = b"MESSAGE\n" + (b"content-length:%d\n" % size if with_length else b"") + b"\n"
    data = head + body + b"\0\n"
    pieces = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    parser = Parser(max_frame_bytes=size + 1024)
    start = time.perf_counter()
    events: list[Event] = []
    for piece in pieces:
        events += parser.feed(piece)
    elapsed = time.perf_counter() - start
    start = time.perf_counter()
    assert body.find(b"\0") == -1
    memchr = time.perf_counter() - start
    [frame] = events
    assert isinstance(frame, Frame) and len(frame.body) == size
    # A rescan per piece would take minutes; linear parsing takes a few memchr's worth.
    assert elapsed < max(2.0, 200 * memchr), (elapsed, memchr)
