"""encode: frames to bytes, per version. No I/O."""

from __future__ import annotations

import pytest

from stompframe import Frame, Heartbeat, LocalProtocolError, Parser, encode


def test_a_simple_frame() -> None:
    assert encode(Frame("SEND", [("destination", "/queue/a")], b"hi")) == (
        b"SEND\ndestination:/queue/a\ncontent-length:2\n\nhi\0"
    )


def test_no_content_length_for_an_empty_body() -> None:
    assert encode(Frame("DISCONNECT", [("receipt", "r")])) == b"DISCONNECT\nreceipt:r\n\n\0"


def test_a_heartbeat_is_one_lf() -> None:
    assert encode(Heartbeat()) == b"\n"
    assert encode(Heartbeat(), "1.0") == b"\n"


def test_content_length_is_not_added_twice() -> None:
    frame = Frame("SEND", [("content-length", "3"), ("x", "y")], b"a\0b")
    assert encode(frame) == b"SEND\ncontent-length:3\nx:y\n\na\0b\0"


def test_a_wrong_content_length_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="content-length"):
        encode(Frame("SEND", [("content-length", "2")], b"abc"))


def test_content_length_can_be_left_out_unless_the_body_has_a_nul() -> None:
    assert encode(Frame("SEND", (), b"text"), auto_content_length=False) == b"SEND\n\ntext\0"
    assert encode(Frame("SEND", (), b"a\0b"), auto_content_length=False) == (
        b"SEND\ncontent-length:3\n\na\0b\0"
    )


def test_headers_are_utf8() -> None:
    assert encode(Frame("SEND", [("café", "☃")])) == "SEND\ncafé:☃\n\n\0".encode()


def test_unencodable_text_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="UTF-8"):
        encode(Frame("SEND", [("k", "\udc80")]))


TRICKY = Frame("SEND", [("k:e\\y", "a\nb:c\\d\re")])


def test_stomp12_escapes_cr_lf_colon_backslash() -> None:
    assert encode(TRICKY, "1.2") == b"SEND\nk\\ce\\\\y:a\\nb\\cc\\\\d\\re\n\n\0"


def test_stomp11_escapes_lf_colon_backslash_and_leaves_cr() -> None:
    assert encode(TRICKY, "1.1") == b"SEND\nk\\ce\\\\y:a\\nb\\cc\\\\d\re\n\n\0"


def test_stomp11_refuses_a_value_ending_in_cr() -> None:
    with pytest.raises(LocalProtocolError, match="CR"):
        encode(Frame("SEND", [("k", "v\r")]), "1.1")
    assert encode(Frame("SEND", [("k", "v\r")]), "1.2") == b"SEND\nk:v\\r\n\n\0"


def test_stomp10_does_not_escape() -> None:
    assert encode(Frame("SEND", [("k", "a\\b:c")]), "1.0") == b"SEND\nk:a\\b:c\n\n\0"


@pytest.mark.parametrize("header", [("k", "a\nb"), ("k:x", "v"), ("k\n", "v"), ("k", "v\r")])
def test_unescaped_frames_refuse_what_they_cannot_write(header: tuple[str, str]) -> None:
    with pytest.raises(LocalProtocolError, match="without escaping"):
        encode(Frame("SEND", [header]), "1.0")
    with pytest.raises(LocalProtocolError, match="without escaping"):
        encode(Frame("CONNECT", [header]), "1.2")


@pytest.mark.parametrize("command", ["CONNECT", "CONNECTED", "STOMP"])
def test_connect_and_connected_are_never_escaped(command: str) -> None:
    frame = Frame(command, [("passcode", "a\\b")])
    for version in ("1.0", "1.1", "1.2"):
        assert encode(frame, version) == command.encode() + b"\npasscode:a\\b\n\n\0"


@pytest.mark.parametrize("command", ["", "SE\nND", "SEND\r", "S\0"])
def test_bad_commands_are_refused(command: str) -> None:
    with pytest.raises(LocalProtocolError, match="command"):
        encode(Frame(command))


def test_nul_in_a_header_is_refused() -> None:
    for version in ("1.0", "1.1", "1.2"):
        with pytest.raises(LocalProtocolError, match="NUL"):
            encode(Frame("SEND", [("k", "a\0b")]), version)


def test_unknown_version() -> None:
    with pytest.raises(ValueError, match="unsupported"):
        encode(Frame("SEND"), "1.3")


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2"])
def test_encode_then_parse(version: str) -> None:
    frame = Frame("SEND", [("destination", "/q"), ("x", "y")], b"body\0with nul")
    expected = Frame("SEND", [*frame.headers, ("content-length", "13")], frame.body)
    assert Parser(version).feed(encode(frame, version)) == [expected]
