"""Stop signals, for both modes: the first one stops gracefully, a second one at once.

`catch_early_signals()` is called first thing by the CLI: a SIGTERM or SIGINT that arrives
while the configuration is read or logging is set up is remembered instead of killing the
process, and the mode's signal watcher (`watch_stop_signals`) acts on it as soon as it starts.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Callable
from types import FrameType

__all__ = ["STOP_SIGNALS", "catch_early_signals", "early_signal", "watch_stop_signals"]

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


async def watch_stop_signals(
    signals: AsyncIterator[int],
    log: logging.Logger,
    *,
    stopping: Callable[[], bool],
    stop: Callable[[], None],
    stop_now: Callable[[], None],
) -> None:
    """Act on the stop *signals* (from `trio.open_signal_receiver(*STOP_SIGNALS)`) until the
    second: one caught during start-up (`early_signal`), or the first while not *stopping*,
    calls *stop* (a graceful shutdown); one while *stopping* calls *stop_now*, and the watch
    ends. Each is said on *log*."""
    early = early_signal()
    if early is not None:
        log.info("%s during start-up: stopping", signal.Signals(early).name)
        stop()
    async for signum in signals:
        name = signal.Signals(signum).name
        if not stopping():
            log.info("%s: stopping (again to stop at once)", name)
            stop()
        else:
            log.warning("%s again: stopping at once", name)
            stop_now()
            return
