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
reported, never silently dropped; so is a record whose checksum holds but whose fields do not
make a request or a completion (wrong types, unknown kind): the store opens regardless.

A write that fails (a full disk, an I/O error, a failed fdatasync) leaves the journal exactly
as it was: the file is cut back to the end of the last good batch, and the store's state is
not changed, before `StoreWriteError` (an OSError) is raised. Should even the cut fail, no
later batch is written until it succeeds, so a partial record is never followed by a good
one; and should a crash leave one anyway, the good record glued to it is still found on replay.

How the daemon uses it when the disk fills: a failed `write_batch` raises StoreWriteError,
and nothing of that batch is kept (do not ACK its requests); `failure` holds the error until a
later write succeeds, so the daemon can say once that the store cannot write, stop taking
jobs, and retry (a `write_batch` that succeeds clears it).

The journal is compacted into a new file (written, fsynced, renamed into place, folder
fsynced) when it is opened and whenever it has grown past `compact_bytes` with mostly
finished jobs in it. The methods block: call them from a worker thread
(`trio.to_thread.run_sync`), one at a time.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .. import metrics
from ..durable import fsync_dir, write_all
from ..errors import PlastronError
from .completion import Completion
from .request import JobRequest

__all__ = ["MessageStore", "StoreInUse", "StoreWriteError"]

log = logging.getLogger(__name__)

JOURNAL = "journal.log"
DAMAGED = "damaged.log"
#: where a record starts: its checksum and a space, then a JSON object
_RECORD_START = re.compile(rb"[0-9a-f]{8} \{")


def _line(record: dict[str, Any]) -> bytes:
    payload = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


class StoreInUse(PlastronError):
    """Another process has this message store open."""


class StoreWriteError(PlastronError, OSError):
    """The message store could not write a batch (a full disk, an I/O error); the journal is
    as it was before the batch and nothing of the batch is kept. `errno` is the cause's."""


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )


def _is_body(value: Any) -> bool:
    if isinstance(value, str):
        return True
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get("text", value.get("base64")), str)
    )


def _request_problem(record: dict[str, Any]) -> str | None:
    """Why *record* is not a stored request (None when it is one)."""
    checks: list[tuple[str, Callable[[Any], bool]]] = [
        ("job_id", lambda v: isinstance(v, str) and bool(v)),
        ("command", lambda v: isinstance(v, str)),
        ("args", _is_str_map),
        ("body", _is_body),
        ("synchronous", lambda v: isinstance(v, bool)),
        ("reply_to", lambda v: v is None or isinstance(v, str)),
        ("received", lambda v: isinstance(v, int | float) and not isinstance(v, bool)),
    ]
    for name, ok in checks:
        if name not in record and name in ("job_id", "command"):
            return f"no {name}"
        if name in record and not ok(record[name]):
            return f"{name} has the wrong type ({type(record[name]).__name__})"
    try:
        JobRequest.from_json(record)
    except Exception as e:  # anything at all: the record is set aside, the store opens
        return f"not a request: {type(e).__name__}: {e}"
    return None


def _completion_problem(record: dict[str, Any]) -> str | None:
    """Why *record* is not a stored completion (None when it is one)."""
    headers = record.get("headers")
    if not isinstance(record.get("job_id"), str) or not record.get("job_id"):
        return "no job_id"
    if not isinstance(record.get("destination"), str):
        return "no destination"
    if not isinstance(headers, list) or not all(
        isinstance(h, list) and len(h) == 2 and all(isinstance(x, str) for x in h) for h in headers
    ):
        return "headers has the wrong type"
    if not _is_body(record.get("body")):
        return "body has the wrong type"
    try:
        Completion.from_json(record)
    except Exception as e:  # anything at all: the record is set aside, the store opens
        return f"not a completion: {type(e).__name__}: {e}"
    return None


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
        #: bytes of the journal that are whole, good batches (what a failed write cuts back to)
        self._size = 0
        #: a failed write could not be cut back yet: write nothing until it is
        self._needs_cut = False
        #: the last write's failure, None once a write succeeds
        self.failure: StoreWriteError | None = None
        # What the journal holds, by job id: the live state it would replay to.
        self._requests: dict[str, dict[str, Any]] = {}
        self._completions: dict[str, dict[str, Any]] = {}
        good_length, damaged_kept = self._replay()
        compacted = False
        if damaged_kept:
            try:
                self._compact()
                compacted = True
            except OSError as e:
                log.warning(
                    "cannot compact the message store %s (%s); using the journal as it is",
                    self.path,
                    e.strerror or e,
                )
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if not compacted:
            # Cut an incomplete last record off, or the next batch would be glued to it.
            os.ftruncate(self._fd, good_length)
        self._size = os.fstat(self._fd).st_size
        # Read at each scrape (nothing to do per write): the latest store opened is counted.
        metrics.INBOX_DEPTH.set_function(lambda: len(self._requests))
        metrics.OUTBOX_DEPTH.set_function(lambda: len(self._completions))

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1

    # --- writing ---------------------------------------------------------------------------

    def _failed(self, e: OSError, what: str) -> StoreWriteError:
        error = StoreWriteError(
            e.errno or errno.EIO,
            f"message store {self.root} cannot {what}: {e.strerror or e}; the batch was not stored",
        )
        self.failure = error
        return error

    def _cut_back(self) -> bool:
        """Cut the journal back to its last good batch; False when that failed too."""
        try:
            os.ftruncate(self._fd, self._size)
            os.fdatasync(self._fd)
        except OSError as e:
            log.error("message store %s: cannot cut back a failed write: %s", self.path, e)
            self._needs_cut = True
            return False
        self._needs_cut = False
        return True

    def _append(self, records: list[dict[str, Any]]) -> None:
        if not records:
            return
        data = b"".join(_line(r) for r in records)
        if self._needs_cut and not self._cut_back():
            raise self._failed(OSError(errno.EIO, "a failed write is not cut back yet"), "write")
        try:
            write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError as e:
            self._cut_back()
            raise self._failed(e, "write") from None
        self._size += len(data)
        self.failure = None

    def _after_append(self) -> None:
        if self._size > self.compact_bytes:
            live = len(self._requests) + len(self._completions)
            if live * 1024 < self.compact_bytes // 4:
                try:
                    self._compact()
                except OSError as e:  # the journal as it was is still good
                    log.warning("cannot compact the message store %s: %s", self.path, e)

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
        """Several operations in order ("requests", "completions", "remove"), one fdatasync.

        All or nothing: StoreWriteError leaves the journal and the store's state as they were.
        """
        records: list[dict[str, Any]] = []
        for kind, items in operations:
            for item in items:
                if kind == "requests":
                    records.append({"type": "request", **item.to_json()})
                elif kind == "completions":
                    records.append({"type": "completion", **item.to_json()})
                elif kind == "remove":
                    records.append({"type": "done", "job_id": item})
                else:
                    raise ValueError(f"unknown store operation {kind!r}")
        self._append(records)
        for record in records:
            self._apply(record)
        self._after_append()

    def _apply(self, record: dict[str, Any]) -> None:
        data = dict(record)
        kind = data.pop("type")
        job_id = data["job_id"]
        if kind == "request":
            self._requests[job_id] = data
        elif kind == "completion":
            self._completions[job_id] = data
        else:
            self._requests.pop(job_id, None)
            self._completions.pop(job_id, None)

    # --- reading ---------------------------------------------------------------------------

    def has_request(self, job_id: str) -> bool:
        return job_id in self._requests

    def has_completion(self, job_id: str) -> bool:
        return job_id in self._completions

    def load_requests(self) -> list[JobRequest]:
        """Requests not yet done, oldest first (each was checked on replay)."""
        requests = [JobRequest.from_json(data) for data in self._requests.values()]
        requests.sort(key=lambda r: r.received)
        return requests

    def load_completions(self) -> list[Completion]:
        return [Completion.from_json(data) for data in self._completions.values()]

    # --- replay and compaction ---------------------------------------------------------------

    def _replay(self) -> tuple[int, bool]:
        """Read the journal into the live state. Returns how many leading bytes are whole
        lines, and whether compaction may drop the damaged records (they are safe in
        damaged.log)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return 0, True
        lines = data.split(b"\n")
        # The last piece has no newline: empty, or a write a crash cut short.
        complete, tail = lines[:-1], lines[-1]
        if tail:
            log.warning("ignoring an incomplete last record in %s (never acknowledged)", self.path)
        damaged: list[bytes] = []
        for number, line in enumerate(complete, 1):
            for piece, record in self._pieces(line):
                problem = "checksum or JSON" if record is None else self._problem(record)
                if problem is not None:
                    log.warning(
                        "damaged record at %s line %d (%s), kept in %s",
                        self.path,
                        number,
                        problem,
                        DAMAGED,
                    )
                    damaged.append(piece)
                    continue
                assert record is not None
                self._apply(record)
        safe = True
        if damaged:
            try:
                with (self.root / DAMAGED).open("ab") as out:
                    out.write(b"".join(piece + b"\n" for piece in damaged))
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as e:
                log.error("cannot write %s (%s): the journal is kept as it is", DAMAGED, e)
                safe = False
        return len(data) - len(tail), safe

    @classmethod
    def _pieces(cls, line: bytes) -> list[tuple[bytes, dict[str, Any] | None]]:
        """The line's record, or when it does not decode, its damaged part and any good
        record glued after it (a write cut short, then a good batch appended to it)."""
        record = cls._decode(line)
        if record is not None or not line:
            return [(line, record)]
        for match in _RECORD_START.finditer(line, 1):
            rest = cls._pieces(line[match.start() :])
            if rest[0][1] is not None:
                return [(line[: match.start()], None), *rest]
        return [(line, None)]

    @staticmethod
    def _problem(record: dict[str, Any]) -> str | None:
        kind = record.get("type")
        if kind == "request":
            return _request_problem(record)
        if kind == "completion":
            return _completion_problem(record)
        if kind == "done":
            job_id = record.get("job_id")
            return None if isinstance(job_id, str) else "done without a job_id"
        return f"unknown record type {kind!r}"

    @staticmethod
    def _decode(line: bytes) -> dict[str, Any] | None:
        checksum, _, payload = line.partition(b" ")
        try:
            if len(checksum) != 8 or int(checksum, 16) != zlib.crc32(payload):
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
            try:
                write_all(fd, b"".join(_line(r) for r in records))
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        fsync_dir(self.root)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._size = os.fstat(self._fd).st_size
