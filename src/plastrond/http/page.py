"""The HTML page for people: the import jobs in a table, each with its state and counts.

Served at `/` and `/jobs` to clients that prefer `text/html` (browsers). Plain HTML with a
little inline CSS and no script; every value from a job folder is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from urllib.parse import quote

from ..jobfolders.snapshot import (
    BROKEN,
    COMPLETE,
    FINISHED_WITH_ERRORS,
    INCOMPLETE,
    NOT_STARTED,
    JobSummary,
)

__all__ = ["jobs_page"]

_STATE_CLASS = {
    COMPLETE: "ok",
    FINISHED_WITH_ERRORS: "warn",
    INCOMPLETE: "busy",
    NOT_STARTED: "idle",
    BROKEN: "bad",
}

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1d1d1f; }
h1 { font-size: 1.4rem; }
table { border-collapse: collapse; }
th, td { text-align: left; padding: .35rem .8rem; border-bottom: 1px solid #ddd; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td.run { white-space: nowrap; }
.why { color: #8a1c1c; }
.state { padding: .1rem .45rem; border-radius: .3rem; white-space: nowrap; }
.ok { background: #d9f2dc; } .warn { background: #fde9c8; } .busy { background: #dbe8fb; }
.idle { background: #eee; } .bad { background: #f8d3d3; }
footer { margin-top: 1.5rem; color: #666; font-size: .85rem; }
"""


def _run_time(run: str | None) -> str:
    """`20240131120500` as `2024-01-31 12:05:00 UTC`."""
    if not run:
        return ""
    return f"{run[0:4]}-{run[4:6]}-{run[6:8]} {run[8:10]}:{run[10:12]}:{run[12:14]} UTC"


def _number(value: int | None) -> str:
    return "" if value is None else str(value)


def _row(job: JobSummary) -> str:
    url = "jobs/" + quote(job.job_id, safe="")
    state = f'<span class="state {_STATE_CLASS.get(job.state, "idle")}">{escape(job.state)}</span>'
    if job.problem:
        state += f' <span class="why">{escape(job.problem)}</span>'
    imported = "" if job.total is None else f"{job.completed or 0} of {job.total}"
    return (
        "<tr>"
        f'<td class="job"><a href="{escape(url)}">{escape(job.job_id)}</a></td>'
        f'<td class="status">{state}</td>'
        f'<td class="n">{imported}</td>'
        f'<td class="n">{_number(job.failed)}</td>'
        f'<td class="n">{_number(job.invalid)}</td>'
        f'<td class="run">{escape(_run_time(job.latest_run))}</td>'
        f"<td>{escape(job.model or '')}</td>"
        "</tr>"
    )


def jobs_page(jobs: Sequence[JobSummary], *, version: str, note: str = "") -> str:
    """The whole page. *note* is shown above the table (for example, no jobs folder yet)."""
    if jobs:
        body = (
            "<table><thead><tr><th>Job</th><th>State</th><th>Imported</th>"
            "<th>Failed</th><th>Invalid</th><th>Latest run</th><th>Model</th></tr></thead>"
            f"<tbody>{''.join(_row(job) for job in jobs)}</tbody></table>"
        )
    else:
        body = '<p id="no-jobs">No import jobs yet.</p>'
    note_html = f'<p class="note">{escape(note)}</p>' if note else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Import jobs · plastrond</title><style>{_STYLE}</style></head>"
        f"<body><h1>Import jobs</h1>{note_html}{body}"
        '<p class="note">Failed and invalid counts are those of the latest run.</p>'
        f"<footer>plastrond {escape(version)}</footer></body></html>\n"
    )
