"""stompframe: a sans-IO STOMP 1.0/1.1/1.2 codec and client protocol state machine.

Nothing here reads a socket, starts a thread or looks at a clock: bytes and times go in,
frames, bytes and decisions come out.

* `Frame`, `Heartbeat`: the immutable events; `OversizedFrame`, what a parser made with
  ``discard_oversized=True`` gives for a frame whose body is over its limit (headers and the
  first bytes of the body; the rest is dropped as it streams in).
* `Parser`: bytes in (any chunking), events out, with limits.
* `encode`: a frame to bytes, escaped for a protocol version.
* `ClientConnection`: the client side of a session (CONNECT, subscriptions, ACK/NACK,
  receipts, heart-beat timing, DISCONNECT, ERROR) as an explicit state machine.
* `StompError`, the root of: `ProtocolError` and its subclasses (everything malformed input
  can raise) and `LocalProtocolError` (a frame or call the protocol cannot express).
"""

from ._connection import ClientConnection, ExtraHeaders, State, Subscription
from ._encoder import encode
from ._errors import (
    FrameTooLarge,
    HeaderLineTooLong,
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    StompError,
    TooManyHeaders,
)
from ._frame import SUPPORTED_VERSIONS, Event, Frame, Headers, Heartbeat, OversizedFrame
from ._parser import (
    DEFAULT_MAX_FRAME_BYTES,
    DEFAULT_MAX_HEADER_LINE,
    DEFAULT_MAX_HEADERS,
    DEFAULT_OVERSIZED_PREFIX,
    UNESCAPED_COMMANDS,
    Parser,
)

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "DEFAULT_MAX_HEADERS",
    "DEFAULT_MAX_HEADER_LINE",
    "DEFAULT_OVERSIZED_PREFIX",
    "SUPPORTED_VERSIONS",
    "UNESCAPED_COMMANDS",
    "ClientConnection",
    "Event",
    "ExtraHeaders",
    "Frame",
    "FrameTooLarge",
    "HeaderLineTooLong",
    "Headers",
    "Heartbeat",
    "LimitExceeded",
    "LocalProtocolError",
    "OversizedFrame",
    "Parser",
    "ProtocolError",
    "State",
    "StompError",
    "Subscription",
    "TooManyHeaders",
    "encode",
]
