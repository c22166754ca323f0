"""The per-row validation reports of an import run: all on disk, a bounded share in memory.

    reports = ValidationReports(path, budget=...)       # <run folder>/validation.jsonl
    reports.add(number, report)                          # as each row finishes
    await reports.flush(limiter)                         # now and then, and at the end
    reports.for_completion()                             # the completion's `validation`
    reports.cut()                                        # None, or what was left out

Every report goes to the run folder's `validation.jsonl`, one JSON object a line in the order
the rows finished, appended in batches from a worker thread. The completion's `validation` list
(protocol.md) keeps reports only while their JSON fits in *budget* bytes: all of them (in row
order) while they fit; past that, only the invalid rows (those Archelon lists), the first ones
by line, as many as fit. So memory is bounded by the budget whatever the number of rows, and
the completion is never one that would have to be cut. `cut()` says what the list lacks and
where the whole is.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import trio

from ..errors import describe
from ..jobfolders import JobFolderError
from ..jobfolders.layout import VALIDATION_LOG

__all__ = ["FLUSH_BYTES", "VALIDATION_LOG", "ValidationReports"]

#: reports waiting in memory are appended to the file once they reach this many bytes
FLUSH_BYTES: Final = 256 * 1024


class ValidationReports:
    """The reports of one run (not thread-safe: the trio thread adds, one flush at a time)."""

    def __init__(self, path: Path | None, budget: int) -> None:
        #: None: reports are only counted and kept within the budget (no run folder)
        self.path = path
        self.budget = max(0, budget)
        self.count = 0
        #: (-row number, size, report): the kept reports, the highest row number first out
        self._kept: list[tuple[int, int, Mapping[str, Any]]] = []
        self._kept_bytes = 0
        #: whether valid reports are still kept (until the first time the budget is exceeded)
        self._all_rows = True
        self._left_out = 0
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._fd: int | None = None

    def add(self, number: int, report: Mapping[str, Any]) -> None:
        """One finished row's report (row *number* orders the completion's list)."""
        line = json.dumps(report, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        self.count += 1
        if self.path is not None:
            self._pending.append(line + b"\n")
            self._pending_bytes += len(line) + 1
        self._keep(number, len(line) + 2, report)  # ", " between list items

    def _keep(self, number: int, size: int, report: Mapping[str, Any]) -> None:
        if not self._all_rows and report.get("is_valid", False):
            self._left_out += 1
            return
        heapq.heappush(self._kept, (-number, size, report))
        self._kept_bytes += size
        if self._kept_bytes <= self.budget:
            return
        if self._all_rows:
            # Over the budget: from now on only invalid rows are kept.
            self._all_rows = False
            invalid = [k for k in self._kept if not k[2].get("is_valid", False)]
            self._left_out += len(self._kept) - len(invalid)
            heapq.heapify(invalid)
            self._kept = invalid
            self._kept_bytes = sum(k[1] for k in invalid)
        while self._kept_bytes > self.budget and self._kept:
            _, dropped, _ = heapq.heappop(self._kept)
            self._kept_bytes -= dropped
            self._left_out += 1

    @property
    def waiting(self) -> int:
        """Bytes of reports not yet appended to the file."""
        return self._pending_bytes

    async def flush(self, limiter: trio.CapacityLimiter | None = None) -> None:
        """Append the reports waiting to the file (in a worker thread)."""
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        await trio.to_thread.run_sync(self._write, data, limiter=limiter)

    def _write(self, data: bytes) -> None:
        assert self.path is not None
        try:
            if self._fd is None:
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
                self._fd = os.open(self.path, flags, 0o644)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as e:
            raise JobFolderError(f"{self.path.name}: cannot write: {describe(e)}") from None

    def close(self) -> None:
        """Close the file (blocking; what was not flushed is not written)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                os.fsync(fd)
            os.close(fd)

    def for_completion(self) -> list[Mapping[str, Any]]:
        """The kept reports, in row order."""
        return [k[2] for k in sorted(self._kept, key=lambda k: -k[0])]

    def cut(self) -> dict[str, Any] | None:
        """None when the completion's list has every report; else what it lacks: the number
        of reports, how many it kept, whether it kept only invalid rows, and the file."""
        if self._left_out == 0:
            return None
        return {
            "reports": self.count,
            "kept": len(self._kept),
            "only_invalid": not self._all_rows,
            "file": str(self.path) if self.path is not None else None,
            "note": (
                f"{self._left_out} of {self.count} row reports are not in this completion "
                f"(over {self.budget} bytes); every report is in the file"
            ),
        }
