"""The values stompframe deals in: `Frame`, `OversizedFrame` and `Heartbeat`.

Both are immutable. `Frame` is a plain slotted class rather than an attrs class because the
parser builds one per received frame and construction cost shows up in throughput; the private
`_make_frame` skips the argument checks for values the parser has already produced.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final, NoReturn, TypeAlias, overload

__all__ = ["SUPPORTED_VERSIONS", "Event", "Frame", "Headers", "Heartbeat", "OversizedFrame"]

#: The protocol versions this package speaks, oldest first.
SUPPORTED_VERSIONS: Final = ("1.0", "1.1", "1.2")

#: Headers as they appear on the wire: ``(name, value)`` pairs, in order, repeats kept.
Headers: TypeAlias = tuple[tuple[str, str], ...]

_setattr = object.__setattr__
_new = object.__new__

_BODY_REPR_LIMIT = 80


def _frozen(self: object, name: str, value: object = None) -> NoReturn:
    raise AttributeError(f"{type(self).__name__} is immutable")


class _Headed:
    """What `Frame` and `OversizedFrame` share: immutability and the read-only header API."""

    __slots__ = ()

    headers: Headers

    __setattr__ = _frozen
    __delattr__ = _frozen

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    @overload
    def get(self, name: str, default: None) -> str | None: ...

    def get(self, name: str, default: str | None = None) -> str | None:
        """The value of the first header called *name* (STOMP 1.2: the first one wins)."""
        for key, value in self.headers:
            if key == name:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of the headers called *name*, in wire order."""
        return [value for key, value in self.headers if key == name]

    def header_dict(self) -> dict[str, str]:
        """The headers as a new dict, keeping the first value of each repeated name."""
        result: dict[str, str] = {}
        for key, value in self.headers:
            if key not in result:
                result[key] = value
        return result


class Frame(_Headed):
    """One STOMP frame: a command, headers in wire order, and a body.

    ``headers`` may be given as a sequence of ``(name, value)`` pairs (order and repeated names
    are kept) or as a mapping. Header names and values are ``str`` (decoded, unescaped); the
    body is ``bytes``. Frames compare equal when command, headers (in order) and body are equal.

    >>> f = Frame("SEND", [("destination", "/queue/a"), ("x", "1"), ("x", "2")], b"hi")
    >>> f.get("x")
    '1'
    """

    __slots__ = ("body", "command", "headers")

    command: str
    headers: Headers
    body: bytes

    def __init__(
        self,
        command: str,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        body: bytes | bytearray | memoryview = b"",
    ) -> None:
        if type(command) is not str:
            raise TypeError(f"Frame command must be str, not {type(command).__name__}")
        if isinstance(headers, Mapping):
            pairs: Iterable[tuple[str, str]] = headers.items()
        else:
            pairs = headers
        hs: list[tuple[str, str]] = []
        for pair in pairs:
            name, value = pair
            if type(name) is not str or type(value) is not str:
                raise TypeError(f"Frame header names and values must be str, got {pair!r}")
            hs.append((name, value))
        if type(body) is not bytes:
            if not isinstance(body, bytearray | memoryview):
                raise TypeError(f"Frame body must be bytes, not {type(body).__name__}")
            body = bytes(body)
        _setattr(self, "command", command)
        _setattr(self, "headers", tuple(hs))
        _setattr(self, "body", body)

    def replace(
        self,
        *,
        command: str | None = None,
        headers: Iterable[tuple[str, str]] | Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Frame:
        """A copy of this frame with some fields changed."""
        return Frame(
            self.command if command is None else command,
            self.headers if headers is None else headers,
            self.body if body is None else body,
        )

    def __eq__(self, other: object) -> bool:
        if type(other) is not Frame:
            return NotImplemented
        return (
            self.command == other.command
            and self.headers == other.headers
            and self.body == other.body
        )

    def __hash__(self) -> int:
        return hash((self.command, self.headers, self.body))

    def __repr__(self) -> str:
        body = self.body
        body_repr = repr(body) if len(body) <= _BODY_REPR_LIMIT else f"<{len(body)} bytes>"
        return f"Frame({self.command!r}, {self.headers!r}, {body_repr})"

    def __reduce__(self) -> tuple[type[Frame], tuple[str, Headers, bytes]]:
        return (Frame, (self.command, self.headers, self.body))


def _make_frame(command: str, headers: Headers, body: bytes) -> Frame:
    """Build a Frame from values already known to be well formed (the parser's fast path)."""
    frame: Frame = _new(Frame)
    _setattr(frame, "command", command)
    _setattr(frame, "headers", headers)
    _setattr(frame, "body", body)
    return frame


class OversizedFrame(_Headed):
    """A frame whose body made it larger than the parser's ``max_frame_bytes``, as a parser made
    with ``discard_oversized=True`` reports it: the command and headers (decoded as for a
    `Frame`), the first bytes of the body (``body_prefix``, at most the parser's
    ``oversized_prefix``) and ``size``, the length of the whole body in bytes. The rest of the
    body was read and dropped; the stream goes on with the next frame.

    It offers the read-only header API of `Frame` (`get`, `get_all`, `header_dict`), so that a
    MESSAGE can be acknowledged and answered from its headers.
    """

    __slots__ = ("body_prefix", "command", "headers", "size")

    command: str
    headers: Headers
    body_prefix: bytes
    size: int

    def __init__(
        self,
        command: str,
        headers: Iterable[tuple[str, str]] | Mapping[str, str],
        body_prefix: bytes,
        size: int,
    ) -> None:
        frame = Frame(command, headers, body_prefix)
        if type(size) is not int or size < len(frame.body):
            raise ValueError(f"OversizedFrame size {size!r} is shorter than its body prefix")
        _setattr(self, "command", frame.command)
        _setattr(self, "headers", frame.headers)
        _setattr(self, "body_prefix", frame.body)
        _setattr(self, "size", size)

    def __eq__(self, other: object) -> bool:
        if type(other) is not OversizedFrame:
            return NotImplemented
        return (
            self.command == other.command
            and self.headers == other.headers
            and self.body_prefix == other.body_prefix
            and self.size == other.size
        )

    def __hash__(self) -> int:
        return hash((self.command, self.headers, self.body_prefix, self.size))

    def __repr__(self) -> str:
        return (
            f"OversizedFrame({self.command!r}, {self.headers!r}, "
            f"<{len(self.body_prefix)} of {self.size} bytes>)"
        )


def _make_oversized(
    command: str, headers: Headers, body_prefix: bytes, size: int
) -> OversizedFrame:
    frame: OversizedFrame = _new(OversizedFrame)
    _setattr(frame, "command", command)
    _setattr(frame, "headers", headers)
    _setattr(frame, "body_prefix", body_prefix)
    _setattr(frame, "size", size)
    return frame


class Heartbeat:
    """A heart-beat: an EOL received between frames, or one to send (``encode`` gives ``b"\\n"``).

    All instances are equal; the parser hands out one shared instance.
    """

    __slots__ = ()

    __setattr__ = _frozen
    __delattr__ = _frozen

    def __eq__(self, other: object) -> bool:
        if type(other) is not Heartbeat:
            return NotImplemented
        return True

    def __hash__(self) -> int:
        return hash(Heartbeat)

    def __repr__(self) -> str:
        return "Heartbeat()"


HEARTBEAT: Final = Heartbeat()

#: What the parser produces and the connection consumes (`OversizedFrame` only from a parser
#: made with ``discard_oversized=True``).
Event: TypeAlias = Frame | Heartbeat | OversizedFrame
