"""Writing import job folders (the http mode reads them with `snapshot`).

    folder = JobFolder.open(jobs_dir, job_id)        # JOBS_DIR/<job_id_segment(job_id)>/
    with folder.locked():                             # one run of a job at a time
        folder.write_config({...}); folder.write_source(csv_bytes)
        done = folder.read_completed()                # id -> CompletedRow
        run = folder.start_run()                      # <YYYYMMDDHHMMSS>/ with both dropped logs
        folder.completed_log().append([...])          # whole rows, flushed at once

The layout is `layout.py`'s. config.yml and source.csv are replaced atomically
(`plastrond.durable.atomic_write`). The logs are `csvlog.AppendLog`s: append-only, whole rows,
a half row left by a crash cut off when the log is next opened. `sync()` makes what was
appended durable.

Everything here blocks; the import command calls it from worker threads.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from ..durable import atomic_write
from ..errors import describe
from ..jobs.ids import job_id_segment
from .config import dump_config, parse_config
from .csvlog import AppendLog, read_rows
from .errors import JobBusy, JobFolderError
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

__all__ = ["CompletedRow", "JobFolder", "PendingItem", "Run", "timestamp"]


def timestamp(when: float | None = None) -> str:
    """A log row's timestamp: UTC, ISO 8601, to the second."""
    moment = dt.datetime.fromtimestamp(time.time() if when is None else when, dt.UTC)
    return moment.isoformat(timespec="seconds")


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
    #: the transaction it was written in, as "<style> <uri>" (empty in a log of an older
    #: version, which wrote "begun" before the transaction began)
    transaction: str = ""


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
        #: this open made the folder, and no run has started in it yet
        self.new = False

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
                folder.path.mkdir()
                folder.new = True
            except FileExistsError:
                pass
            except OSError as e:
                raise JobFolderError(
                    f"cannot create the job folder {folder.path}: {describe(e)}"
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
            raise JobFolderError(f"cannot lock {self.path}: {describe(e)}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise JobBusy(f"job {self.job_id} is already running") from None
            raise JobFolderError(f"cannot lock {self.path}: {describe(e)}") from None
        self._lock_fd = fd

    def abandon(self) -> None:
        """Remove the folder again when this open made it and no run started in it: a job
        refused before it ran (unknown model, a body that is not UTF-8...) leaves nothing.
        Call it holding the lock; what cannot be removed is left as it is."""
        if not self.new:
            return
        for name in (CONFIG_FILE, SOURCE_FILE, PENDING_FILE, LOCK_FILE):
            try:
                (self.path / name).unlink()
            except FileNotFoundError:
                pass
            except OSError:
                return
        with contextlib.suppress(OSError):
            self.path.rmdir()
        self.new = False

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- config.yml and source.csv ----------------------------------------------------------

    def read_config(self) -> dict[str, Any] | None:
        """config.yml as a mapping (empty when the file is), or None when there is none."""
        path = self.path / CONFIG_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise JobFolderError(f"{CONFIG_FILE} of job {self.job_id}: {describe(e)}") from None
        parsed = parse_config(data)
        if isinstance(parsed, str):
            if parsed.endswith(" is empty"):
                return {}
            raise JobFolderError(f"{parsed} (job {self.job_id})")
        # The old daemon wrote an absent value as the string "None".
        return {str(k): None if v in (None, "None") else v for k, v in parsed.items()}

    def write_config(self, fields: Mapping[str, str | None]) -> None:
        self._replace(CONFIG_FILE, dump_config(fields))

    def read_source(self) -> bytes | None:
        try:
            return (self.path / SOURCE_FILE).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as e:
            raise JobFolderError(f"{SOURCE_FILE} of job {self.job_id}: {describe(e)}") from None

    def write_source(self, data: bytes) -> None:
        self._replace(SOURCE_FILE, data)

    def _replace(self, name: str, data: bytes) -> None:
        try:
            atomic_write(self.path / name, data)
        except OSError as e:
            raise JobFolderError(f"cannot write {self.path / name}: {describe(e)}") from None

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
            state = row.get("state", "")
            if state == "begun" or state.startswith("begun "):
                open_items[uri] = PendingItem(row.get("id", ""), uri, state[6:])
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
        self.new = False  # the job ran: its folder stays
        for offset in range(3600):
            name = time.strftime(RUN_FORMAT, time.gmtime(moment + offset))
            path = self.path / name
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as e:
                raise JobFolderError(
                    f"cannot create the run folder {path}: {describe(e)}"
                ) from None
            invalid = AppendLog(path / INVALID_LOG, DROPPED_COLUMNS)
            try:
                failed = AppendLog(path / FAILED_LOG, DROPPED_COLUMNS)
            except BaseException:
                invalid.close()
                raise
            return Run(name=name, path=path, invalid=invalid, failed=failed)
        raise JobFolderError(f"cannot find a free run folder name in {self.path}")
