"""The names inside an import job folder, shared by the import command (which writes the
folders) and the http mode (which reads them). `shared/reference/import-export.md` fixes them:

    JOBS_DIR/<job_id_segment(job id)>/
        config.yml            job_id, model, access, member_of, container, binaries_location
        source.csv            the CSV as received
        completed.log.csv     id, timestamp, title, uri, status
        <YYYYMMDDHHMMSS>/     one folder per run, named by its UTC start time
            dropped-invalid.log.csv, dropped-failed.log.csv    id, timestamp, title, uri, reason
            validation.jsonl  every row's validation report, one JSON object a line (plastrond's)

plastrond adds two hidden files that readers ignore: `.lock` (held while a run is going on, so
that one job never runs twice at once) and `.pending.csv` (the URI each new item is given before
its transaction commits, so that a run interrupted between commit and log finds out, on the
next run, that the item exists).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "COMPLETED_COLUMNS",
    "COMPLETED_LOG",
    "CONFIG_FIELDS",
    "CONFIG_FILE",
    "CREATED",
    "DROPPED_COLUMNS",
    "FAILED_LOG",
    "INVALID_LOG",
    "LOCK_FILE",
    "MODIFIED",
    "PENDING_COLUMNS",
    "PENDING_FILE",
    "RUN_FORMAT",
    "RUN_NAME",
    "SOURCE_FILE",
    "STATUSES",
    "UNCHANGED",
    "VALIDATION_LOG",
]

CONFIG_FILE: Final = "config.yml"
SOURCE_FILE: Final = "source.csv"
COMPLETED_LOG: Final = "completed.log.csv"
FAILED_LOG: Final = "dropped-failed.log.csv"
INVALID_LOG: Final = "dropped-invalid.log.csv"
LOCK_FILE: Final = ".lock"
PENDING_FILE: Final = ".pending.csv"
#: in each run folder: the run's row reports (`plastrond.imports.reports`)
VALIDATION_LOG: Final = "validation.jsonl"

#: the config.yml keys the reference names (a job's description always has them, and the
#: import writes them always; its other keys, `imports.plan.Settings`, only when they say
#: something)
CONFIG_FIELDS: Final = (
    "job_id",
    "model",
    "access",
    "member_of",
    "container",
    "binaries_location",
)

COMPLETED_COLUMNS: Final = ("id", "timestamp", "title", "uri", "status")
DROPPED_COLUMNS: Final = ("id", "timestamp", "title", "uri", "reason")
#: `state` is "begun <style> <transaction URI>" (written once the item's transaction has begun,
#: before anything is written in it; "begun" alone in logs of older versions) or "rolled back"
PENDING_COLUMNS: Final = ("id", "uri", "state")

#: the `status` of a completed row
CREATED: Final = "created"
MODIFIED: Final = "modified"
UNCHANGED: Final = "unchanged"
STATUSES: Final = (CREATED, MODIFIED, UNCHANGED)

#: a run folder's name: its UTC start time (`time.strftime` format) and the pattern it matches
RUN_FORMAT: Final = "%Y%m%d%H%M%S"
RUN_NAME: Final = re.compile(r"[0-9]{14}\Z")
