"""Properties, with hypothesis: round trips at any chunking, and no crash on any input."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stompframe import (
    UNESCAPED_COMMANDS,
    ClientConnection,
    Event,
    Frame,
    Heartbeat,
    LocalProtocolError,
    Parser,
    ProtocolError,
    encode,
)

VERSIONS = st.sampled_from(["1.0", "1.1", "1.2"])

commands = st.one_of(
    st.sampled_from(["SEND", "MESSAGE", "ACK", "ERROR", "RECEIPT", "CONNECT", "STOMP"]),
    st.text(
        st.characters(blacklist_characters="\r\n\0", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=12,
    ),
)


def header_text(*, exclude: str = "") -> st.SearchStrategy[str]:
    alphabet = st.one_of(
        st.sampled_from(list(":\\\r\nabc-é☃ ")),
        st.characters(blacklist_characters="\0" + exclude, blacklist_categories=("Cs",)),
    )
    return st.text(alphabet.filter(lambda c: c not in exclude and c != "\0"), max_size=20)


@st.composite
def frames(draw: st.DrawFn, version: str) -> Frame:
    """Frames that *version* can write: the constraints of `encode` and nothing more."""
    command = draw(commands)
    raw = version == "1.0" or command in UNESCAPED_COMMANDS
    if raw:
        names = header_text(exclude=":\n")
        values = header_text(exclude="\n")
    else:
        names = header_text()
        values = header_text()
    pairs = draw(st.lists(st.tuples(names, values), max_size=6))
    pairs = [
        (n, v)
        for n, v in pairs
        if n != "content-length" and not (v.endswith("\r") and (raw or version == "1.1"))
    ]
    body = draw(st.binary(max_size=64))
    if draw(st.booleans()):  # the caller may supply content-length itself, anywhere
        at = draw(st.integers(0, len(pairs)))
        pairs.insert(at, ("content-length", str(len(body))))
    return Frame(command, pairs, body)


def as_parsed(frame: Frame) -> Frame:
    """What a parser gives back for *frame* written by `encode`."""
    if frame.body and frame.get("content-length") is None:
        return frame.replace(headers=[*frame.headers, ("content-length", str(len(frame.body)))])
    return frame


def feed_in_pieces(parser: Parser, data: bytes, cuts: list[int]) -> list[Event]:
    events: list[Event] = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        events += parser.feed(data[start:cut])
        start = cut
    return events


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version=VERSIONS)
def test_any_frame_survives_encode_and_feed_at_any_chunking(
    data: st.DataObject, version: str
) -> None:
    frame = data.draw(frames(version))
    wire = encode(frame, version)
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=8))
    parser = Parser(version, follow_connected=False)
    assert feed_in_pieces(parser, wire, cuts) == [as_parsed(frame)]
    parser.feed_eof()


EOLS = st.lists(st.sampled_from([b"\n", b"\r\n"]), max_size=3)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), version=VERSIONS)
def test_a_stream_of_frames_and_heartbeats_survives_any_chunking(
    data: st.DataObject, version: str
) -> None:
    wire = b""
    expected: list[Event] = []
    leading = data.draw(EOLS)
    wire += b"".join(leading)
    expected += [Heartbeat()] * len(leading)
    for frame in data.draw(st.lists(frames(version), max_size=4)):
        trailing = data.draw(EOLS)
        wire += encode(frame, version) + b"".join(trailing)
        # the first EOL after a NUL is padding; the others are heart-beats
        expected += [as_parsed(frame), *[Heartbeat()] * max(0, len(trailing) - 1)]
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=12))
    parser = Parser(version, follow_connected=False)
    assert feed_in_pieces(parser, wire, cuts) == expected


@settings(max_examples=200, deadline=None)
@given(
    frame=st.builds(
        Frame,
        st.text(max_size=8),
        st.lists(
            st.tuples(
                st.text(st.characters(blacklist_categories=()), max_size=8),
                st.text(st.characters(blacklist_categories=()), max_size=8),
            ),
            max_size=4,
        ),
        st.binary(max_size=16),
    ),
    version=VERSIONS,
    auto=st.booleans(),
)
def test_encode_raises_only_local_protocol_error(frame: Frame, version: str, auto: bool) -> None:
    try:
        wire = encode(frame, version, auto_content_length=auto)
    except LocalProtocolError:
        return
    # whatever encode accepts, the parser reads back
    [parsed] = Parser(version, follow_connected=False).feed(wire)
    assert isinstance(parsed, Frame)
    assert parsed.command == frame.command and parsed.body == frame.body
    assert parsed.headers[: len(frame.headers)] == frame.headers


LIMITS = st.fixed_dictionaries(
    {},
    optional={
        "max_frame_bytes": st.integers(2, 400),
        "max_headers": st.integers(0, 6),
        "max_header_line": st.integers(1, 60),
    },
)


def feed_expecting_only_protocol_errors(
    data: bytes, cuts: list[int], version: str, limits: dict[str, Any]
) -> None:
    parser = Parser(version, **limits)
    try:
        feed_in_pieces(parser, data, cuts)
        parser.feed_eof()
    except ProtocolError:
        pass


@settings(max_examples=500, deadline=None)
@given(
    data=st.binary(max_size=300),
    cuts=st.lists(st.integers(0, 300), max_size=8),
    version=VERSIONS,
    limits=LIMITS,
)
def test_arbitrary_bytes_raise_nothing_but_protocol_error(
    data: bytes, cuts: list[int], version: str, limits: dict[str, Any]
) -> None:
    feed_expecting_only_protocol_errors(data, [c for c in cuts if c <= len(data)], version, limits)


COMMAND_LINES = [b"SEND\n", b"MESSAGE\r\n", b"CONNECTED\n", b"ERROR\n", b"S\xc3\xa9ND\n", b"\xff\n"]
HEADER_LINES = [
    b"k:v\n",
    b"k:a\\cb\r\n",
    b"k:\\\\\\n\\r\n",
    b"k:\\t\n",
    b"k\n",
    b"k:a:b\n",
    b"version:1.1\n",
    b"version:9\n",
    b"content-length:0\n",
    b"content-length:3\n",
    b"content-length:x\n",
    b"k:\xc3\n",
]
BODY_BITS = [b"abc", b"\0", b"\n", b"\xff", b"\\"]
ENDINGS = [b"\0", b"\0\n", b"\0\r\n\n", b"", b"\0\r"]


@st.composite
def stomp_like(draw: st.DrawFn) -> bytes:
    """Streams that are mostly well formed, with every kind of fault now and then."""
    parts: list[bytes] = []
    for _ in range(draw(st.integers(0, 5))):
        parts.append(draw(st.sampled_from([b"", b"", b"\n", b"\r\n"])))
        parts.append(draw(st.sampled_from(COMMAND_LINES)))
        parts += draw(st.lists(st.sampled_from(HEADER_LINES), max_size=4))
        parts.append(draw(st.sampled_from([b"\n", b"\n", b"\r\n", b""])))
        parts += draw(st.lists(st.sampled_from(BODY_BITS), max_size=3))
        parts.append(draw(st.sampled_from(ENDINGS)))
    return b"".join(parts)


def events_until_error(data: bytes, cuts: list[int], version: str) -> tuple[list[Event], bool]:
    parser = Parser(version, max_frame_bytes=200, max_headers=4, max_header_line=40)
    events: list[Event] = []
    start = 0
    try:
        for cut in [*sorted(cuts), len(data)]:
            events += parser.feed(data[start:cut])
            start = cut
    except ProtocolError as exc:
        return events + list(exc.events), True
    return events, False


ALPHABET = st.sampled_from(list(b"\0\n\r:\\cnrA\x80\xc3\xa909"))


@settings(max_examples=500, deadline=None)
@given(
    data=stomp_like(),
    cuts=st.lists(st.integers(0, 400), max_size=8),
    version=VERSIONS,
    limits=LIMITS,
)
def test_bytes_rich_in_stomp_syntax_raise_nothing_but_protocol_error(
    data: bytes, cuts: list[int], version: str, limits: dict[str, Any]
) -> None:
    feed_expecting_only_protocol_errors(data, [c for c in cuts if c <= len(data)], version, limits)


@settings(max_examples=500, deadline=None)
@given(data=stomp_like(), cuts=st.lists(st.integers(0, 400), max_size=10), version=VERSIONS)
def test_any_input_gives_the_same_events_and_fate_at_any_chunking(
    data: bytes, cuts: list[int], version: str
) -> None:
    """Valid or not: the same events up to the first error, and an error or none alike.
    (Which error can differ: a limit may trip on a piece before a later fault is seen.)"""
    whole = events_until_error(data, [], version)
    assert events_until_error(data, [c for c in cuts if c <= len(data)], version) == whole


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), VERSIONS, LIMITS)
def test_mutated_frames_raise_nothing_but_protocol_error(
    data: st.DataObject, version: str, limits: dict[str, Any]
) -> None:
    some_frames = data.draw(st.lists(frames(version), min_size=1, max_size=3))
    wire = bytearray(b"".join(encode(f, version) for f in some_frames))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(wire) - 1))
        action = data.draw(st.sampled_from(["flip", "insert", "delete"]))
        byte = data.draw(ALPHABET)
        if action == "flip":
            wire[at] = byte
        elif action == "insert":
            wire.insert(at, byte)
        elif len(wire) > 1:
            del wire[at]
    cuts = data.draw(st.lists(st.integers(0, len(wire)), max_size=6))
    feed_expecting_only_protocol_errors(bytes(wire), cuts, version, limits)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), version=VERSIONS)
def test_a_connection_fed_arbitrary_bytes_raises_nothing_but_protocol_error(
    data: bytes, version: str
) -> None:
    conn = ClientConnection("h", heartbeat=(1000, 1000))
    conn.connect()
    try:
        conn.receive_data(b"CONNECTED\nversion:" + version.encode() + b"\n\n\0", 0.0)
        conn.subscribe("/q", id="0", ack="client")  # (client-individual needs 1.1)
        for event in conn.receive_data(data, 1.0):
            if isinstance(event, Frame) and event.command == "MESSAGE":
                with contextlib.suppress(LocalProtocolError):
                    conn.ack(event)
    except ProtocolError:
        pass
    conn.heartbeat_due(2.0)
    conn.peer_overdue(2.0)
