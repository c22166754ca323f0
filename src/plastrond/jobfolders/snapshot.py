"""Reading import job folders, laid out as `shared/reference/import-export.md` fixes them
(`layout`), as snapshots: the import command writes these folders while the http mode reads
them, so each CSV file is read as it was when opened (`csvlog.OpenLog`).

A requested job id becomes one path segment (`plastrond.jobs.ids.job_id_segment`) that is
opened relative to JOBS_DIR's descriptor with O_NOFOLLOW, and every file inside relative to
the job folder's descriptor, so a request can only ever read a direct child of JOBS_DIR.

Everything here blocks; the HTTP app calls it through `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from ..errors import describe
from ..jobs.ids import MAX_SEGMENT, job_id_segment, segment_job_id
from ._files import LruCache, open_dir, open_file, signature
from .config import MAX_CONFIG_BYTES, JsonScalar, config_fields, parse_config
from .csvlog import OpenLog, csv_shape
from .errors import BrokenJob, JobNotFound, JobReadError
from .layout import (
    COMPLETED_LOG,
    CONFIG_FILE,
    FAILED_LOG,
    INVALID_LOG,
    LOCK_FILE,
    RUN_NAME,
    SOURCE_FILE,
)

__all__ = [
    "BROKEN",
    "COMPLETE",
    "FINISHED_WITH_ERRORS",
    "INCOMPLETE",
    "NOT_STARTED",
    "JobSnapshot",
    "JobSummary",
    "list_job_ids",
    "open_job",
    "summarize_job",
]

#: how `job_id_segment` ends a name it had to shorten: `~~` and a hash of the whole id
_SHORTENED = re.compile(r".*~~[0-9a-f]{40}\Z", re.DOTALL)


#: parsed config.yml files (or why each is unusable), by file signature
_configs: LruCache[tuple[int, ...], dict[Any, Any] | str] = LruCache(4096)


def _read_config(dir_fd: int) -> dict[Any, Any]:
    """config.yml as a mapping; BrokenJob when it is missing, unreadable, empty or not one."""
    try:
        fd = open_file(CONFIG_FILE, dir_fd)
    except JobReadError as e:
        raise BrokenJob(str(e)) from None
    if fd is None:
        raise BrokenJob(f"no {CONFIG_FILE}")
    try:
        key = signature(fd)
        if key[2] > MAX_CONFIG_BYTES:
            raise BrokenJob(f"{CONFIG_FILE} is too large ({key[2]} bytes)")

        def load() -> dict[Any, Any] | str:
            try:
                data = os.pread(fd, key[2], 0)
            except OSError as e:  # not memoized: it may pass
                raise JobReadError(f"{CONFIG_FILE}: cannot read: {describe(e)}") from None
            return parse_config(data)

        # The parsed mapping (or the reason it is unusable) is memoized per file state.
        result = _configs.get_or_make(key, load)
    finally:
        os.close(fd)
    if isinstance(result, str):
        raise BrokenJob(result)
    return result


def _runs(dir_fd: int) -> tuple[str, ...]:
    with os.scandir(dir_fd) as entries:
        names = [
            e.name for e in entries if RUN_NAME.match(e.name) and e.is_dir(follow_symlinks=False)
        ]
    return tuple(sorted(names, reverse=True))


@attrs.define
class JobSnapshot:
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

    def __enter__(self) -> JobSnapshot:
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
        raise JobReadError(f"jobs folder {jobs_dir}: {describe(e)}") from None


def open_job(jobs_dir: Path, job_id: str) -> JobSnapshot:
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
        job_fd = open_dir(name, root)
    finally:
        os.close(root)
    if job_fd is None:
        raise JobNotFound(job_id)
    logs: list[OpenLog] = []
    try:
        fields = config_fields(_read_config(job_fd), job_id)
        source = open_file(SOURCE_FILE, job_fd)
        if source is None:
            raise BrokenJob(f"no {SOURCE_FILE}")
        try:
            # source.csv is replaced whole, never appended to: its last row is complete.
            total = csv_shape(source, SOURCE_FILE, final=True)[1].count
        finally:
            os.close(source)
        runs = _runs(job_fd)
        # While a run holds the job's lock, a log's last row may be half appended; otherwise
        # a last row without a line break is a whole row (a log edited by hand, say).
        final = not _lock_held(job_fd)
        completed = OpenLog.open(COMPLETED_LOG, job_fd, final=final)
        logs.append(completed)
        failed = invalid = None
        if runs:
            run_fd = open_dir(runs[0], job_fd)
            try:
                failed = OpenLog.open(FAILED_LOG, run_fd, final=final)
                logs.append(failed)
                invalid = OpenLog.open(INVALID_LOG, run_fd, final=final)
                logs.append(invalid)
            finally:
                if run_fd is not None:
                    os.close(run_fd)
        return JobSnapshot(job_id, fields, runs, total, completed, failed, invalid)
    except BaseException:
        for log in logs:
            log.close()
        raise
    finally:
        os.close(job_fd)


def _lock_held(job_fd: int) -> bool:
    """Whether a run holds the job's lock (an flock on `.lock`), looked up in /proc/locks so
    that the reader never takes the lock itself (a run starting meanwhile would be refused).
    When that cannot be told, it is taken as held."""
    try:
        fd = open_file(LOCK_FILE, job_fd)
    except JobReadError:
        return True
    if fd is None:
        return False
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    wanted = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as locks:
            return any("FLOCK" in line and wanted in line.split() for line in locks)
    except OSError:
        return True


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
        job_fd = open_dir(name, root)
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
    an id, such as hidden or temporary folders) are left out. Every other folder is listed, as
    upstream lists it, whatever it holds: one without a usable config.yml or source.csv (only
    a `.lock`: a job being prepared, or one an older plastrond refused before it ran) is then
    404 at `/jobs/<id>`, and on the page `not started` while a run holds its lock (being
    prepared), else `broken` with the reason.
    """
    try:
        entries = list(os.scandir(jobs_dir))
    except FileNotFoundError:
        return []
    except OSError as e:
        raise JobReadError(f"jobs folder {jobs_dir}: {describe(e)}") from None
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


def _state(job: JobSnapshot) -> str:
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
        if _being_prepared(jobs_dir, job_id):
            return JobSummary(job_id=job_id, state=NOT_STARTED)
        return JobSummary(job_id=job_id, state=BROKEN, problem=str(e))


def _being_prepared(jobs_dir: Path, job_id: str) -> bool:
    """Whether a run holds the lock of a job folder that has no config.yml yet: the import is
    checking the request, and writes the folder's files once it is known to be runnable."""
    root = _open_jobs_dir(jobs_dir)
    if root is None:
        return False
    try:
        job_fd = open_dir(job_id_segment(job_id), root)
    finally:
        os.close(root)
    if job_fd is None:
        return False
    try:
        config = open_file(CONFIG_FILE, job_fd)
        if config is not None:
            os.close(config)
            return False
        return _lock_held(job_fd)
    except JobReadError:
        return False
    finally:
        os.close(job_fd)
