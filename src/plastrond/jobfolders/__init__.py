"""Import job folders under JOBS_DIR: one package for the side that writes them (the import
command) and the side that reads them (the http mode).

- `layout`: the names inside a job folder (`shared/reference/import-export.md`).
- `config`: config.yml, parsed and written.
- `csvlog`: the CSV files: one scanner for where complete records end, the append-only logs
  (`AppendLog`, `read_rows`) and the snapshots of them (`OpenLog`, `csv_shape`).
- `folder`: `JobFolder`, the writer: lock, config.yml, source.csv, logs, run folders.
- `snapshot`: `JobSnapshot` and `open_job`, `list_job_ids`, `summarize_job`, the reader.
- `errors`: every error is a `JobFolderError`.

Atomic replacement and folder fsyncs are `plastrond.durable`'s, shared with the message store.
Everything here blocks (callers use worker threads) and imports nothing of the commands, the
broker or the http app.
"""

from __future__ import annotations

from .csvlog import AppendLog, CsvShape, OpenLog, read_rows
from .errors import BrokenJob, JobBusy, JobFolderError, JobNotFound, JobReadError
from .folder import CompletedRow, JobFolder, PendingItem, Run, timestamp
from .snapshot import JobSnapshot, JobSummary, list_job_ids, open_job, summarize_job

__all__ = [
    "AppendLog",
    "BrokenJob",
    "CompletedRow",
    "CsvShape",
    "JobBusy",
    "JobFolder",
    "JobFolderError",
    "JobNotFound",
    "JobReadError",
    "JobSnapshot",
    "JobSummary",
    "OpenLog",
    "PendingItem",
    "Run",
    "list_job_ids",
    "open_job",
    "read_rows",
    "summarize_job",
    "timestamp",
]
