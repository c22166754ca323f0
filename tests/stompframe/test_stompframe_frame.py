"""Frame and Heartbeat: immutable values with wire-order headers."""

from __future__ import annotations

import pickle

import pytest

from stompframe import Frame, Heartbeat


def test_frame_keeps_wire_order_and_repeated_names() -> None:
    f = Frame("SEND", [("b", "1"), ("a", "2"), ("b", "3")], b"x")
    assert f.command == "SEND"
    assert f.headers == (("b", "1"), ("a", "2"), ("b", "3"))
    assert f.body == b"x"


def test_get_returns_the_first_occurrence() -> None:
    f = Frame("MESSAGE", [("x", "first"), ("x", "second")])
    assert f.get("x") == "first"
    assert f.get("missing") is None
    assert f.get("missing", "fallback") == "fallback"
    assert f.get_all("x") == ["first", "second"]


def test_header_dict_keeps_first_value_and_wire_order() -> None:
    f = Frame("MESSAGE", [("b", "1"), ("a", "2"), ("b", "3")])
    d = f.header_dict()
    assert d == {"b": "1", "a": "2"}
    assert list(d) == ["b", "a"]
    d["b"] = "changed"  # a fresh dict each time: the frame is untouched
    assert f.get("b") == "1"


def test_frame_accepts_a_mapping_and_bytes_like_body() -> None:
    f = Frame("SEND", {"destination": "/queue/a"}, bytearray(b"abc"))
    assert f.headers == (("destination", "/queue/a"),)
    assert type(f.body) is bytes
    assert Frame("SEND", (), memoryview(b"xy")).body == b"xy"


def test_frame_is_immutable() -> None:
    f = Frame("SEND")
    with pytest.raises(AttributeError):
        f.command = "ACK"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del f.body  # type: ignore[misc]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((b"SEND",), "command must be str"),
        (("SEND", [("a", 1)]), "must be str"),
        (("SEND", (), "text"), "body must be bytes"),
    ],
)
def test_frame_rejects_wrong_types(args: tuple[object, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Frame(*args)  # type: ignore[arg-type]


def test_frame_equality_hash_replace_and_pickle() -> None:
    a = Frame("SEND", [("a", "1")], b"x")
    b = Frame("SEND", (("a", "1"),), b"x")
    assert a == b and hash(a) == hash(b)
    assert a != Frame("SEND", [("a", "2")], b"x")
    assert a != ("SEND", (("a", "1"),), b"x")
    assert a.replace(body=b"y") == Frame("SEND", [("a", "1")], b"y")
    assert a.replace(command="ACK", headers=()) == Frame("ACK", (), b"x")
    assert pickle.loads(pickle.dumps(a)) == a


def test_frame_repr_is_short_for_large_bodies() -> None:
    assert repr(Frame("SEND", [("a", "1")], b"x")) == "Frame('SEND', (('a', '1'),), b'x')"
    assert "<1000 bytes>" in repr(Frame("SEND", (), b"x" * 1000))


def test_heartbeats_are_all_equal_and_immutable() -> None:
    assert Heartbeat() == Heartbeat()
    assert hash(Heartbeat()) == hash(Heartbeat())
    assert Heartbeat() != Frame("SEND")
    assert repr(Heartbeat()) == "Heartbeat()"
    with pytest.raises(AttributeError):
        Heartbeat().x = 1  # type: ignore[attr-defined]
