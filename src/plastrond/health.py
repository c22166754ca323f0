"""What `GET /health` answers: whether this stomp daemon can take and keep jobs right now.

The daemon tells a `Health` about its broker session (opened, lost) and about the writes of
its message store (failed, succeeded); the admin listener asks `problems()` on every probe.
Healthy means: a STOMP session is open, and the message store is writable (its last write
did not fail, and its file system has room). Each problem is one line saying what is wrong.

Like `metrics`, this module imports nothing of plastrond, so any layer may report to it (it
spells out `errors.describe`'s rule for an OSError, with the file name, for that reason).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

__all__ = ["MIN_FREE_BYTES", "Health"]

#: below this much free space on its file system the message store counts as full: a burst of
#: requests (a few KiB each) could not be kept
MIN_FREE_BYTES = 1024 * 1024


class Health:
    def __init__(self, store_dir: Path | None = None, *, min_free_bytes: int = MIN_FREE_BYTES):
        self.store_dir = store_dir
        self.min_free_bytes = min_free_bytes
        #: `time.monotonic()` when the current broker session opened; None while there is none
        self.session_since: float | None = None
        self.broker: str | None = None
        self.broker_problem = "not connected to the broker yet"
        self.store_problem: str | None = None
        #: why no jobs are taken (the inbox cannot be written), None while they are
        self.intake_problem: str | None = None
        self.stopping = False

    # --- reports -------------------------------------------------------------------------

    def session_opened(self, broker: str) -> None:
        self.session_since = time.monotonic()
        self.broker = broker
        self.broker_problem = ""

    def session_lost(self, reason: str) -> None:
        self.session_since = None
        self.broker_problem = f"no broker session: {reason}"

    def store_failed(self, error: OSError) -> None:
        what = error.strerror or str(error)
        where = f" ({error.filename})" if error.filename else ""
        # The store's own errors say already which store and what failed.
        prefix = "" if what.startswith("message store") else "message store write failed: "
        self.store_problem = f"{prefix}{what}{where}"

    def store_written(self) -> None:
        self.store_problem = None

    def intake_paused(self, error: OSError | None) -> None:
        """The intake stopped taking jobs because of *error*, or (None) goes on again."""
        if error is None:
            self.intake_problem = None
        else:
            held = "the requests held stay unacknowledged with the broker"
            self.intake_problem = f"not taking jobs: the inbox cannot be written; {held}"

    def store_result(self, error: OSError | None) -> None:
        """How the last write of the message store went (None: it was written)."""
        if error is None:
            self.store_written()
        else:
            self.store_failed(error)

    # --- questions -----------------------------------------------------------------------

    def session_uptime(self) -> float:
        return 0.0 if self.session_since is None else time.monotonic() - self.session_since

    def problems(self) -> list[str]:
        """Every reason this daemon is not healthy now (empty when it is). Blocks on a
        `statvfs` of the store folder: call it from a worker thread."""
        found: list[str] = []
        if self.stopping:
            found.append("stopping")
        if self.session_since is None:
            found.append(self.broker_problem)
        if self.store_problem is not None:
            found.append(self.store_problem)
        if self.intake_problem is not None:
            found.append(self.intake_problem)
        space = self._store_space_problem()
        if space is not None:
            found.append(space)
        return found

    def _store_space_problem(self) -> str | None:
        if self.store_dir is None:
            return None
        try:
            stats = os.statvfs(self.store_dir)
        except OSError as e:
            return f"message store {self.store_dir} cannot be examined: {e.strerror or e}"
        free = stats.f_bavail * stats.f_frsize
        if free < self.min_free_bytes:
            return f"message store {self.store_dir} is full ({free} bytes free)"
        if not os.access(self.store_dir, os.W_OK):
            return f"message store {self.store_dir} is not writable"
        return None
