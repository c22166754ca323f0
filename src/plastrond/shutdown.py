"""Stop signals that arrive before a mode's trio run is listening for them.

`catch_early_signals()` is called first thing by the CLI: a SIGTERM or SIGINT that arrives
while the configuration is read or logging is set up is remembered instead of killing the
process, and the mode's signal watcher acts on it as soon as it starts.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["STOP_SIGNALS", "catch_early_signals", "early_signal"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_pending: list[int] = []


def _remember(signum: int, frame: FrameType | None) -> None:
    _pending.append(signum)


def catch_early_signals() -> None:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _remember)


def early_signal() -> int | None:
    """The first stop signal received before anyone listened, if any."""
    return _pending[0] if _pending else None
