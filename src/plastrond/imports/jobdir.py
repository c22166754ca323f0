"""Writing import job folders (the http mode reads them with `plastrond.http.jobdirs`).

    folder = JobFolder.open(jobs_dir, job_id)        # JOBS_DIR/<job_id_segment(job_id)>/
    with folder.locked():                             # one run of a job at a time
        folder.write_config({...}); folder.write_source(csv_bytes)
        done = folder.read_completed()                # id -> CompletedRow
        run = folder.start_run()                      # <YYYYMMDDHHMMSS>/ with both dropped logs
        folder.completed_log().append([...])          # whole rows, flushed at once

The layout is `layout.py`'s. config.yml and source.csv are replaced atomically (temporary file,
fsync, rename, fsync of the folder). The logs are append-only: each row is formatted first and
written with one `write` on a file opened with O_APPEND, so a reader never sees half a row
unless the machine itself stops mid-write; a half row left that way is cut off when the log is
next opened for appending. `sync()` makes what was appended durable.

Everything here blocks; the import command calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import errno
import fcntl
import io
import os
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import yaml

from ..jobs.ids import job_id_segment
from .layout import (
    COMPLETED_COLUMNS,
    COMPLETED_LOG,
    CONFIG_FILE,
    DROPPED_COLUMNS,
    FAILED_LOG,
    INVALID_LOG,
    LOCK_FILE,
    PENDING_COLUMNS,
    PENDING_FILE,
    RUN_FORMAT,
    SOURCE_FILE,
)

__all__ = [
    "AppendLog",
    "CompletedRow",
    "JobBusy",
    "JobFolder",
    "JobFolderError",
    "PendingItem",
    "Run",
    "atomic_write",
    "timestamp",
]

_CSV_DIALECT: Final = "excel"  # comma, double quotes, CRLF line ends (what csv writes)


class JobFolderError(Exception):
    """A job folder cannot be created, read or written; the message names the file."""


class JobBusy(JobFolderError):
    """Another run of the same job holds the folder."""


def timestamp(when: float | None = None) -> str:
    """A log row's timestamp: UTC, ISO 8601, to the second."""
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.isoformat(timespec="seconds")


def _reason(e: OSError) -> str:
    return e.strerror or str(e) or type(e).__name__


def atomic_write(path: Path, data: bytes) -> None:
    """Replace *path* with *data*: a temporary file beside it, fsync, rename, fsync the folder."""
    folder = path.parent
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def format_row(values: Sequence[str]) -> bytes:
    """One CSV record, CRLF-terminated, as UTF-8 bytes."""
    out = io.StringIO()
    csv.writer(out, dialect=_CSV_DIALECT).writerow(values)
    return out.getvalue().encode("utf-8")


def _one_line(value: str) -> str:
    return " ".join(value.split()) if "\n" in value or "\r" in value else value


def _complete_length(data: bytes) -> int:
    """How many leading bytes of *data* are complete CSV records (ending in a newline that is
    not inside double quotes)."""
    in_quotes = False
    end = 0
    for i, byte in enumerate(data):
        if byte == 0x22:  # "
            in_quotes = not in_quotes
        elif byte == 0x0A and not in_quotes:  # \n
            end = i + 1
    return end


def read_rows(path: Path) -> list[dict[str, str]]:
    """The complete data rows of a log (header -> value); [] when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as e:
        raise JobFolderError(f"{path.name}: cannot read: {_reason(e)}") from None
    data = data[: _complete_length(data)]
    text = data.decode("utf-8-sig", errors="replace")
    try:
        records = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        raise JobFolderError(f"{path.name}: malformed CSV: {e}") from None
    records = [r for r in records if r]
    if not records:
        return []
    header = records[0]
    return [dict(zip(header, r + [""] * (len(header) - len(r)), strict=False)) for r in records[1:]]


class AppendLog:
    """A CSV log opened for appending whole rows. Not thread-safe: one writer at a time."""

    def __init__(self, path: Path, columns: Sequence[str]) -> None:
        self.path = path
        self.columns = tuple(columns)
        try:
            self._fd = os.open(
                path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
            )
        except OSError as e:
            raise JobFolderError(f"{path.name}: cannot open for writing: {_reason(e)}") from None
        try:
            self._repair()
        except BaseException:
            os.close(self._fd)
            raise

    def _repair(self) -> None:
        size = os.fstat(self._fd).st_size
        if size == 0:
            os.write(self._fd, format_row(self.columns))
            return
        data = os.pread(self._fd, size, 0)
        keep = _complete_length(data)
        if keep < size:
            # A row half written when the machine stopped: cut it off, or the next row would
            # be glued onto it.
            os.ftruncate(self._fd, keep)
            if keep == 0:
                os.write(self._fd, format_row(self.columns))

    def append(self, values: Sequence[str]) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.path.name}: expected {len(self.columns)} values")
        data = format_row([_one_line(str(v)) for v in values])
        try:
            written = os.write(self._fd, data)
        except OSError as e:
            raise JobFolderError(f"{self.path.name}: cannot write: {_reason(e)}") from None
        if written != len(data):  # a full disk; what is there is cut off on the next open
            raise JobFolderError(f"{self.path.name}: cannot write: short write (disk full?)")

    def sync(self) -> None:
        try:
            os.fsync(self._fd)
        except OSError as e:
            raise JobFolderError(f"{self.path.name}: cannot sync: {_reason(e)}") from None

    def close(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1


@attrs.frozen
class CompletedRow:
    id: str
    uri: str
    status: str


@attrs.frozen
class PendingItem:
    """A new item whose transaction was begun and whose outcome no log records."""

    id: str
    uri: str


@attrs.define
class Run:
    """One run's folder and its two logs of dropped rows."""

    name: str
    path: Path
    invalid: AppendLog
    failed: AppendLog

    def close(self) -> None:
        self.invalid.close()
        self.failed.close()


class JobFolder:
    """The folder of one import job under JOBS_DIR (blocking methods)."""

    def __init__(self, jobs_dir: Path, job_id: str) -> None:
        self.jobs_dir = jobs_dir
        self.job_id = job_id
        self.path = jobs_dir / job_id_segment(job_id)
        self._lock_fd: int | None = None

    @classmethod
    def open(cls, jobs_dir: Path, job_id: str, *, create: bool = True) -> JobFolder:
        """The job's folder; created (with JOBS_DIR) when *create*, else JobFolderError when
        it does not exist."""
        folder = cls(jobs_dir, job_id)
        if folder.path.is_symlink():
            raise JobFolderError(f"job folder {folder.path} is a symbolic link; refused")
        if create:
            try:
                jobs_dir.mkdir(parents=True, exist_ok=True)
                folder.path.mkdir(exist_ok=True)
            except OSError as e:
                raise JobFolderError(
                    f"cannot create the job folder {folder.path}: {_reason(e)}"
                ) from None
        elif not folder.path.is_dir():
            raise JobFolderError(f"no job folder for job {job_id} in {jobs_dir}")
        return folder

    @property
    def exists(self) -> bool:
        return self.path.is_dir()

    # -- one run at a time ------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[JobFolder]:
        """Hold the job's lock (an flock on `.lock`, released by the kernel if we die)."""
        self.lock()
        try:
            yield self
        finally:
            self.unlock()

    def lock(self) -> None:
        try:
            fd = os.open(
                self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644
            )
        except OSError as e:
            raise JobFolderError(f"cannot lock {self.path}: {_reason(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise JobBusy(f"job {self.job_id} is already running") from None
            raise JobFolderError(f"cannot lock {self.path}: {_reason(e)}") from None
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- config.yml and source.csv ----------------------------------------------------------

    def read_config(self) -> dict[str, Any] | None:
        """config.yml as a mapping, or None when there is none."""
        path = self.path / CONFIG_FILE
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as e:
            reason = _reason(e) if isinstance(e, OSError) else "not UTF-8 text"
            raise JobFolderError(f"{CONFIG_FILE} of job {self.job_id}: {reason}") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError:
            raise JobFolderError(f"{CONFIG_FILE} of job {self.job_id} is not valid YAML") from None
        if data is None:
            return {}
        if not isinstance(data, dict):
            raise JobFolderError(f"{CONFIG_FILE} of job {self.job_id} is not a mapping")
        # The old daemon wrote an absent value as the string "None".
        return {str(k): None if v in (None, "None") else v for k, v in data.items()}

    def write_config(self, fields: Mapping[str, str | None]) -> None:
        text = yaml.safe_dump(dict(fields), sort_keys=False, allow_unicode=True)
        self._replace(CONFIG_FILE, text.encode("utf-8"))

    def read_source(self) -> bytes | None:
        try:
            return (self.path / SOURCE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise JobFolderError(f"{SOURCE_FILE} of job {self.job_id}: {_reason(e)}") from None

    def write_source(self, data: bytes) -> None:
        self._replace(SOURCE_FILE, data)

    def _replace(self, name: str, data: bytes) -> None:
        try:
            atomic_write(self.path / name, data)
        except OSError as e:
            raise JobFolderError(f"cannot write {self.path / name}: {_reason(e)}") from None

    # -- logs -------------------------------------------------------------------------------

    def read_completed(self) -> dict[str, CompletedRow]:
        """The rows of completed.log.csv by id (a later row for an id wins)."""
        rows = read_rows(self.path / COMPLETED_LOG)
        return {
            r.get("id", ""): CompletedRow(r.get("id", ""), r.get("uri", ""), r.get("status", ""))
            for r in rows
        }

    def read_pending(self, completed_uris: set[str]) -> list[PendingItem]:
        """New items whose transaction began in an earlier run but that neither the completed
        log nor a "rolled back" entry accounts for: they may or may not exist."""
        open_items: dict[str, PendingItem] = {}
        for row in read_rows(self.path / PENDING_FILE):
            uri = row.get("uri", "")
            if row.get("state") == "begun":
                open_items[uri] = PendingItem(row.get("id", ""), uri)
            else:
                open_items.pop(uri, None)
        return [p for uri, p in open_items.items() if uri and uri not in completed_uris]

    def completed_log(self) -> AppendLog:
        return AppendLog(self.path / COMPLETED_LOG, COMPLETED_COLUMNS)

    def pending_log(self) -> AppendLog:
        return AppendLog(self.path / PENDING_FILE, PENDING_COLUMNS)

    def start_run(self, started: float | None = None) -> Run:
        """A new run folder named by its UTC start time; a name already taken (two runs in
        one second) moves on to the next free second."""
        moment = time.time() if started is None else started
        for offset in range(3600):
            name = time.strftime(RUN_FORMAT, time.gmtime(moment + offset))
            path = self.path / name
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise JobFolderError(f"cannot create the run folder {path}: {_reason(e)}") from None
            invalid = AppendLog(path / INVALID_LOG, DROPPED_COLUMNS)
            try:
                failed = AppendLog(path / FAILED_LOG, DROPPED_COLUMNS)
            except BaseException:
                invalid.close()
                raise
            return Run(name=name, path=path, invalid=invalid, failed=failed)
        raise JobFolderError(f"cannot find a free run folder name in {self.path}")
