"""The message store under faults (issue #18, items 1 and 2): writes cut short at every byte
offset by the kernel (RLIMIT_FSIZE), a real full tmpfs, kill -9 at random points, and records
whose checksum holds but whose fields are wrong."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from plastrond.jobs import JobRequest, JobResult
from plastrond.jobs.completion import completion_for
from plastrond.jobs.store import MessageStore, StoreWriteError
from tests.support.tmpfs import tmpfs

SRC = Path(__file__).resolve().parents[2] / "src"


def _request(job_id: str, body: bytes = b"body", received: float = 1.0) -> JobRequest:
    return JobRequest(job_id=job_id, command="echo", args={"a": "1"}, body=body, received=received)


def _run(code: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _ids(store_dir: Path) -> list[str]:
    store = MessageStore(store_dir)
    try:
        return sorted(r.job_id for r in store.load_requests())
    finally:
        store.close()


# --- writes cut short at every byte offset of one batch ---------------------------------------

CUT_SHORT = """
    import json, os, resource, shutil, signal, sys
    from pathlib import Path
    from plastrond.jobs import JobRequest
    from plastrond.jobs.store import MessageStore, StoreWriteError

    def request(job_id):
        return JobRequest(job_id=job_id, command="echo", args={}, body=b"x" * 40, received=1.0)

    root = Path(sys.argv[1])
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    results = []
    offset = 0
    while True:
        folder = root / f"cut-{offset}"
        store = MessageStore(folder)
        store.save_requests([request("before-1"), request("before-2")])
        store.remove(["before-2"])
        size = (folder / "journal.log").stat().st_size
        batch = [request("in-batch-1"), request("in-batch-2")]
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + offset, hard))
        try:
            store.save_requests(batch)
            failed = None
        except StoreWriteError as e:
            failed = str(e)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        if failed is None:  # the offset is past the batch: it went in whole
            store.close()
            break
        after_failure = (folder / "journal.log").stat().st_size
        # Space returns: the next request is accepted, then the process "dies" (the file is
        # left as it is, every accepted batch having been fdatasynced).
        store.save_requests([request("after")])
        os.close(store._fd)
        os.close(store._lock)
        results.append({"offset": offset, "size": size, "after_failure": after_failure,
                        "error": failed})
        offset += 1
    print(json.dumps(results))
"""


def test_a_batch_cut_short_at_every_byte_offset_loses_no_accepted_request(tmp_path: Path) -> None:
    results = json.loads(_run(CUT_SHORT, str(tmp_path)))
    batch_size = len(results)
    assert batch_size > 200  # two records of some 150 bytes each: every offset was tried
    for result in results:
        folder = tmp_path / f"cut-{result['offset']}"
        # The failed write left the journal exactly as it was ...
        assert result["after_failure"] == result["size"], result
        assert "cannot write" in result["error"] and "File too large" in result["error"]
        # ... so after recovery every accepted request is there, and none of the failed batch.
        assert _ids(folder) == ["after", "before-1"], result
        assert not (folder / "damaged.log").exists()


# --- kill -9 at random points -------------------------------------------------------------------

WRITER = """
    import sys
    from pathlib import Path
    from plastrond.jobs import JobRequest
    from plastrond.jobs.store import MessageStore

    store = MessageStore(Path(sys.argv[1]))
    n = 0
    while True:
        batch = [JobRequest(job_id=f"{sys.argv[2]}-{n}-{i}", command="echo", args={},
                            body=b"y" * (n % 700), received=float(n)) for i in range(3)]
        store.save_requests(batch)
        # acknowledged: these must survive
        sys.stdout.write(" ".join(r.job_id for r in batch) + "\\n")
        sys.stdout.flush()
        if n % 5 == 0:
            # announced first: once the removal starts, the job may be gone (it is done)
            sys.stdout.write(f"removing {sys.argv[2]}-{n}-0\\n")
            sys.stdout.flush()
            store.remove([f"{sys.argv[2]}-{n}-0"])
        n += 1
"""


def test_killed_at_random_points_every_acknowledged_request_survives(tmp_path: Path) -> None:
    folder = tmp_path / "msg"
    rng = random.Random(18)
    accepted: set[str] = set()
    for round_ in range(12):
        process = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(folder), f"r{round_}"],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(SRC)},
        )
        # Killed at a random point after its first batch (its start-up, imports included,
        # takes over a second on a loaded machine).
        assert process.stdout is not None
        first = process.stdout.readline()
        time.sleep(0.05 + rng.random() * 0.5)
        process.send_signal(signal.SIGKILL)
        # (read through the same buffered file: communicate() would skip what readline read)
        out = first + process.stdout.read()
        process.wait(timeout=30)
        # Only lines the writer finished printing were acknowledged.
        for line in out.splitlines(keepends=True):
            if not line.endswith("\n"):
                continue
            if line.startswith("removing "):
                accepted.discard(line.split()[1])
            else:
                accepted.update(line.split())
        assert accepted <= set(_ids(folder)), round_
    assert len(accepted) > 30
    assert not (folder / "damaged.log").exists()


# --- a real full disk ---------------------------------------------------------------------------


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs (we run as root, as the issue's reproduction did)."""
    with tmpfs(tmp_path / "tmpfs", "2m") as mount:
        yield mount


def test_full_tmpfs_completion_fails_whole_and_the_next_request_survives_kill(
    small_tmpfs: Path,
) -> None:
    folder = small_tmpfs / "msg"
    store = MessageStore(folder)
    big = _request("big", body=b"z" * (900 * 1024))
    store.save_requests([big])
    size = (folder / "journal.log").stat().st_size
    completion = completion_for(big, JobResult(body=b"r" * (1200 * 1024)), "/queue/status")
    with pytest.raises(StoreWriteError, match="No space left on device") as caught:
        store.save_completions([completion])
    # Part of the 1.2 MB record fit before the disk was full: it was cut off again.
    assert caught.value.errno == 28
    assert (folder / "journal.log").stat().st_size == size
    assert store.failure is caught.value and not store.has_completion("big")
    # Space returns; the next request is accepted, then the process is killed.
    subprocess.run(["mount", "-o", "remount,size=8m", str(small_tmpfs)], check=True)
    store.save_requests([_request("next")])
    assert store.failure is None
    os.close(store._fd)  # what kill -9 leaves: the file as written, the lock released
    os.close(store._lock)
    assert _ids(folder) == ["big", "next"]
    assert not (folder / "damaged.log").exists()


# --- records that do not parse --------------------------------------------------------------------


def _raw_line(record: dict[str, object]) -> bytes:
    payload = json.dumps(record).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


GOOD = {"type": "request", **_request("good").to_json()}


@pytest.mark.parametrize(
    "bad",
    [
        {**GOOD, "job_id": "args-list", "args": []},
        {**GOOD, "job_id": "args-values", "args": {"a": 1}},
        {**GOOD, "job_id": "body-list", "body": [1]},
        {**GOOD, "job_id": "received-text", "received": "soon"},
        {**GOOD, "job_id": "base64", "body": {"base64": "abc"}},
        {**GOOD, "job_id": 7},
        {"type": "completion", "job_id": "c", "destination": "/queue/x", "headers": "h"},
        {"type": "completion", "job_id": "c", "destination": "/queue/x", "headers": [["a"]]},
        {"type": "done", "job_id": ["x"]},
        {"type": "launch", "job_id": "x"},
    ],
)
def test_record_with_a_good_checksum_but_wrong_fields_is_set_aside(
    tmp_path: Path, bad: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "journal.log").write_bytes(_raw_line(bad) + _raw_line(GOOD))
    store = MessageStore(tmp_path)  # no exception: the daemon starts
    assert [r.job_id for r in store.load_requests()] == ["good"]
    assert store.load_completions() == []
    assert (tmp_path / "damaged.log").read_bytes() == _raw_line(bad)
    assert "damaged record" in caplog.text and "line 1" in caplog.text
    store.close()
    # The damage was set aside once: the next start is clean.
    caplog.clear()
    assert _ids(tmp_path) == ["good"]
    assert "damaged" not in caplog.text


def test_good_record_glued_to_a_cut_short_one_is_found(tmp_path: Path) -> None:
    # What an old store (or a crash between a failed write and its cut) could leave.
    partial = _raw_line({"type": "request", **_request("partial").to_json()})[:40]
    after = _raw_line({"type": "request", **_request("after").to_json()})
    (tmp_path / "journal.log").write_bytes(_raw_line(GOOD) + partial + after)
    assert _ids(tmp_path) == ["after", "good"]
    assert (tmp_path / "damaged.log").read_bytes() == partial + b"\n"
