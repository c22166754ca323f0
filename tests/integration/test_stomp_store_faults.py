"""The daemon over a message store in trouble (issue #18, items 1 and 2), against the real
ActiveMQ and a real, small tmpfs: after a completion that did not fit, the next accepted
request survives kill -9 and runs; a journal line with a good checksum but wrong field types
is set aside and the daemon starts."""

from __future__ import annotations

import json
import subprocess
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from plastrond.jobs import JobRequest

pytestmark = pytest.mark.integration


def _wait_for_log(daemon, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in daemon.log():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{daemon.log()}"
        assert daemon.running, daemon.log()
        time.sleep(0.05)


@pytest.fixture
def tmpfs_store(tmp_path: Path) -> Iterator[Path]:
    """`plastrond_setup`'s MESSAGE_STORE_DIR (tmp_path/msg) on a 2 MiB tmpfs."""
    store = tmp_path / "msg"
    store.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(store)], check=True)
    try:
        yield store
    finally:
        subprocess.run(["umount", "-l", str(store)], check=False)


def test_after_a_full_disk_the_next_request_survives_kill_and_runs(
    activemq, plastrond_setup, archelon_factory, tmpfs_store: Path
):
    setup = plastrond_setup(activemq)
    assert setup.store == tmpfs_store
    daemon = setup.plastrond("first")
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    # The request (1.2 MB) fits; its echo's completion (1.2 MB more) does not, part-way.
    client.send_job("big", "echo", "b" * (1200 * 1024))
    _wait_for_log(daemon, "message store")
    # Space returns; the next request is accepted and still running when plastrond dies.
    subprocess.run(["mount", "-o", "remount,size=16m", str(tmpfs_store)], check=True)
    client.send_job("next", "echo", "after the full disk", echo_delay="10")
    _wait_for_log(daemon, "[job next]: accepted echo job")
    daemon.kill()  # SIGKILL
    assert not (tmpfs_store / "damaged.log").exists()
    again = setup.plastrond("second")
    deadline = time.monotonic() + 60
    while "next" not in client.completion_ids():
        assert time.monotonic() < deadline, again.log()
        time.sleep(0.1)
    (done,) = [f for f in client.completions if f.headers["PlastronJobId"] == "next"]
    assert done.headers["PlastronJobState"] == "Done"
    assert done.body == "after the full disk"
    assert "damaged" not in again.log()


def _line(record: dict[str, object]) -> bytes:
    payload = json.dumps(record).encode()
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def test_journal_line_with_wrong_field_types_is_set_aside_and_the_daemon_starts(
    activemq, plastrond_setup, archelon_factory
):
    setup = plastrond_setup(activemq)
    good = JobRequest(job_id="good", command="echo", args={}, body=b"kept", received=1.0)
    bad = {"type": "request", **good.to_json(), "job_id": "bad", "args": []}
    setup.store.mkdir(parents=True, exist_ok=True)
    (setup.store / "journal.log").write_bytes(
        _line(bad) + _line({"type": "request", **good.to_json()})
    )
    client = archelon_factory(activemq, setup.dests)
    for name in ("first", "second"):  # and again on the next start: no crash loop
        daemon = setup.plastrond(name)
        daemon.wait_connected()
        assert daemon.running
        if name == "first":
            (done,) = client.wait_for("completions", 1, timeout=30)
            assert done.headers["PlastronJobId"] == "good" and done.body == "kept"
            assert "damaged record" in daemon.log() and "args has the wrong type" in daemon.log()
        daemon.kill()
    assert (setup.store / "damaged.log").read_bytes() == _line(bad)
