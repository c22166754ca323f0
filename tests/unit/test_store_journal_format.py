"""The message store's journal on disk: what main's code wrote (at ec9628f, before the record
kinds became one enum) still loads, and today's code writes the same bytes for the same jobs.

`data/journal/written.log` is the journal `write_all` below leaves; `compacted.log` is that
journal after the store reopened it (compaction on open). Both were written by main's code:

    PYTHONPATH=<main>/src python tests/unit/test_store_journal_format.py tests/unit/data/journal
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from plastrond.jobs.completion import completion_for
from plastrond.jobs.request import JobRequest
from plastrond.jobs.result import JobResult, error_result
from plastrond.jobs.store import MessageStore

DATA = Path(__file__).parent / "data" / "journal"

STATUS_URL = "http://archelon.example/import_jobs/42/status"
TEXT = JobRequest(
    job_id="http://archelon.example/import_jobs/42",
    command="import",
    args={"model": "Item", "validate-only": "true"},
    body="id,title\n1,Café\n".encode(),
    received=1700000000.25,
    status_url=STATUS_URL,
)
BINARY = JobRequest(job_id="bin", command="echo", body=b"\xff\x00\x81", received=2.0)
SYNC = JobRequest(
    job_id="sync-1",
    command="update",
    body=b'{"uris": []}',
    synchronous=True,
    reply_to="/temp-queue/reply",
    received=3.5,
)
REFUSED = JobRequest(job_id="big", command="echo", received=4.0, refused="body of 9 bytes")
DONE_FIRST = JobRequest(job_id="gone", command="echo", body=b"x", received=0.5)
AGAIN = JobRequest(job_id="gone", command="echo", body=b"again", received=5.0)


def _write_all(root: Path) -> None:
    store = MessageStore(root)
    store.save_requests([TEXT, BINARY, SYNC, REFUSED, DONE_FIRST])
    store.save_completions(
        [
            completion_for(SYNC, JobResult("update_complete", {"stats": {}}), "/temp-queue/reply"),
            completion_for(BINARY, error_result("broken"), "/queue/plastron.jobs.completed"),
        ]
    )
    store.remove(["gone"])
    store.save_requests([AGAIN])
    store.remove(["sync-1"])
    store.close()


def test_a_journal_written_by_mains_code_loads(tmp_path: Path) -> None:
    for name in ("written.log", "compacted.log"):
        root = tmp_path / name
        root.mkdir()
        shutil.copy(DATA / name, root / "journal.log")
        store = MessageStore(root)
        try:
            assert store.load_requests() == [BINARY, REFUSED, AGAIN, TEXT]  # by arrival
            (completion,) = store.load_completions()
            assert completion.job_id == "bin" and completion.error == "broken"
            assert not store.has_request("sync-1") and not store.has_completion("sync-1")
        finally:
            store.close()
        assert not (root / "damaged.log").exists()


def test_the_same_jobs_are_written_byte_for_byte_as_main_wrote_them(tmp_path: Path) -> None:
    _write_all(tmp_path)
    assert (tmp_path / "journal.log").read_bytes() == (DATA / "written.log").read_bytes()
    MessageStore(tmp_path).close()  # reopening compacts
    assert (tmp_path / "journal.log").read_bytes() == (DATA / "compacted.log").read_bytes()


if __name__ == "__main__":
    out = Path(sys.argv[1])
    work = out / "work"
    _write_all(work)
    shutil.copy(work / "journal.log", out / "written.log")
    MessageStore(work).close()
    shutil.copy(work / "journal.log", out / "compacted.log")
    shutil.rmtree(work)
