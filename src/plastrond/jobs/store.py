"""The durable inbox and outbox: an append-only journal under MESSAGE_STORE_DIR.

Three kinds of record (`RecordKind`), one per line, each line `<crc32 hex> <json>`, the
JSON object's `type` naming the kind:

- `request`: an accepted asynchronous request (the inbox), written and fdatasynced before
  the broker gets its ACK;
- `completion`: a job's completion waiting for the broker's RECEIPT (the outbox);
- `done`: the completion of a job was receipted, or its request was withdrawn unacknowledged
  (its broker session ended while it was written); the job is forgotten.

`_encode` is the one place a record becomes a line, `_decode` the one place a line becomes a
record (or the reason it is damaged).

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

import enum
import errno
import fcntl
import json
import logging
import os
import re
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from ..durable import atomic_write, write_all
from ..errors import PlastronError, describe
from .completion import Completion
from .request import JobRequest

__all__ = ["MessageStore", "RecordKind", "StoreInUse", "StoreWriteError"]

log = logging.getLogger(__name__)

JOURNAL = "journal.log"
DAMAGED = "damaged.log"
#: where a record starts: its checksum and a space, then a JSON object
_RECORD_START = re.compile(rb"[0-9a-f]{8} \{")


class RecordKind(enum.StrEnum):
    """What a journal record says; the value is its `type` on disk. `write_batch` takes
    operations as a kind and its items: JobRequests, Completions, or the job ids done."""

    REQUEST = "request"
    COMPLETION = "completion"
    DONE = "done"


#: one operation of `MessageStore.write_batch`
Operation = tuple[RecordKind, Sequence[Any]]
#: what the items of an operation of each kind are
_ITEM_TYPES: dict[RecordKind, type] = {
    RecordKind.REQUEST: JobRequest,
    RecordKind.COMPLETION: Completion,
    RecordKind.DONE: str,
}


@attrs.frozen
class _Record:
    """One journal record: its kind and its fields (the JSON object but its `type`)."""

    kind: RecordKind
    fields: dict[str, Any]

    @property
    def job_id(self) -> str:
        job_id: str = self.fields["job_id"]
        return job_id

    @classmethod
    def of(cls, kind: RecordKind, item: Any) -> _Record:
        """The record that keeps *item* (a JobRequest, a Completion, a done job's id)."""
        expected = _ITEM_TYPES[kind]
        if not isinstance(item, expected):
            raise TypeError(f"a {kind} record keeps a {expected.__name__}, not {item!r}")
        if isinstance(item, str):
            return cls(kind, {"job_id": item})
        assert isinstance(item, JobRequest | Completion)
        return cls(kind, item.to_json())


def _encode(record: _Record) -> bytes:
    """The journal line of *record*: `<crc32 hex> <json>` and a newline."""
    data = {"type": record.kind.value, **record.fields}
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


#: why `_decode` refused a line whose checksum or JSON is broken (a write cut short)
_UNREADABLE = "checksum or JSON"


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


def _unloadable(
    kind: type[JobRequest | Completion], record: dict[str, Any], what: str
) -> str | None:
    """Why *kind* cannot be made of *record* (None when it can)."""
    try:
        kind.from_json(record)
    except Exception as e:  # anything at all: the record is set aside, the store opens
        return f"not {what}: {describe(e, named=True)}"
    return None


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
    return _unloadable(JobRequest, record, "a request")


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
    return _unloadable(Completion, record, "a completion")


def _done_problem(record: dict[str, Any]) -> str | None:
    return None if isinstance(record.get("job_id"), str) else "done without a job_id"


#: why a record of each kind is not one (None when it is)
_PROBLEMS: dict[RecordKind, Callable[[dict[str, Any]], str | None]] = {
    RecordKind.REQUEST: _request_problem,
    RecordKind.COMPLETION: _completion_problem,
    RecordKind.DONE: _done_problem,
}


def _decode(line: bytes) -> _Record | str:
    """The record of one journal line, or why it is not one (`_UNREADABLE` when its checksum
    or JSON is broken; else what is wrong with its kind or fields)."""
    checksum, _, payload = line.partition(b" ")
    try:
        if len(checksum) != 8 or int(checksum, 16) != zlib.crc32(payload):
            return _UNREADABLE
        data = json.loads(payload)
    except ValueError:
        return _UNREADABLE
    if not isinstance(data, dict):
        return _UNREADABLE
    try:
        kind = RecordKind(str(data.get("type")))
    except ValueError:
        return f"unknown record type {data.get('type')!r}"
    problem = _PROBLEMS[kind](data)
    if problem is not None:
        return problem
    del data["type"]
    return _Record(kind, data)


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
        # What the journal holds, by job id: the live state it would replay to (the fields of
        # each job's request and completion records).
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
                    describe(e),
                )
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if not compacted:
            # Cut an incomplete last record off, or the next batch would be glued to it.
            os.ftruncate(self._fd, good_length)
        self._size = os.fstat(self._fd).st_size

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
            f"message store {self.root} cannot {what}: {describe(e)}; the batch was not stored",
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

    def _append(self, records: list[_Record]) -> None:
        if not records:
            return
        data = b"".join(_encode(r) for r in records)
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
        self.write_batch([(RecordKind.REQUEST, list(requests))])

    def save_completions(self, completions: Iterable[Completion]) -> None:
        self.write_batch([(RecordKind.COMPLETION, list(completions))])

    def remove(self, job_ids: Iterable[str]) -> None:
        """Forget jobs whose completion was receipted."""
        self.write_batch([(RecordKind.DONE, list(job_ids))])

    def write_batch(self, operations: Iterable[Operation]) -> None:
        """Several operations in order, one fdatasync: each a kind and its items (requests to
        keep, completions to keep, ids of jobs done).

        All or nothing: StoreWriteError leaves the journal and the store's state as they were.
        """
        records = [_Record.of(kind, item) for kind, items in operations for item in items]
        self._append(records)
        for record in records:
            self._apply(record)
        self._after_append()

    def _apply(self, record: _Record) -> None:
        job_id = record.job_id
        if record.kind is RecordKind.REQUEST:
            self._requests[job_id] = record.fields
        elif record.kind is RecordKind.COMPLETION:
            self._completions[job_id] = record.fields
        else:
            self._requests.pop(job_id, None)
            self._completions.pop(job_id, None)

    # --- reading ---------------------------------------------------------------------------

    def has_request(self, job_id: str) -> bool:
        return job_id in self._requests

    def has_completion(self, job_id: str) -> bool:
        return job_id in self._completions

    def request_count(self) -> int:
        """Requests not yet done (the inbox's depth)."""
        return len(self._requests)

    def completion_count(self) -> int:
        """Completions not yet receipted (the outbox's depth)."""
        return len(self._completions)

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
                if isinstance(record, str):
                    log.warning(
                        "damaged record at %s line %d (%s), kept in %s",
                        self.path,
                        number,
                        record,
                        DAMAGED,
                    )
                    damaged.append(piece)
                    continue
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
    def _pieces(cls, line: bytes) -> list[tuple[bytes, _Record | str]]:
        """The line's record (or why it is damaged), or when the line itself is unreadable,
        its damaged part and any record glued after it (a write cut short, then a good batch
        appended to it)."""
        record = _decode(line)
        if record != _UNREADABLE or not line:
            return [(line, record)]
        for match in _RECORD_START.finditer(line, 1):
            rest = cls._pieces(line[match.start() :])
            if rest[0][1] != _UNREADABLE:
                return [(line[: match.start()], _UNREADABLE), *rest]
        return [(line, _UNREADABLE)]

    def _compact(self) -> None:
        """Rewrite the journal with only the live records (atomic replace)."""
        records = [_Record(RecordKind.REQUEST, f) for f in self._requests.values()]
        records += [_Record(RecordKind.COMPLETION, f) for f in self._completions.values()]
        atomic_write(self.path, b"".join(_encode(r) for r in records), mode=0o600)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._size = os.fstat(self._fd).st_size
