"""Bytes in, `Frame` and `Heartbeat` events out: the incremental STOMP parser.

How it stays linear
-------------------
Between feeds the parser is in one of four stages:

0. between frames: nothing is buffered except, at most, a lone CR of a CRLF heart-beat;
1. inside a header section: a short one (up to 8 KiB with the new piece) is kept as bytes and
   parsed again from its start when the next piece comes, which costs little and is bounded;
   a longer one moves to a ``bytearray`` that grows in place, the search for the blank line
   resumes two bytes before the end of what was already searched, and the line count and the
   current line's length are updated from each new piece only. Either way the limits trip as
   soon as they are crossed;
2. inside a body of known length (``content-length``): the pieces are kept in a list and only
   counted until enough have arrived, then joined once;
3. inside a body that ends at the first NUL: each new piece is searched once for the NUL,
   kept in a list, and the pieces are joined once when it is found.

With ``discard_oversized``, a body that makes its frame larger than ``max_frame_bytes`` puts the
parser in a fifth stage (two variants, by content-length or to the NUL): the pieces are counted
(and, without content-length, searched for the NUL) and dropped, except the first
``oversized_prefix`` bytes, and the frame ends as an `OversizedFrame`. Memory stays flat
whatever the body's size. A *header section* over the limit stays fatal in every mode: the
headers are what the event is made of (and what a caller needs to acknowledge or answer the
frame), so they cannot be dropped, and keeping them would mean buffering past the limit; a
header section that long is not STOMP any peer sends in good faith.

A frame that lies wholly inside one piece is cut out of that piece directly: one memchr for the
first NUL, one search for the blank line before it, one decode and split of the header section.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from ._errors import FrameTooLarge, HeaderLineTooLong, ProtocolError, TooManyHeaders
from ._frame import (
    HEARTBEAT,
    SUPPORTED_VERSIONS,
    Event,
    Frame,
    Headers,
    _make_frame,
    _make_oversized,
)

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE",
    "DEFAULT_OVERSIZED_PREFIX",
    "Parser",
]

#: Default largest frame, from the first byte of its command to its NUL.
DEFAULT_MAX_FRAME_BYTES: Final = 64 * 1024 * 1024
#: Default largest number of header lines in one frame.
DEFAULT_MAX_HEADERS: Final = 1000
#: Default longest command or header line, in bytes before its LF.
DEFAULT_MAX_HEADER_LINE: Final = 64 * 1024
#: Default number of body bytes an `OversizedFrame` keeps.
DEFAULT_OVERSIZED_PREFIX: Final = 4096

#: Frames whose headers are never escaped, whatever the version (STOMP 1.2, "Value Encoding").
#: STOMP is the other name of CONNECT and is sent before any version is agreed.
UNESCAPED_COMMANDS: Final = frozenset({"CONNECT", "CONNECTED", "STOMP"})

_IDLE: Final = 0
_HEAD: Final = 1
_BODY_LENGTH: Final = 2
_BODY_NUL: Final = 3
_FAILED: Final = 4
_SKIP_LENGTH: Final = 5
_SKIP_NUL: Final = 6

#: A header section cut by a piece boundary is parsed again from its start while it is at
#: most this long (cheap, and bounded); past that it is searched incrementally.
_SMALL_HEAD: Final = 8192

# Setting slots through their descriptors skips Frame's frozen __setattr__ and __init__.
_new_frame = object.__new__
_set_command = Frame.command.__set__  # type: ignore[attr-defined,misc]
_set_headers = Frame.headers.__set__  # type: ignore[attr-defined,misc]
_set_body = Frame.body.__set__  # type: ignore[attr-defined,misc]


def _no_colon(command: str, line: str) -> ProtocolError:
    return ProtocolError(f"{command} frame has a header line without ':': {line!r}")


def _bad_escape(text: str, piece: str, version: str) -> ProtocolError:
    at = piece.index("\\")
    seq = piece[at : at + 2]
    what = "a lone backslash at the end" if len(seq) == 1 else f"the undefined escape {seq!r}"
    return ProtocolError(f"header text {text!r} has {what} (STOMP {version})")


def _unescaper(version: str, cr: bool) -> Callable[[str], str]:
    """The header unescaping of *version*: ``\\\\``, ``\\c`` and ``\\n``, and ``\\r`` with *cr*
    (STOMP 1.2); any other backslash is an error."""

    def unescape(text: str) -> str:
        if "\\\\" not in text:
            # Every backslash starts an escape and none is followed by another backslash, so
            # the escapes can be replaced one kind at a time.
            plain = text.replace("\\c", ":")
            if "\\" in plain:
                plain = plain.replace("\\n", "\n")
                if cr:
                    plain = plain.replace("\\r", "\r")
                if "\\" in plain:
                    raise _bad_escape(text, plain, version)
            return plain
        # Splitting on the escaped backslash first leaves every other backslash at the start of
        # an escape sequence, so the remaining escapes can be replaced independently.
        pieces = text.split("\\\\")
        for i, piece in enumerate(pieces):
            if "\\" in piece:
                piece = piece.replace("\\n", "\n").replace("\\c", ":")
                if cr:
                    piece = piece.replace("\\r", "\r")
                if "\\" in piece:
                    raise _bad_escape(text, piece, version)
                pieces[i] = piece
        return "\\".join(pieces)

    return unescape


_UNESCAPERS: Final[dict[str, Callable[[str], str] | None]] = {
    "1.0": None,
    "1.1": _unescaper("1.1", cr=False),
    "1.2": _unescaper("1.2", cr=True),
}


def _check_version(version: str) -> str:
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported STOMP version {version!r}; expected one of 1.0, 1.1, 1.2")
    return version


def _no_nul_after(command: str, length: int) -> ProtocolError:
    return ProtocolError(
        f"{command} frame: the byte after the {length} bytes of content-length is not the NUL "
        "that ends a frame"
    )


def _bad_length(command: str, value: str) -> ProtocolError:
    return ProtocolError(
        f"{command} frame: content-length {value!r} is not a non-negative decimal integer"
    )


class Parser:
    """An incremental parser for a stream of STOMP frames, with no I/O.

    Feed it bytes as they arrive; it returns the complete events found so far. Any split of the
    stream into pieces yields the same events.

    * A `Frame` for each frame. Header names and values are decoded from UTF-8 and unescaped
      by the rules of *version* (1.0: no escapes; 1.1: ``\\n \\c \\\\``; 1.2: also ``\\r``;
      never for CONNECT, CONNECTED and STOMP frames). A raw ``:`` in a value is kept (the line
      is split at its first colon).
    * A `Heartbeat` for each EOL (LF or CRLF) between frames, except the first EOL right after a
      frame's NUL, which is taken as the frame's trailing padding: brokers such as ActiveMQ end
      every frame with ``NUL LF``. Peer liveness should be judged by bytes received, not by
      these events (see `ClientConnection.receive_data`).
    * Command and header lines may end with LF or CRLF, for every version.
    * With ``content-length`` the body is that many bytes (NULs allowed) and must be followed by
      a NUL; without it the body ends at the first NUL.

    When *follow_connected* is true (the default), parsing a CONNECTED frame switches the parser
    to the version that frame names (``1.0`` when it names none) for the frames after it, even
    within the same piece of data; a client therefore needs no extra step after connecting.
    `version` can also be set by hand at any time.

    Malformed input raises `ProtocolError` (limits raise its subclasses `FrameTooLarge`,
    `TooManyHeaders`, `HeaderLineTooLong` as soon as the excess is known, without buffering it).
    The error is final: later calls raise it again.

    With *discard_oversized*, a frame whose *body* takes it past *max_frame_bytes* is not an
    error: its body is read and dropped as it arrives (by ``content-length`` when there is one,
    else up to the first NUL), keeping only the first *oversized_prefix* bytes, and the frame
    comes out as an `OversizedFrame` (command, headers, body prefix, body size) once its NUL
    has arrived; the stream then goes on with the next frame. A header section that is itself
    over *max_frame_bytes*, or over *max_headers* or *max_header_line*, is still fatal: there
    would be no headers to report without buffering past the limit.
    """

    __slots__ = (
        "_acc",
        "_after_nul",
        "_command",
        "_cr",
        "_discard",
        "_error",
        "_follow",
        "_have",
        "_head_len",
        "_headers",
        "_line_start",
        "_lines",
        "_max_frame",
        "_max_headers",
        "_max_line",
        "_need",
        "_parts",
        "_prefix",
        "_prefix_room",
        "_room",
        "_scan",
        "_stage",
        "_tail",
        "_unescape",
        "_version",
    )

    def __init__(
        self,
        version: str = "1.2",
        *,
        max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
        max_headers: int = DEFAULT_MAX_HEADERS,
        max_header_line: int = DEFAULT_MAX_HEADER_LINE,
        follow_connected: bool = True,
        discard_oversized: bool = False,
        oversized_prefix: int = DEFAULT_OVERSIZED_PREFIX,
    ) -> None:
        if max_frame_bytes < 2 or max_headers < 0 or max_header_line < 1:
            raise ValueError("parser limits must be positive")
        if oversized_prefix < 0:
            raise ValueError("oversized_prefix must not be negative")
        self._version = _check_version(version)
        self._unescape = _UNESCAPERS[version]
        self._max_frame = max_frame_bytes
        self._max_headers = max_headers
        self._max_line = max_header_line
        self._follow = follow_connected
        self._discard = discard_oversized
        self._prefix = oversized_prefix
        self._prefix_room = 0
        self._stage = _IDLE
        self._after_nul = False
        self._cr = False
        self._error: ProtocolError | None = None
        self._acc = bytearray()
        self._tail = b""
        self._scan = 0
        self._lines = 0
        self._line_start = 0
        self._command = ""
        self._headers: Headers = ()
        self._parts: list[bytes] = []
        self._have = 0
        self._need = 0
        self._room = 0
        self._head_len = 0

    # -- public ---------------------------------------------------------------------------

    @property
    def version(self) -> str:
        """The version whose escaping rules apply to the frames parsed next."""
        return self._version

    @version.setter
    def version(self, version: str) -> None:
        self._unescape = _UNESCAPERS[_check_version(version)]
        self._version = version

    @property
    def buffered(self) -> int:
        """How many bytes of an incomplete frame (or CRLF) are held, waiting for the rest."""
        stage = self._stage
        if stage == _HEAD:
            return len(self._tail) + len(self._acc)
        if stage == _BODY_LENGTH:
            return self._head_len + self._have
        if stage == _BODY_NUL:
            return self._max_frame - 1 - self._room
        if stage in (_SKIP_LENGTH, _SKIP_NUL):
            return self._prefix - self._prefix_room
        return 1 if self._cr else 0

    def feed(self, data: bytes | bytearray | memoryview) -> list[Event]:
        """Add the next piece of the stream; return the events it completes, in order.

        On malformed input this raises `ProtocolError`; the events parsed from this piece
        before the error are on the exception, as ``events``.
        """
        if self._stage == _BODY_NUL and type(data) is bytes:
            # The hot path of a large body: one memchr, and keep the piece.
            room = self._room - len(data)
            if room >= 0 and data.find(b"\0") < 0:
                self._room = room
                self._parts.append(data)
                return []
        elif type(data) is not bytes:
            data = bytes(data)
        events: list[Event] = []
        try:
            stage = self._stage
            if stage == _BODY_NUL:  # first: the hot path of large bodies
                nul = data.find(b"\0")
                if nul < 0:
                    room = self._room - len(data)
                    if room < 0:
                        if not self._discard:
                            raise self._too_large()
                        self._skip_from_parts(_SKIP_NUL)
                        self._skip(data)
                        return events
                    self._room = room
                    self._parts.append(data)
                    return events
                if self._room < nul:
                    if not self._discard:
                        raise self._too_large()
                    self._skip_from_parts(_SKIP_NUL)
                    self._skip(data[:nul])
                    self._finish(events, oversized=True)
                else:
                    if nul:
                        self._parts.append(data[:nul])
                    self._finish(events, oversized=False)
                pos = nul + 1
            elif stage == _IDLE:
                pos = 0
            elif stage == _BODY_LENGTH:
                need = self._need
                size = len(data)
                if size < need:
                    self._parts.append(data)
                    self._have += size
                    self._need = need - size
                    return events
                if data[need - 1] != 0:
                    raise _no_nul_after(self._command, self._have + need - 1)
                if need > 1:
                    self._parts.append(data[: need - 1])
                self._finish(events, oversized=False)
                pos = need
            elif stage == _HEAD:
                tail = self._tail
                if tail and len(tail) + len(data) <= _SMALL_HEAD:
                    # A short section cut by a piece boundary: parse it again from its start.
                    data = tail + data
                    self._tail = b""
                elif self._resume_head(data):
                    data = bytes(self._acc)
                    self._acc = bytearray()
                else:
                    return events
                self._stage = _IDLE
                pos = 0
            elif stage == _SKIP_NUL:
                nul = data.find(b"\0")
                if nul < 0:
                    self._skip(data)
                    return events
                self._skip(data[:nul])
                self._finish(events, oversized=True)
                pos = nul + 1
            elif stage == _SKIP_LENGTH:
                need = self._need
                size = len(data)
                if size < need:
                    self._skip(data)
                    self._need = need - size
                    return events
                if data[need - 1] != 0:
                    raise _no_nul_after(self._command, self._have + need - 1)
                self._skip(data[: need - 1])
                self._finish(events, oversized=True)
                pos = need
            else:
                assert self._error is not None
                raise ProtocolError(f"the parser failed earlier: {self._error}")
            if self._cr:
                self._cr = False
                data = b"\r" + data[pos:]
                pos = 0
            if pos < len(data):
                self._parse(data, pos, events)
            return events
        except ProtocolError as exc:
            exc.events = tuple(events)
            if self._error is None:
                self._error = exc
            self._stage = _FAILED
            self._parts = []
            self._acc = bytearray()
            self._tail = b""
            raise

    def feed_eof(self) -> None:
        """Tell the parser the stream has ended; raise `ProtocolError` if a frame was cut off."""
        if self._stage == _FAILED:
            raise ProtocolError(f"the parser failed earlier: {self._error}")
        if self._stage != _IDLE or self._cr:
            raise ProtocolError(
                f"the stream ended inside a frame ({self.buffered} bytes of it received)"
            )

    # -- internals ------------------------------------------------------------------------

    def _too_large(self) -> FrameTooLarge:
        return FrameTooLarge(
            f"{self._command} frame without content-length is larger than "
            f"max_frame_bytes={self._max_frame} and has not ended"
        )

    def _skip_to(
        self, stage: int, command: str, headers: Headers, body: bytes, need: int = 0
    ) -> None:
        """Go on with an oversized frame's body, *body* being what has arrived of it."""
        self._command = command
        self._headers = headers
        self._parts = []
        self._prefix_room = self._prefix
        self._have = 0
        self._need = need
        self._stage = stage
        self._skip(body)

    def _skip_from_parts(self, stage: int) -> None:
        """A body being buffered turned out too large: keep its prefix, drop the rest."""
        parts = self._parts
        self._parts = []
        self._prefix_room = self._prefix
        self._have = 0
        self._stage = stage
        for part in parts:
            self._skip(part)

    def _skip(self, data: bytes) -> None:
        """Count *data* as part of an oversized body, keeping it only within the prefix."""
        room = self._prefix_room
        if room:
            piece = data[:room] if len(data) > room else data
            if piece:
                self._parts.append(piece)
                self._prefix_room = room - len(piece)
        self._have += len(data)

    def _finish(self, events: list[Event], *, oversized: bool) -> None:
        """End the frame whose body (or, *oversized*, the kept prefix of it) is in the parts."""
        parts = self._parts
        data = b"".join(parts) if len(parts) != 1 else parts[0]
        self._parts = []
        command = self._command
        headers = self._headers
        if oversized:
            events.append(_make_oversized(command, headers, data, self._have))
        else:
            events.append(_make_frame(command, headers, data))
        if command == "CONNECTED" and self._follow:
            self._adopt(headers)
        self._stage = _IDLE
        self._after_nul = True
        self._headers = ()

    def _adopt(self, headers: Headers) -> None:
        version = "1.0"
        for name, value in headers:
            if name == "version":
                version = value
                break
        if version not in SUPPORTED_VERSIONS:
            raise ProtocolError(f"CONNECTED names the unsupported version {version!r}")
        self.version = version

    def _check_partial_head(self, acc: bytes | bytearray) -> None:
        # Limits on a header section whose blank line has not arrived yet.
        if self._lines - 1 > self._max_headers:
            raise TooManyHeaders(
                f"header section has more than max_headers={self._max_headers} lines so far"
            )
        if len(acc) - self._line_start > self._max_line:
            raise HeaderLineTooLong(
                f"a header line is longer than max_header_line={self._max_line} bytes "
                "and has not ended"
            )
        if len(acc) >= self._max_frame:
            raise FrameTooLarge(
                f"header section is larger than max_frame_bytes={self._max_frame} and has not ended"
            )

    def _start_head(self, data: bytes, pos: int) -> None:
        if data.find(b"\0", pos) >= 0:
            raise ProtocolError("NUL inside a header section (the frame has no blank line)")
        tail = data[pos:]
        self._lines = tail.count(b"\n")
        self._line_start = tail.rfind(b"\n") + 1
        self._check_partial_head(tail)
        self._tail = tail
        self._stage = _HEAD

    def _resume_head(self, data: bytes) -> bool:
        """Add *data* to a pending header section; true once its blank line is buffered."""
        if self._tail:
            # From here on the section grows in place and is searched only where it is new.
            self._acc = acc = bytearray(self._tail)
            self._tail = b""
            self._scan = max(0, len(acc) - 2)
        else:
            acc = self._acc
        old = len(acc)
        acc += data
        scan = self._scan
        end = acc.find(b"\n\n", scan)
        if end >= 0 or acc.find(b"\n\r\n", scan) >= 0:
            return True
        if b"\0" in data:
            raise ProtocolError("NUL inside a header section (the frame has no blank line)")
        self._lines += data.count(b"\n")
        last = data.rfind(b"\n")
        if last >= 0:
            self._line_start = old + last + 1
        self._check_partial_head(acc)
        self._scan = max(0, len(acc) - 2)
        return False

    def _parse(self, data: bytes, pos: int, events: list[Event]) -> None:
        """Parse *data* from *pos* to its end, appending events; keep any incomplete tail."""
        size = len(data)
        find = data.find
        after_nul = self._after_nul
        max_frame = self._max_frame
        max_line = self._max_line
        max_lines = self._max_headers + 1
        unescape = self._unescape
        append = events.append
        while pos < size:
            byte = data[pos]
            if byte == 10:  # LF: padding after a NUL, or a heart-beat
                if after_nul:
                    after_nul = False
                else:
                    append(HEARTBEAT)
                pos += 1
                continue
            if byte == 13:  # CR: must be the start of a CRLF
                if pos + 1 == size:
                    self._cr = True
                    break
                if data[pos + 1] != 10:
                    raise ProtocolError("a CR between frames is not followed by LF")
                if after_nul:
                    after_nul = False
                else:
                    append(HEARTBEAT)
                pos += 2
                continue
            after_nul = False

            # The header section ends at the first blank line (LF LF, or LF CR LF), which must
            # come before the first NUL. That NUL also ends the body when there is no
            # content-length, so one memchr serves both.
            nul = find(b"\0", pos)
            limit = nul if nul >= 0 else size
            end = find(b"\n\n", pos, limit)
            if end >= 0:
                body_start = end + 2
                if find(b"\r", pos, end) >= 0:
                    crlf = find(b"\n\r\n", pos, end + 2)
                    if crlf >= 0:
                        end = crlf
                        body_start = crlf + 3
            else:
                end = find(b"\n\r\n", pos, limit)
                if end < 0:
                    if nul >= 0:
                        raise ProtocolError("NUL inside a header section")
                    self._start_head(data, pos)
                    break
                body_start = end + 3
            if end - pos >= max_line or end - pos >= max_frame:
                self._check_head_limits(data, pos, end)

            try:
                text = data[pos:end].decode()
            except UnicodeDecodeError as exc:
                raise ProtocolError(
                    f"header section is not valid UTF-8 (byte {exc.start} of the frame)"
                ) from None
            lines = text.split("\n")
            if "\r" in text:
                lines = [line[:-1] if line[-1:] == "\r" else line for line in lines]
            command = lines[0]
            if len(lines) == 1:
                headers: Headers = ()
            else:
                if len(lines) > max_lines:
                    raise TooManyHeaders(
                        f"{command} frame has {len(lines) - 1} header lines, more than "
                        f"max_headers={self._max_headers}"
                    )
                pairs: list[tuple[str, str]] = []
                add = pairs.append
                if "\\" not in text or unescape is None or command in UNESCAPED_COMMANDS:
                    for line in lines[1:]:
                        name, sep, value = line.partition(":")
                        if not sep:
                            raise _no_colon(command, line)
                        add((name, value))
                else:
                    for line in lines[1:]:
                        name, sep, value = line.partition(":")
                        if not sep:
                            raise _no_colon(command, line)
                        if "\\" in line:
                            # Escaped colons are by far the commonest escape: replace them
                            # inline, and fall back to the full rules if a backslash is left.
                            if "\\" in name:
                                plain = name.replace("\\c", ":")
                                name = plain if "\\" not in plain else unescape(name)
                            if "\\" in value:
                                plain = value.replace("\\c", ":")
                                value = plain if "\\" not in plain else unescape(value)
                        add((name, value))
                headers = tuple(pairs)

            # The first content-length header wins; its name never needs escaping.
            at = text.find("content-length:")
            while at >= 0 and (at == 0 or text[at - 1] != "\n"):  # not at a line start
                at = text.find("content-length:", at + 1)
            if at >= 0:
                at += 15
                stop = text.find("\n", at)
                value = text[at:] if stop < 0 else text[at:stop]
                if value[-1:] == "\r":
                    value = value[:-1]
                if not (value.isdigit() and value.isascii()):
                    raise _bad_length(command, value)
                length = int(value)
                frame_end = body_start + length
                oversized = frame_end + 1 - pos > max_frame
                if oversized and not self._discard:
                    raise FrameTooLarge(
                        f"{command} frame with content-length {length} is larger than "
                        f"max_frame_bytes={max_frame}"
                    )
                if frame_end >= size:
                    if oversized:
                        self._skip_to(
                            _SKIP_LENGTH, command, headers, data[body_start:], frame_end + 1 - size
                        )
                    else:
                        self._command = command
                        self._headers = headers
                        self._head_len = body_start - pos
                        self._parts = [data[body_start:]] if body_start < size else []
                        self._have = size - body_start
                        self._need = frame_end + 1 - size
                        self._stage = _BODY_LENGTH
                    pos = size
                    break
                if data[frame_end] != 0:
                    raise _no_nul_after(command, length)
                body_end = frame_end
            else:
                if nul < 0:
                    if size - pos >= max_frame:
                        if not self._discard:
                            raise FrameTooLarge(
                                f"{command} frame without content-length is larger than "
                                f"max_frame_bytes={max_frame} and has not ended"
                            )
                        self._skip_to(_SKIP_NUL, command, headers, data[body_start:])
                        pos = size
                        break
                    self._command = command
                    self._headers = headers
                    self._parts = [data[body_start:]] if body_start < size else []
                    self._room = max_frame - 1 - (size - pos)
                    self._stage = _BODY_NUL
                    pos = size
                    break
                oversized = nul + 1 - pos > max_frame
                if oversized and not self._discard:
                    raise FrameTooLarge(
                        f"{command} frame is larger than max_frame_bytes={max_frame}"
                    )
                body_end = nul
            if oversized:
                keep = min(body_end, body_start + self._prefix)
                append(
                    _make_oversized(command, headers, data[body_start:keep], body_end - body_start)
                )
            else:
                frame = _new_frame(Frame)
                _set_command(frame, command)
                _set_headers(frame, headers)
                _set_body(frame, data[body_start:body_end])
                append(frame)
            pos = body_end + 1
            if command == "CONNECTED" and self._follow:
                self._adopt(headers)
                unescape = self._unescape
            # One EOL right after the NUL is the frame's padding, not a heart-beat.
            if pos < size and data[pos] == 10:
                pos += 1
            else:
                after_nul = True
        self._after_nul = after_nul

    def _check_head_limits(self, data: bytes, pos: int, end: int) -> None:
        if end - pos >= self._max_frame:
            raise FrameTooLarge(
                f"header section of {end - pos} bytes reaches max_frame_bytes={self._max_frame}"
            )
        longest = max(map(len, data[pos:end].split(b"\n")))
        if longest > self._max_line:
            raise HeaderLineTooLong(
                f"a header line of {longest} bytes is longer than max_header_line={self._max_line}"
            )
