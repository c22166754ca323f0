"""The job folder reader on its own (no server): CSV snapshots of logs being written,
memoisation that notices changes, listing, summaries."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from plastrond.http.detail import Page, job_body
from plastrond.jobfolders import JobFolder
from plastrond.jobfolders.snapshot import (
    BROKEN,
    COMPLETE,
    FINISHED_WITH_ERRORS,
    INCOMPLETE,
    NOT_STARTED,
    BrokenJob,
    JobReadError,
    JobSnapshot,
    list_job_ids,
    open_job,
    summarize_job,
)
from plastrond.jobs.ids import job_id_segment
from tests.support.http import COMPLETED_COLUMNS, JobFolders, as_items, completed_row, csv_text

HEADER = b"id,timestamp,title,uri,status\r\n"


def items(job: JobSnapshot) -> list[dict[str, str | None]]:
    return [row for batch in job.completed.rows() for row in batch]


def write_log(jobs: JobFolders, data: bytes, job_id: str = "j") -> Path:
    folder = jobs.folder(job_id)
    if not folder.exists():
        jobs.make(job_id, completed=None)
    (folder / "completed.log.csv").write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("tail", "kept"),
    [
        (b"", 2),
        (b"r3,2024", 2),  # cut in the middle of a row
        (b'r3,2024,"half a quoted\r\n', 2),  # cut just after a newline inside quotes
        (b'r3,2024,"a ""quoted"" \r\nnewline",u,created', 2),  # complete but unterminated
        (b'r3,2024,"a ""quoted"" \r\nnewline",u,created\r\n', 3),
    ],
)
def test_a_half_written_last_row_is_left_out(jobs: JobFolders, tail: bytes, kept: int) -> None:
    rows = HEADER + b"r1,2024,One,u,created\r\n" + b'r2,2024,"Two, ""2""",u,modified\r\n'
    write_log(jobs, rows + tail)
    # A run holds the job's lock while it appends (see test_http_faults for when none does).
    with JobFolder(jobs.root, "j").locked(), open_job(jobs.root, "j") as job:
        assert job.completed.count == kept
        got = items(job)
    assert [row["id"] for row in got] == ["r1", "r2", "r3"][:kept]
    assert got[1]["title"] == 'Two, "2"'
    if kept == 3:
        assert got[2]["title"] == 'a "quoted" \r\nnewline'


def test_snapshot_holds_while_the_file_grows(jobs: JobFolders) -> None:
    folder = write_log(jobs, HEADER + b"r1,t,One,u,created\r\n")
    with open_job(jobs.root, "j") as job:
        with (folder / "completed.log.csv").open("ab") as f:
            f.write(b"r2,t,Two,u,created\r\n")
        # What was opened is what is reported: count and items agree.
        assert job.completed.count == 1
        assert [row["id"] for row in items(job)] == ["r1"]
    with open_job(jobs.root, "j") as job:
        assert job.completed.count == 2


def test_memo_notices_a_rewrite_of_the_same_size(jobs: JobFolders) -> None:
    folder = write_log(jobs, HEADER + b"r1,t,One,u,created\r\n")
    with open_job(jobs.root, "j") as job:
        assert items(job)[0]["title"] == "One"
        assert b'"title":"One"' in b"".join(job_body(job, "u"))  # now in the items cache
    log = folder / "completed.log.csv"
    before = log.stat()
    log.write_bytes(HEADER + b"r1,t,Uno,u,created\r\n")
    os.utime(log, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    with open_job(jobs.root, "j") as job:
        assert items(job)[0]["title"] == "Uno"
        assert b'"title":"Uno"' in b"".join(job_body(job, "u"))


def test_byte_order_mark_blank_lines_and_lf_endings(jobs: JobFolders) -> None:
    write_log(
        jobs, b"\xef\xbb\xbf\n" + HEADER.replace(b"\r\n", b"\n") + b"\nr1,t,One,u,created\n\n"
    )
    with open_job(jobs.root, "j") as job:
        assert job.completed.shape.header == COMPLETED_COLUMNS
        assert job.completed.count == 1
        assert items(job) == [
            {"id": "r1", "timestamp": "t", "title": "One", "uri": "u", "status": "created"}
        ]


def test_empty_and_header_only_logs(jobs: JobFolders) -> None:
    write_log(jobs, b"")
    with open_job(jobs.root, "j") as job:
        assert job.completed.count == 0 and items(job) == []
    write_log(jobs, HEADER)
    with open_job(jobs.root, "j") as job:
        assert job.completed.count == 0 and items(job) == []


def test_invalid_utf8_is_replaced_not_fatal(jobs: JobFolders) -> None:
    write_log(jobs, HEADER + b"r1,t,caf\xe9,u,created\r\n")
    with open_job(jobs.root, "j") as job:
        assert items(job)[0]["title"] == "caf\ufffd"


def test_total_counts_source_rows_with_quoted_newlines(jobs: JobFolders) -> None:
    folder = jobs.make("t", total=None)
    (folder / "source.csv").write_text(
        csv_text(["Title", "Identifier"], [("A\nB", 1), ("C", 2), ("D, E", 3)])
    )
    with open_job(jobs.root, "t") as job:
        assert job.total == 3


def test_body_pages_and_chunks(jobs: JobFolders) -> None:
    rows = [completed_row(n) for n in range(3000)]
    jobs.make("big", total=3000, completed=rows)
    with open_job(jobs.root, "big") as job:
        chunks = list(job_body(job, "http://h/jobs/big"))
        assert len(chunks) > 1 and all(chunks)
        paged = b"".join(job_body(job, "u", Page(offset=2990, limit=5)))
    assert json.loads(b"".join(chunks))["completed"]["items"] == as_items(COMPLETED_COLUMNS, rows)
    assert json.loads(paged)["completed"] == {
        "count": 3000,
        "items": as_items(COMPLETED_COLUMNS, rows[2990:2995]),
    }


def test_long_ids_are_listed_through_their_config(jobs: JobFolders) -> None:
    long_id = "http://archelon.example/import_jobs/" + "x" * 400
    jobs.make(long_id)
    jobs.make("short")
    assert job_id_segment(long_id) != long_id  # shortened with a hash
    assert list_job_ids(jobs.root) == [long_id, "short"]
    with open_job(jobs.root, long_id) as job:
        assert job.fields["job_id"] == long_id


def test_fifo_in_place_of_config_does_not_hang(jobs: JobFolders) -> None:
    folder = jobs.make("fifo", config=None)
    os.mkfifo(folder / "config.yml")
    with pytest.raises(BrokenJob, match="not a regular file"):
        open_job(jobs.root, "fifo")


def test_jobs_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "jobs"
    not_a_folder.write_text("")
    with pytest.raises(JobReadError, match="jobs folder"):
        list_job_ids(not_a_folder)


def test_summaries_say_the_state(jobs: JobFolders) -> None:
    jobs.make(
        "done", total=2, completed=[completed_row(1), completed_row(2)], runs={"20240101000000": {}}
    )
    jobs.make(
        "errors",
        total=3,
        completed=[completed_row(1)],
        runs={"20240101000000": {"failed": [completed_row(2)], "invalid": [completed_row(3)]}},
    )
    jobs.make("halfway", total=3, completed=[completed_row(1)], runs={"20240101000000": {}})
    jobs.make("new", total=3, completed=None)
    jobs.make("broken", config="")
    states = {
        job_id: summary.state
        for job_id in list_job_ids(jobs.root)
        if (summary := summarize_job(jobs.root, job_id)) is not None
    }
    assert states == {
        "done": COMPLETE,
        "errors": FINISHED_WITH_ERRORS,
        "halfway": INCOMPLETE,
        "new": NOT_STARTED,
        "broken": BROKEN,
    }
    summary = summarize_job(jobs.root, "broken")
    assert summary is not None and summary.problem == "config.yml is empty"
    assert summarize_job(jobs.root, "gone") is None
