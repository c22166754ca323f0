"""Interoperability with an independent implementation: stomp.py's frame codec.

Ours -> theirs: `encode`, then cut the frame out of the stream as stomp.py's transport does
(everything before the frame's NUL) and read it with `stomp.utils.parse_frame`.
Theirs -> ours: escape the values as stomp.py's protocol classes do, write the frame with
`stomp.utils.convert_frame`, and feed the bytes to our `Parser`.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

stomp_utils = pytest.importorskip("stomp.utils")
stomp_protocol = pytest.importorskip("stomp.protocol")

from stompframe import Frame, Parser, encode  # noqa: E402

ESCAPE_VALUES = {
    "1.1": stomp_protocol.Protocol11._escape_headers,
    "1.2": stomp_protocol.Protocol12._escape_headers,
}


def theirs_parse(wire: bytes) -> Any:
    assert wire.endswith(b"\0")
    return stomp_utils.parse_frame(wire[:-1])


def theirs_encode(command: str, headers: dict[str, str], body: bytes, version: str) -> bytes:
    headers = dict(headers)
    if body and "content-length" not in headers:
        headers["content-length"] = str(len(body))  # as stomp.py's send() does
    if command not in ("CONNECT", "STOMP"):
        ESCAPE_VALUES[version](None, headers)  # as stomp.py's send_frame() does
    frame = stomp_utils.Frame(command, headers, body)
    return b"".join(stomp_utils.convert_frame(frame))


JOB = Frame(
    "MESSAGE",
    [
        ("destination", "/queue/plastrond.jobs"),
        ("message-id", "ID:activemq-41587-1717000000000-3:1:1:1:42"),
        ("subscription", "sub-1"),
        ("ack", "ID:activemq-41587-1717000000000-5:42"),
        ("PlastronJobId", "http://localhost:3000/import_jobs/42"),
        ("note", "two\nlines and a back\\slash"),
    ],
    b'{"uris": ["http://example.org/a"]}\0and a NUL',
)


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_ours_to_theirs(version: str) -> None:
    theirs = theirs_parse(encode(JOB, version))
    assert theirs.cmd == "MESSAGE"
    assert theirs.headers == {**JOB.header_dict(), "content-length": str(len(JOB.body))}
    assert theirs.body == JOB.body


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_theirs_to_ours(version: str) -> None:
    wire = theirs_encode("MESSAGE", JOB.header_dict(), JOB.body, version)
    [ours] = Parser(version).feed(wire)
    assert isinstance(ours, Frame)
    assert ours.command == "MESSAGE"
    assert ours.header_dict() == {**JOB.header_dict(), "content-length": str(len(JOB.body))}
    assert ours.body == JOB.body


def test_connect_both_ways() -> None:
    connect = Frame("CONNECT", [("accept-version", "1.2"), ("host", "h"), ("passcode", "a\\b")])
    theirs = theirs_parse(encode(connect))
    assert theirs.cmd == "CONNECT"
    assert theirs.headers == connect.header_dict()
    wire = theirs_encode("CONNECT", connect.header_dict(), b"", "1.2")
    assert Parser("1.2").feed(wire) == [Frame("CONNECT", sorted(connect.headers))]


text = st.text(st.characters(blacklist_characters="\0", blacklist_categories=("Cs",)), max_size=16)
# stomp.py's header regex needs a non-empty name without ':' before unescaping, and it never
# escapes names; its first-wins dict makes repeated names moot.
plain_names = st.text(
    st.characters(blacklist_characters="\0\r\n:\\", blacklist_categories=("Cs",)),
    min_size=1,
    max_size=10,
).filter(lambda n: n != "content-length")
commands = st.sampled_from(["SEND", "MESSAGE", "ERROR", "RECEIPT", "SUBSCRIBE"])


@settings(max_examples=200, deadline=None)
@given(
    command=commands,
    headers=st.dictionaries(plain_names, text, max_size=6),
    body=st.binary(max_size=40),
)
def test_any_frame_ours_to_theirs_stomp12(
    command: str, headers: dict[str, str], body: bytes
) -> None:
    theirs = theirs_parse(encode(Frame(command, headers, body), "1.2"))
    expected = dict(headers)
    if body:
        expected["content-length"] = str(len(body))
    assert (theirs.cmd, theirs.headers, theirs.body) == (command, expected, body)


@settings(max_examples=200, deadline=None)
@given(
    version=st.sampled_from(["1.1", "1.2"]),
    command=commands,
    headers=st.dictionaries(plain_names, text, max_size=6),
    body=st.binary(max_size=40),
)
def test_any_frame_theirs_to_ours(
    version: str, command: str, headers: dict[str, str], body: bytes
) -> None:
    if version == "1.1":  # stomp.py 1.1 leaves CR raw; a value ending in CR is ambiguous
        headers = {k: v for k, v in headers.items() if not v.endswith("\r")}
    wire = theirs_encode(command, headers, body, version)
    [ours] = Parser(version).feed(wire)
    assert isinstance(ours, Frame)
    expected = dict(headers)
    if body:
        expected["content-length"] = str(len(body))
    assert ours.command == command
    assert ours.header_dict() == expected
    assert ours.body == body
