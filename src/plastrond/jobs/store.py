"""The durable inbox and outbox, one JSON file per job under MESSAGE_STORE_DIR.

- `inbox/<job id segment>.json`: an accepted asynchronous request, written (and fsynced)
  before the broker gets its ACK, removed only after its completion was receipted.
- `outbox/<job id segment>.json`: a completion waiting for the broker's RECEIPT.

Every write is atomic: a temporary file is written and fsynced, renamed into place, and the
folder is fsynced; a batch of writes shares one folder fsync. A file that cannot be read back
is moved to `damaged/` and reported, never silently dropped. The methods block: call them
from a worker thread (`trio.to_thread.run_sync`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..commands.base import JobRequest
from .completion import Completion
from .ids import job_id_segment

__all__ = ["MessageStore"]

log = logging.getLogger(__name__)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class MessageStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.inbox = root / "inbox"
        self.outbox = root / "outbox"
        self.damaged = root / "damaged"
        for folder in (self.inbox, self.outbox):
            folder.mkdir(parents=True, exist_ok=True)

    # --- writing ---------------------------------------------------------------------------

    def _write_all(self, folder: Path, items: Iterable[tuple[str, dict[str, Any]]]) -> None:
        wrote = False
        for job_id, data in items:
            final = folder / f"{job_id_segment(job_id)}.json"
            tmp = folder / f".{final.name}.tmp"
            payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(payload)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, final)
            wrote = True
        if wrote:
            _fsync_dir(folder)

    def save_requests(self, requests: Iterable[JobRequest]) -> None:
        """Write requests to the inbox durably (one folder fsync for the batch)."""
        self._write_all(self.inbox, ((r.job_id, r.to_json()) for r in requests))

    def save_completions(self, completions: Iterable[Completion]) -> None:
        self._write_all(self.outbox, ((c.job_id, c.to_json()) for c in completions))

    def remove(self, job_ids: Iterable[str]) -> None:
        """Forget jobs whose completion was receipted: the inbox entry first, so that a crash
        in between can only resend a completion, never run a finished job again."""
        ids = list(job_ids)
        for folder in (self.inbox, self.outbox):
            removed = False
            for job_id in ids:
                try:
                    (folder / f"{job_id_segment(job_id)}.json").unlink()
                    removed = True
                except FileNotFoundError:
                    pass
            if removed:
                _fsync_dir(folder)

    # --- reading ---------------------------------------------------------------------------

    def has_request(self, job_id: str) -> bool:
        return (self.inbox / f"{job_id_segment(job_id)}.json").exists()

    def has_completion(self, job_id: str) -> bool:
        return (self.outbox / f"{job_id_segment(job_id)}.json").exists()

    def _read_all(self, folder: Path) -> list[dict[str, Any]]:
        result = []
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") and path.name.endswith(".tmp"):
                # A write that a crash interrupted before its rename: never acknowledged.
                path.unlink(missing_ok=True)
                continue
            if path.suffix != ".json":
                continue
            try:
                data = json.loads(path.read_bytes())
                if not isinstance(data, dict) or "job_id" not in data:
                    raise ValueError("not a stored job")
            except (OSError, ValueError) as e:
                self.damaged.mkdir(exist_ok=True)
                target = self.damaged / path.name
                os.replace(path, target)
                log.error("unreadable message store file %s moved to %s: %s", path, target, e)
                continue
            result.append(data)
        return result

    def load_requests(self) -> list[JobRequest]:
        """Requests in the inbox, oldest first."""
        requests = []
        for data in self._read_all(self.inbox):
            try:
                requests.append(JobRequest.from_json(data))
            except (KeyError, TypeError, ValueError) as e:
                log.error("inbox entry for %r is not a request: %s", data.get("job_id"), e)
        requests.sort(key=lambda r: (r.received, r.job_id))
        return requests

    def load_completions(self) -> list[Completion]:
        completions = []
        for data in self._read_all(self.outbox):
            try:
                completions.append(Completion.from_json(data))
            except (KeyError, TypeError, ValueError) as e:
                log.error("outbox entry for %r is not a completion: %s", data.get("job_id"), e)
        return completions
