"""The exceptions of stompframe: `StompError` at the root; beneath it `ProtocolError` (the peer
broke the protocol, with subclasses for limits) and, beside it, `LocalProtocolError` (the
caller asked for something STOMP cannot express)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._frame import Event

__all__ = [
    "FrameTooLarge",
    "HeaderLineTooLong",
    "LimitExceeded",
    "LocalProtocolError",
    "ProtocolError",
    "StompError",
    "TooManyHeaders",
]


class StompError(Exception):
    """Anything stompframe raises about STOMP (not `ValueError` for a bad argument type)."""


class ProtocolError(StompError):
    """The peer broke the STOMP protocol, or the bytes received are not STOMP.

    This is the only exception that `Parser` and `ClientConnection.receive` raise for malformed
    input; its message says what was wrong. After it, the stream is unusable: the parser and the
    connection stay in an error state and the caller should close the transport.
    """

    #: The events `Parser.feed` had parsed from the same piece of data before the error (the
    #: stream is broken, but a frame such as an ERROR that came before may still be of use).
    events: tuple[Event, ...] = ()


class LocalProtocolError(StompError):
    """The caller asked for something STOMP cannot express, or the state machine forbids.

    Examples: a header value with a line feed in a STOMP 1.0 frame, a SEND before CONNECTED,
    a NACK on a STOMP 1.0 session. Nothing was sent; the state is unchanged.
    """


class LimitExceeded(ProtocolError):
    """A frame exceeds one of the parser's limits. Raised as soon as the excess is known."""


class FrameTooLarge(LimitExceeded):
    """A frame is larger than ``max_frame_bytes`` (measured from its command to its NUL)."""


class TooManyHeaders(LimitExceeded):
    """A frame has more header lines than ``max_headers``."""


class HeaderLineTooLong(LimitExceeded):
    """A command or header line is longer than ``max_header_line`` bytes (without its EOL)."""
