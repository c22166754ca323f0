"""Reading import job folders, laid out as `shared/reference/import-export.md` fixes them.

    JOBS_DIR/<job_id_segment(job id)>/
        config.yml            job_id, model, access, member_of, container, binaries_location
        source.csv            the CSV as received
        completed.log.csv     id, timestamp, title, uri, status
        <YYYYMMDDHHMMSS>/     one folder per run, named by its UTC start time
            dropped-invalid.log.csv, dropped-failed.log.csv    id, timestamp, title, uri, reason

The import command writes these folders while the HTTP mode reads them, so a reader takes a
snapshot: each CSV file is cut at the end of its last complete record at the moment it is
opened (a row being appended is never half-read), and the `count` of a log always equals the
number of rows that `OpenLog.rows()` later yields, however much the file grows meanwhile.

A requested job id becomes one path segment (`plastrond.jobs.ids.job_id_segment`) that is
opened relative to JOBS_DIR's descriptor with O_NOFOLLOW, and every file inside relative to
the job folder's descriptor, so a request can only ever read a direct child of JOBS_DIR.

Everything here blocks; the HTTP app calls it through `trio.to_thread.run_sync`. The file
names come from `plastrond.imports.layout`; the writing side is `plastrond.imports.jobdir`.
"""

from __future__ import annotations

import csv
import datetime as dt
import errno
import io
import itertools
import os
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs
import yaml

# The names are shared with the import command, which writes these folders.
from ..imports.layout import (
    COMPLETED_LOG,
    CONFIG_FIELDS,
    CONFIG_FILE,
    FAILED_LOG,
    INVALID_LOG,
    RUN_NAME,
    SOURCE_FILE,
)
from ..jobs.ids import MAX_SEGMENT, job_id_segment, segment_job_id

__all__ = [
    "COMPLETED_LOG",
    "CONFIG_FIELDS",
    "CONFIG_FILE",
    "FAILED_LOG",
    "INVALID_LOG",
    "SOURCE_FILE",
    "BrokenJob",
    "CsvShape",
    "JobFolder",
    "JobNotFound",
    "JobReadError",
    "JobSummary",
    "OpenLog",
    "list_job_ids",
    "open_job",
    "summarize_job",
]

#: keys of a job's description that a config.yml key never overrides
RESERVED_KEYS = frozenset({"@id", "runs", "completed", "dropped", "total"})
#: how `job_id_segment` ends a name it had to shorten: `~~` and a hash of the whole id
_SHORTENED = re.compile(r".*~~[0-9a-f]{40}\Z", re.DOTALL)

#: config.yml is a handful of lines; anything much larger is not one
MAX_CONFIG_BYTES = 1 << 20
_READ_SIZE = 256 * 1024

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: a FIFO planted under a job's file name must not hang the reader.
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

JsonScalar = str | int | float | bool | None


class JobNotFound(Exception):
    """There is no job folder for this id (or the id cannot name one)."""


class BrokenJob(Exception):
    """The job folder exists but cannot be described: its config.yml is missing, empty or not
    a mapping, or it has no source.csv. The message says which, in a few words."""


class JobReadError(Exception):
    """A job file exists but reading it failed (permissions, I/O, malformed CSV); the message
    names the file."""


# --------------------------------------------------------------------------------------------
# Opening files under a folder descriptor
# --------------------------------------------------------------------------------------------


def _open_dir(name: str, dir_fd: int) -> int | None:
    """A descriptor for the folder *name* inside *dir_fd*; None when there is no such folder
    (a symbolic link, a file, or a name the file system refuses count as none)."""
    try:
        return os.open(name, _O_DIR, dir_fd=dir_fd)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:
        if e.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.EINVAL):
            return None
        raise


def _open_file(name: str, dir_fd: int) -> int | None:
    """A descriptor for the regular file *name* inside *dir_fd*, or None when it is absent.

    Raises JobReadError when it exists but is not a regular file or cannot be opened.
    """
    try:
        fd = os.open(name, _O_FILE, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JobReadError(f"{name}: cannot open: {e.strerror or e}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise JobReadError(f"{name}: not a regular file")
    return fd


def _signature(fd: int) -> tuple[int, int, int, int, int]:
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


K = TypeVar("K")
V = TypeVar("V")


class _LruCache(Generic[K, V]):
    """A small thread-safe memo of values derived from files, keyed by the file's signature
    (device, inode, size, times), so a changed file is simply a new key."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_make(self, key: K, make: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = make()  # outside the lock: two threads may both compute it, harmlessly
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
        return value


# --------------------------------------------------------------------------------------------
# CSV snapshots
# --------------------------------------------------------------------------------------------


class _Window(io.RawIOBase):
    """The bytes [start, stop) of a file descriptor, read with pread (the fd is not moved)."""

    def __init__(self, fd: int, start: int, stop: int) -> None:
        self._fd = fd
        self._pos = start
        self._stop = stop

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._stop - self._pos)
        if want <= 0:
            return 0
        data = os.pread(self._fd, want, self._pos)
        buffer[: len(data)] = data
        self._pos += len(data)
        return len(data)


def _parse_rows(fd: int, start: int, stop: int, encoding: str = "utf-8") -> Iterator[list[str]]:
    """The CSV rows in bytes [start, stop) of *fd* (which must end a record) that have a
    non-blank cell: a row of empty cells (`,,,`, as spreadsheets leave) is no data row, for
    the import command either."""
    raw = io.BufferedReader(_Window(fd, start, stop), _READ_SIZE)
    text = io.TextIOWrapper(raw, encoding=encoding, errors="replace", newline="")
    for row in csv.reader(text):
        if row and any(cell.strip() for cell in row):
            yield row


def _record_ends(fd: int, start: int, stop: int) -> Iterator[int]:
    """The offset just past each complete CSV record in bytes [start, stop) of *fd*.

    A record ends at a newline outside double quotes (a quoted field may hold newlines; a
    doubled quote inside it flips the state twice). Bytes after the last such newline are a
    record still being written and are left out.
    """
    in_quotes = False
    pos = start
    while pos < stop:
        chunk = os.pread(fd, min(_READ_SIZE, stop - pos), pos)
        if not chunk:
            return
        if b'"' not in chunk:
            if not in_quotes:
                # the common case, a chunk without quotes: every newline ends a record
                at = chunk.find(b"\n")
                while at >= 0:
                    yield pos + at + 1
                    at = chunk.find(b"\n", at + 1)
        else:
            offset = pos
            lines = chunk.split(b"\n")
            for line in lines[:-1]:
                offset += len(line) + 1
                if line.count(b'"') & 1:
                    in_quotes = not in_quotes
                if not in_quotes:
                    yield offset
            if lines[-1].count(b'"') & 1:
                in_quotes = not in_quotes
        pos += len(chunk)


@attrs.frozen
class CsvShape:
    """Where the complete data rows of a CSV file are, as it was at one moment."""

    header: tuple[str, ...]
    #: first byte after the header record
    start: int
    #: first byte after the last complete record
    stop: int
    #: non-empty data rows in [start, stop)
    count: int


EMPTY_SHAPE = CsvShape(header=(), start=0, stop=0, count=0)


def _scan(fd: int, size: int, name: str) -> CsvShape:
    header_end = last = -1
    for end in _record_ends(fd, 0, size):
        if header_end < 0:
            record = os.pread(fd, end, 0) if last < 0 else os.pread(fd, end - last, last)
            if record.strip(b"\r\n\xef\xbb\xbf \t"):
                header_end = end
        last = end
    if header_end < 0:
        return EMPTY_SHAPE
    try:
        header = next(_parse_rows(fd, 0, header_end, "utf-8-sig"), [])
        count = sum(1 for _ in _parse_rows(fd, header_end, last))
    except csv.Error as e:
        raise JobReadError(f"{name}: malformed CSV: {e}") from None
    return CsvShape(header=tuple(header), start=header_end, stop=last, count=count)


_shapes: _LruCache[tuple[int, ...], CsvShape] = _LruCache(4096)


def csv_shape(fd: int, name: str) -> tuple[tuple[int, ...], CsvShape]:
    """The signature of the CSV file open at *fd* and its shape up to its size now (memoized
    per signature)."""
    key = _signature(fd)
    return key, _shapes.get_or_make(key, lambda: _scan(fd, key[2], name))


@attrs.define
class OpenLog:
    """A CSV log of a job, open for reading, with the shape it had when opened."""

    name: str
    fd: int | None
    shape: CsvShape
    #: identifies the file and the state it was read in (None when absent)
    signature: tuple[int, ...] | None = None

    @classmethod
    def open(cls, name: str, dir_fd: int | None) -> OpenLog:
        fd = None if dir_fd is None else _open_file(name, dir_fd)
        if fd is None:
            return cls(name, None, EMPTY_SHAPE)
        try:
            signature, shape = csv_shape(fd, name)
        except BaseException:
            os.close(fd)
            raise
        return cls(name, fd, shape, signature)

    @property
    def count(self) -> int:
        return self.shape.count

    def rows(
        self, offset: int = 0, limit: int | None = None, batch: int = 512
    ) -> Iterator[list[dict[str, str | None]]]:
        """The data rows (as header -> value; a short row's missing values are None, a long
        row's extra values are dropped), in lists of up to *batch*."""
        if self.fd is None or self.shape.count == 0:
            return
        header = self.shape.header
        width = len(header)
        stop = None if limit is None else offset + limit
        rows = itertools.islice(
            _parse_rows(self.fd, self.shape.start, self.shape.stop), offset, stop
        )
        while True:
            try:
                chunk = list(itertools.islice(rows, batch))
            except csv.Error as e:
                raise JobReadError(f"{self.name}: malformed CSV: {e}") from None
            if not chunk:
                return
            out: list[dict[str, str | None]] = []
            for row in chunk:
                if len(row) == width:
                    out.append(dict(zip(header, row, strict=True)))
                else:
                    padded: list[str | None] = [*row[:width], *([None] * (width - len(row)))]
                    out.append(dict(zip(header, padded, strict=True)))
            yield out

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------------------------------
# Job folders
# --------------------------------------------------------------------------------------------


def _plain(value: Any) -> JsonScalar:
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


#: parsed config.yml files (or why each is unusable), by file signature
_configs: _LruCache[tuple[int, ...], dict[Any, Any] | str] = _LruCache(4096)


def _read_config(dir_fd: int) -> dict[Any, Any]:
    """config.yml as a mapping; BrokenJob when it is missing, unreadable, empty or not one."""
    try:
        fd = _open_file(CONFIG_FILE, dir_fd)
    except JobReadError as e:
        raise BrokenJob(str(e)) from None
    if fd is None:
        raise BrokenJob(f"no {CONFIG_FILE}")
    try:
        key = _signature(fd)
        if key[2] > MAX_CONFIG_BYTES:
            raise BrokenJob(f"{CONFIG_FILE} is too large ({key[2]} bytes)")

        def load() -> dict[Any, Any] | str:
            try:
                data = os.pread(fd, key[2], 0)
            except OSError as e:  # not memoized: it may pass
                raise JobReadError(f"{CONFIG_FILE}: cannot read: {e.strerror or e}") from None
            try:
                parsed = yaml.load(data, Loader=_YAML_LOADER)  # a safe loader
            except yaml.YAMLError as e:
                mark = getattr(e, "problem_mark", None)
                where = f" at line {mark.line + 1}" if mark is not None else ""
                return f"{CONFIG_FILE} is not valid YAML{where}"
            if parsed is None:
                return f"{CONFIG_FILE} is empty"
            if not isinstance(parsed, dict):
                return f"{CONFIG_FILE} is not a mapping of keys"
            return parsed

        # The parsed mapping (or the reason it is unusable) is memoized per file state.
        result = _configs.get_or_make(key, load)
    finally:
        os.close(fd)
    if isinstance(result, str):
        raise BrokenJob(result)
    return result


def config_fields(raw: dict[Any, Any], job_id: str) -> dict[str, JsonScalar]:
    """The job's description fields from its config.yml: the reference's six keys always
    (None when absent, strings otherwise), then any other key whose value is a plain scalar.

    The old daemon wrote an absent value as the string "None"; that reads as None.
    """
    fields: dict[str, JsonScalar] = dict.fromkeys(CONFIG_FIELDS)
    for key, value in raw.items():
        if not isinstance(key, str) or key in RESERVED_KEYS:
            continue
        plain = None if value == "None" else value
        if key in CONFIG_FIELDS:
            fields[key] = None if plain is None else str(_plain(plain))
        elif plain is None or isinstance(plain, str | int | float | bool | dt.date):
            fields[key] = _plain(plain)
    if fields["job_id"] is None:
        fields["job_id"] = job_id
    return fields


def _runs(dir_fd: int) -> tuple[str, ...]:
    with os.scandir(dir_fd) as entries:
        names = [
            e.name for e in entries if RUN_NAME.match(e.name) and e.is_dir(follow_symlinks=False)
        ]
    return tuple(sorted(names, reverse=True))


@attrs.define
class JobFolder:
    """One job folder, open: its description fields, runs and logs as they were when opened.

    Close it (or use it as a context manager) to release the log files.
    """

    job_id: str
    fields: dict[str, JsonScalar]
    runs: tuple[str, ...]
    #: data rows in source.csv
    total: int
    completed: OpenLog
    #: the latest run's dropped rows; None when the job has no run yet
    failed: OpenLog | None
    invalid: OpenLog | None

    @property
    def latest_run(self) -> str | None:
        return self.runs[0] if self.runs else None

    @property
    def logs(self) -> tuple[OpenLog, ...]:
        return tuple(log for log in (self.completed, self.failed, self.invalid) if log is not None)

    def close(self) -> None:
        for log in self.logs:
            log.close()

    def __enter__(self) -> JobFolder:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _is_one_segment(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


def _open_jobs_dir(jobs_dir: Path) -> int | None:
    try:
        return os.open(jobs_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise JobReadError(f"jobs folder {jobs_dir}: {e.strerror or e}") from None


def open_job(jobs_dir: Path, job_id: str) -> JobFolder:
    """Open the folder of *job_id* directly under *jobs_dir*.

    Raises JobNotFound (no such folder), BrokenJob (folder without a usable config.yml or
    without source.csv) or JobReadError (a file that cannot be read).
    """
    name = job_id_segment(job_id) if job_id else ""
    if not _is_one_segment(name):
        raise JobNotFound(job_id)
    root = _open_jobs_dir(jobs_dir)
    if root is None:
        raise JobNotFound(job_id)
    try:
        job_fd = _open_dir(name, root)
    finally:
        os.close(root)
    if job_fd is None:
        raise JobNotFound(job_id)
    logs: list[OpenLog] = []
    try:
        fields = config_fields(_read_config(job_fd), job_id)
        source = _open_file(SOURCE_FILE, job_fd)
        if source is None:
            raise BrokenJob(f"no {SOURCE_FILE}")
        try:
            total = csv_shape(source, SOURCE_FILE)[1].count
        finally:
            os.close(source)
        runs = _runs(job_fd)
        completed = OpenLog.open(COMPLETED_LOG, job_fd)
        logs.append(completed)
        failed = invalid = None
        if runs:
            run_fd = _open_dir(runs[0], job_fd)
            try:
                failed = OpenLog.open(FAILED_LOG, run_fd)
                logs.append(failed)
                invalid = OpenLog.open(INVALID_LOG, run_fd)
                logs.append(invalid)
            finally:
                if run_fd is not None:
                    os.close(run_fd)
        return JobFolder(job_id, fields, runs, total, completed, failed, invalid)
    except BaseException:
        for log in logs:
            log.close()
        raise
    finally:
        os.close(job_fd)


def _listed_job_id(jobs_dir: Path, name: str) -> str | None:
    """The job id a folder name stands for, or None when it is no job folder's name."""
    job_id = segment_job_id(name)
    canonical = bool(job_id) and job_id_segment(job_id) == name
    if not (len(name) == MAX_SEGMENT and _SHORTENED.match(name)):
        return job_id if canonical else None
    # A shortened name (a long id's prefix and hash) cannot be decoded: ask its config.yml.
    configured = _configured_job_id(jobs_dir, name)
    return configured if configured is not None else (job_id if canonical else None)


def _configured_job_id(jobs_dir: Path, name: str) -> str | None:
    root = _open_jobs_dir(jobs_dir)
    if root is None:
        return None
    try:
        job_fd = _open_dir(name, root)
    finally:
        os.close(root)
    if job_fd is None:
        return None
    try:
        configured = _read_config(job_fd).get("job_id")
    except (BrokenJob, JobReadError, OSError):
        return None
    finally:
        os.close(job_fd)
    if isinstance(configured, str) and job_id_segment(configured) == name:
        return configured
    return None


def list_job_ids(jobs_dir: Path) -> list[str]:
    """The ids of the job folders in *jobs_dir*, sorted; [] when the folder does not exist.

    Entries that are no job folder (files, symbolic links, names that are not the encoding of
    an id, such as hidden or temporary folders) are left out.
    """
    try:
        entries = list(os.scandir(jobs_dir))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise JobReadError(f"jobs folder {jobs_dir}: {e.strerror or e}") from None
    ids = []
    for entry in entries:
        if not entry.is_dir(follow_symlinks=False):
            continue
        job_id = _listed_job_id(jobs_dir, entry.name)
        if job_id is not None:
            ids.append(job_id)
    return sorted(ids)


# --------------------------------------------------------------------------------------------
# One-line summaries (the HTML page)
# --------------------------------------------------------------------------------------------

COMPLETE = "complete"
FINISHED_WITH_ERRORS = "finished with errors"
INCOMPLETE = "incomplete"
NOT_STARTED = "not started"
BROKEN = "broken"


@attrs.frozen
class JobSummary:
    """What a staff member wants to see of a job at a glance."""

    job_id: str
    #: one of COMPLETE, FINISHED_WITH_ERRORS, INCOMPLETE, NOT_STARTED, BROKEN
    state: str
    #: why a job is BROKEN; empty otherwise
    problem: str = ""
    model: str | None = None
    total: int | None = None
    completed: int | None = None
    failed: int | None = None
    invalid: int | None = None
    latest_run: str | None = None


def _state(job: JobFolder) -> str:
    completed = job.completed.count
    if completed >= job.total and job.runs:
        return COMPLETE
    if not job.runs:
        return NOT_STARTED
    dropped = sum(log.count for log in (job.failed, job.invalid) if log)
    # Every row of the latest run was either imported (now or before) or dropped.
    if dropped and completed + dropped >= job.total:
        return FINISHED_WITH_ERRORS
    return INCOMPLETE


def summarize_job(jobs_dir: Path, job_id: str) -> JobSummary | None:
    """The summary of one job; None when its folder has gone meanwhile."""
    try:
        with open_job(jobs_dir, job_id) as job:
            model = job.fields.get("model")
            return JobSummary(
                job_id=job_id,
                state=_state(job),
                model=model if isinstance(model, str) else None,
                total=job.total,
                completed=job.completed.count,
                failed=job.failed.count if job.failed else None,
                invalid=job.invalid.count if job.invalid else None,
                latest_run=job.latest_run,
            )
    except JobNotFound:
        return None
    except (BrokenJob, JobReadError) as e:
        return JobSummary(job_id=job_id, state=BROKEN, problem=str(e))
