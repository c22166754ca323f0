"""Writing import job folders, checked with the http mode's reader."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from plastrond.jobfolders import JobBusy, JobFolder, JobFolderError, open_job, read_rows, timestamp
from plastrond.jobfolders.layout import COMPLETED_COLUMNS, RUN_NAME
from plastrond.jobs.ids import job_id_segment

JOB = "http://archelon.example/import_jobs/42"


def test_the_folder_is_the_job_ids_segment(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path / "jobs", JOB)
    assert folder.path == tmp_path / "jobs" / job_id_segment(JOB)
    assert folder.path.is_dir()


def test_resuming_needs_the_folder(tmp_path: Path) -> None:
    with pytest.raises(JobFolderError, match="no job folder for job"):
        JobFolder.open(tmp_path, JOB, create=False)


def test_a_symlinked_job_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "jobs").mkdir()
    (tmp_path / "jobs" / job_id_segment(JOB)).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(JobFolderError, match="symbolic link"):
        JobFolder.open(tmp_path / "jobs", JOB)


def test_config_and_source_are_written_as_the_reader_expects(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    fields = {
        "job_id": JOB,
        "model": "Item",
        "access": None,
        "member_of": "http://repo.example/rest/coll",
        "container": "/pcdm",
        "binaries_location": "zip:/data/x.zip",
        "structure": "flat",
    }
    folder.write_config(fields)
    source = "\ufeffIdentifier,Title\r\na,Ä\r\nb,B\r\n".encode()
    folder.write_source(source)
    assert folder.read_config() == fields
    assert folder.read_source() == source
    assert not [p for p in folder.path.iterdir() if p.name.endswith(".tmp")]
    with open_job(tmp_path, JOB) as job:
        assert job.fields["model"] == "Item"
        assert job.fields["access"] is None
        assert job.fields["structure"] == "flat"
        assert job.total == 2
        assert job.runs == ()


def test_the_old_daemons_none_reads_as_none(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    (folder.path / "config.yml").write_text("job_id: x\naccess: None\nmodel: Item\n")
    assert folder.read_config() == {"job_id": "x", "access": None, "model": "Item"}


def test_logs_get_a_header_and_whole_rows(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    log = folder.completed_log()
    log.append(["a", timestamp(0), 'Title, with "quotes"', "http://r/1", "created"])
    log.append(["b", timestamp(0), "two\nlines", "http://r/2", "modified"])
    log.close()
    data = (folder.path / "completed.log.csv").read_bytes()
    assert data.startswith(b"id,timestamp,title,uri,status\r\n")
    assert data.endswith(b"\r\n")
    assert timestamp(0) == "1970-01-01T00:00:00+00:00"
    rows = read_rows(folder.path / "completed.log.csv")
    assert [r["title"] for r in rows] == ['Title, with "quotes"', "two lines"]
    assert folder.read_completed()["b"].status == "modified"
    folder.write_config({"job_id": JOB})
    folder.write_source(b"Title\nx\n")
    with open_job(tmp_path, JOB) as job:
        assert job.completed.count == 2
        items = [row for batch in job.completed.rows() for row in batch]
        assert items[0] == dict(
            zip(
                COMPLETED_COLUMNS,
                ["a", timestamp(0), 'Title, with "quotes"', "http://r/1", "created"],
                strict=True,
            )
        )


def test_a_half_written_row_is_cut_off_before_the_next_one(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    path = folder.path / "completed.log.csv"
    path.write_bytes(b'id,timestamp,title,uri,status\r\na,t,T,u,created\r\nb,t,"half\r\nwri')
    assert [r["id"] for r in read_rows(path)] == ["a"]
    log = folder.completed_log()
    log.append(["c", "t", "T", "u", "created"])
    log.close()
    assert [r["id"] for r in read_rows(path)] == ["a", "c"]


def test_runs_are_named_by_their_utc_start_and_never_collide(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    started = time.time()
    first = folder.start_run(started)
    second = folder.start_run(started)
    assert RUN_NAME.match(first.name) and RUN_NAME.match(second.name)
    assert first.name == time.strftime("%Y%m%d%H%M%S", time.gmtime(started))
    assert int(second.name) > int(first.name)
    first.invalid.append(["x", "t", "T", "", "Missing file: a.tif"])
    for run in (first, second):
        run.close()
    folder.write_config({"job_id": JOB})
    folder.write_source(b"Title\nx\n")
    with open_job(tmp_path, JOB) as job:
        assert job.runs == (second.name, first.name)
        assert job.invalid is not None and job.invalid.count == 0  # the latest run's
    header = (first.path / "dropped-failed.log.csv").read_bytes()
    assert header == b"id,timestamp,title,uri,reason\r\n"


def test_pending_items_are_those_no_log_accounts_for(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    log = folder.pending_log()
    for row in (
        ["a", "http://r/1", "begun"],
        ["b", "http://r/2", "begun"],
        ["c", "http://r/3", "begun"],
        ["c", "http://r/3", "rolled back"],
        ["c", "http://r/4", "begun"],
    ):
        log.append(row)
    log.close()
    pending = folder.read_pending({"http://r/1"})
    assert [(p.id, p.uri) for p in pending] == [("b", "http://r/2"), ("c", "http://r/4")]


def test_one_run_of_a_job_at_a_time(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    other = JobFolder.open(tmp_path, JOB)
    with folder.locked(), pytest.raises(JobBusy, match="is already running"):
        other.lock()
    other.lock()
    other.unlock()


def test_the_lock_goes_with_the_process(tmp_path: Path) -> None:
    folder = JobFolder.open(tmp_path, JOB)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child takes the lock and dies holding it
        folder.lock()
        os._exit(0)
    os.waitpid(pid, 0)
    folder.lock()
    folder.unlock()
