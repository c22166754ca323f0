"""The durable inbox and outbox: an append-only journal under MESSAGE_STORE_DIR.

Three kinds of record, one per line, each line `<crc32 hex> <json>`:

- `request`: an accepted asynchronous request (the inbox), written and fdatasynced before
  the broker gets its ACK;
- `completion`: a job's completion waiting for the broker's RECEIPT (the outbox);
- `done`: the completion of a job was receipted; the job is forgotten.

A batch of records is one write and one fdatasync, which is what lets a burst of jobs through
at disk speed (one fsync per file per job costs several times more). A record is atomic: a
line cut short by a crash fails its checksum and is ignored (it was never acknowledged, so
the broker still has it). A damaged record elsewhere is copied to `damaged.log` and
reported, never silently dropped.

The journal is compacted into a new file (written, fsynced, renamed into place, folder
fsynced) when it is opened and whenever it has grown past `compact_bytes` with mostly
finished jobs in it. The methods block: call them from a worker thread
(`trio.to_thread.run_sync`), one at a time.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import metrics
from ..commands.base import JobRequest
from .completion import Completion

__all__ = ["MessageStore", "StoreInUse"]

log = logging.getLogger(__name__)

JOURNAL = "journal.log"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _line(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class StoreInUse(Exception):
    """Another process has this message store open."""


class MessageStore:
    def __init__(self, root: Path, *, compact_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = root
        self.path = root / JOURNAL
        self.compact_bytes = compact_bytes
        root.mkdir(parents=True, exist_ok=True)
        # One process per store: two writers would each compact the other's records away.
        self._lock = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock)
            raise StoreInUse(
                f"message store {root} is in use by another plastrond process"
            ) from None
        self._fd = -1
        # What the journal holds, by job id: the live state it would replay to.
        self._requests: dict[str, dict[str, Any]] = {}
        self._completions: dict[str, dict[str, Any]] = {}
        self._replay()
        self._compact()
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._count()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    # --- writing ---------------------------------------------------------------------------

    def _append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        _write_all(self._fd, b"".join(_line(r) for r in records))
        os.fdatasync(self._fd)
        if os.fstat(self._fd).st_size > self.compact_bytes:
            live = len(self._requests) + len(self._completions)
            if live * 1024 < self.compact_bytes // 4:
                self._compact()

    def save_requests(self, requests: Iterable[JobRequest]) -> None:
        """Keep requests durably (one fdatasync for the batch)."""
        self.write_batch([("requests", list(requests))])

    def save_completions(self, completions: Iterable[Completion]) -> None:
        self.write_batch([("completions", list(completions))])

    def remove(self, job_ids: Iterable[str]) -> None:
        """Forget jobs whose completion was receipted."""
        self.write_batch([("remove", list(job_ids))])

    def write_batch(
        self,
        operations: Iterable[tuple[str, list[Any]]],
    ) -> None:
        """Several operations in order ("requests", "completions", "remove"), one fdatasync."""
        records: list[dict[str, Any]] = []
        for kind, items in operations:
            for item in items:
                if kind == "requests":
                    data = item.to_json()
                    self._requests[item.job_id] = data
                    records.append({"type": "request", **data})
                elif kind == "completions":
                    data = item.to_json()
                    self._completions[item.job_id] = data
                    records.append({"type": "completion", **data})
                elif kind == "remove":
                    self._requests.pop(item, None)
                    self._completions.pop(item, None)
                    records.append({"type": "done", "job_id": item})
                else:
                    raise ValueError(f"unknown store operation {kind!r}")
        try:
            self._append(records)
        finally:
            self._count()

    def _count(self) -> None:
        metrics.INBOX_DEPTH.set(len(self._requests))
        metrics.OUTBOX_DEPTH.set(len(self._completions))

    # --- reading ---------------------------------------------------------------------------

    def has_request(self, job_id: str) -> bool:
        return job_id in self._requests

    def has_completion(self, job_id: str) -> bool:
        return job_id in self._completions

    def load_requests(self) -> list[JobRequest]:
        """Requests not yet done, oldest first."""
        requests = []
        for job_id, data in self._requests.items():
            try:
                requests.append(JobRequest.from_json(data))
            except (KeyError, TypeError, ValueError) as e:
                log.error("stored request for %r is not a request: %s", job_id, e)
        requests.sort(key=lambda r: r.received)
        return requests

    def load_completions(self) -> list[Completion]:
        completions = []
        for job_id, data in self._completions.items():
            try:
                completions.append(Completion.from_json(data))
            except (KeyError, TypeError, ValueError) as e:
                log.error("stored completion for %r is not a completion: %s", job_id, e)
        return completions

    # --- replay and compaction ---------------------------------------------------------------

    def _replay(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        lines = data.split(b"\n")
        # The last piece has no newline: empty, or a write a crash cut short.
        complete, tail = lines[:-1], lines[-1]
        if tail:
            log.warning("ignoring an incomplete last record in %s (never acknowledged)", self.path)
        for number, line in enumerate(complete, 1):
            record = self._decode(line)
            if record is None:
                log.error("damaged record at %s line %d kept in damaged.log", self.path, number)
                with (self.root / "damaged.log").open("ab") as damaged:
                    damaged.write(line + b"\n")
                continue
            kind = record.pop("type", None)
            job_id = str(record.get("job_id", ""))
            if kind == "request":
                self._requests[job_id] = record
            elif kind == "completion":
                self._completions[job_id] = record
            elif kind == "done":
                self._requests.pop(job_id, None)
                self._completions.pop(job_id, None)
            else:
                log.error("unknown record type %r at %s line %d", kind, self.path, number)

    @staticmethod
    def _decode(line: bytes) -> dict[str, Any] | None:
        checksum, _, payload = line.partition(b" ")
        try:
            if int(checksum, 16) != zlib.crc32(payload):
                return None
            record = json.loads(payload)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def _compact(self) -> None:
        """Rewrite the journal with only the live records (atomic replace)."""
        tmp = self.root / f".{JOURNAL}.tmp"
        records = [{"type": "request", **d} for d in self._requests.values()]
        records += [{"type": "completion", **d} for d in self._completions.values()]
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _write_all(fd, b"".join(_line(r) for r in records))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.root)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
