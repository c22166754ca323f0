"""Frames to bytes: `encode`."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from ._errors import LocalProtocolError
from ._frame import SUPPORTED_VERSIONS, Frame, Heartbeat
from ._parser import UNESCAPED_COMMANDS

__all__ = ["encode"]

_needs_escape_11 = re.compile(r"[\\\n:]").search
_needs_escape_12 = re.compile(r"[\\\n:\r]").search
_bad_command = re.compile(r"[\r\n\0]").search


def _escape_11(text: str) -> str:
    if _needs_escape_11(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace(":", "\\c")


def _escape_12(text: str) -> str:
    if _needs_escape_12(text) is None:
        return text
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n").replace(":", "\\c")


_ESCAPERS: Final[dict[str, Callable[[str], str] | None]] = {
    "1.0": None,
    "1.1": _escape_11,
    "1.2": _escape_12,
}


def encode(
    frame: Frame | Heartbeat, version: str = "1.2", *, auto_content_length: bool = True
) -> bytes:
    """The wire bytes of *frame* (or ``b"\\n"`` for a `Heartbeat`) under STOMP *version*.

    Header names and values are escaped by the rules of *version* (none for 1.0 and for
    CONNECT, CONNECTED and STOMP frames) and encoded as UTF-8. Unless the frame already has a
    ``content-length`` header, one is added (last) when the body is not empty, so that a body
    may contain NUL; with ``auto_content_length=False`` it is added only when the body contains
    a NUL. A caller-supplied ``content-length`` must match the body.

    Raises `LocalProtocolError` for a frame that cannot be written under *version*: an empty
    command or one with CR, LF or NUL; a NUL in a header; without escaping, a LF in a header or
    a ``:`` in a header name; a header value ending in CR where CR cannot be escaped; a
    ``content-length`` that is not the body's length; text that is not encodable as UTF-8.
    """
    if type(frame) is Heartbeat:
        return b"\n"
    if not isinstance(frame, Frame):
        # An OversizedFrame, say: its body is gone, so it cannot be written again.
        raise TypeError(f"cannot encode {type(frame).__name__}, only Frame and Heartbeat")
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported STOMP version {version!r}; expected one of 1.0, 1.1, 1.2")
    command = frame.command
    if not command or _bad_command(command) is not None:
        raise LocalProtocolError(f"invalid STOMP command {command!r}")
    body = frame.body
    escape = None if command in UNESCAPED_COMMANDS else _ESCAPERS[version]

    lines = [command]
    add = lines.append
    length: str | None = None
    if escape is None:
        for name, value in frame.headers:
            if ":" in name or "\n" in name or "\n" in value or value[-1:] == "\r":
                raise LocalProtocolError(
                    f"{command} header {name!r}: {value!r} cannot be written without escaping "
                    f"(STOMP {version if command not in UNESCAPED_COMMANDS else command})"
                )
            if length is None and name == "content-length":
                length = value
            add(f"{name}:{value}")
    else:
        cr_escaped = version == "1.2"
        for name, value in frame.headers:
            if length is None and name == "content-length":
                length = value
            value = escape(value)
            if value[-1:] == "\r" and not cr_escaped:
                raise LocalProtocolError(
                    f"{command} header {name!r}: a value ending in CR cannot be written in "
                    f"STOMP {version}"
                )
            add(f"{escape(name)}:{value}")

    if length is None:
        if body and (auto_content_length or b"\0" in body):
            add(f"content-length:{len(body)}")
    elif length != str(len(body)):
        raise LocalProtocolError(
            f"{command} frame has content-length {length!r} but a body of {len(body)} bytes"
        )
    add("\n")
    head = "\n".join(lines)
    if "\0" in head:
        raise LocalProtocolError(f"{command} frame has a NUL in a header")
    try:
        data = head.encode()
    except UnicodeEncodeError as exc:
        raise LocalProtocolError(
            f"{command} frame has text that is not encodable as UTF-8: {exc.reason}"
        ) from None
    if body:
        return b"".join((data, body, b"\0"))
    return data + b"\0"
