"""The daemon over a message store in trouble (issue #18, items 1 and 2), against the real
ActiveMQ and a real, small tmpfs: after a completion that did not fit, the next accepted
request survives kill -9 and runs; a journal line with a good checksum but wrong field types
is set aside and the daemon starts; while the store's file system is full the daemon pauses
its intake on its one broker session (nothing acknowledged: the broker's queue, browsed with
stomp.py, still holds every job), and every job runs exactly once when room returns, or after
a kill -9 and a restart."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import stomp

from plastrond.jobs import JobRequest
from tests.support.tmpfs import fill, tmpfs

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
    with tmpfs(tmp_path / "msg", "2m") as store:
        yield store


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


# --- a full store pauses the intake, on the same broker session ------------------------------

ADMIN = {"ADMIN": {"HOST": "127.0.0.1", "PORT": 0}}
PAUSED = "cannot keep requests in the inbox"


def _metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match is not None, f"no {name} in /metrics"
    return float(match.group(1))


def browse(broker, queue: str) -> list[str]:
    """The PlastronJobIds of the messages the broker still holds on *queue* (delivered and
    unacknowledged ones included), with a stomp.py queue browser."""
    found: list[str] = []
    done = threading.Event()

    class Browser(stomp.ConnectionListener):
        def on_message(self, frame: stomp.utils.Frame) -> None:
            if frame.headers.get("browser") == "end":
                done.set()
            else:
                found.append(frame.headers["PlastronJobId"])

    conn = stomp.Connection12([(broker.host, broker.port)], heartbeats=(0, 0))
    conn.set_listener("browser", Browser())
    conn.connect(wait=True)
    try:
        conn.subscribe(
            queue, id=f"browse-{uuid.uuid4().hex[:6]}", ack="auto", headers={"browser": "true"}
        )
        assert done.wait(10), "the browse did not end"
    finally:
        conn.disconnect()
    return sorted(found)


def _wait_for_completions(client, ids: list[str], daemon, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not set(ids) <= set(client.completion_ids()):
        assert time.monotonic() < deadline, daemon.log()
        time.sleep(0.1)


N = 6


def test_a_full_store_pauses_the_intake_on_one_session_and_every_job_runs_once_after(
    activemq, plastrond_setup, archelon_factory, tmpfs_store: Path
):
    setup = plastrond_setup(activemq, sections=ADMIN)
    daemon = setup.plastrond()
    daemon.wait_connected()
    url = daemon.admin_url()
    client = archelon_factory(activemq, setup.dests)
    filler = fill(tmpfs_store)
    ids = [f"full-{i}" for i in range(N)]
    for job_id in ids:
        client.send_job(job_id, "echo", f"body of {job_id}")
    _wait_for_log(daemon, PAUSED)
    time.sleep(20)
    # One session the whole time: counted by the daemon (its log and its metrics).
    assert daemon.log().count("connected to ") == 1, daemon.log()
    assert _metric(url, "plastrond_broker_reconnects_total") == 0.0
    assert _metric(url, "plastrond_broker_sessions_total") == 1.0
    assert daemon.log().count(PAUSED) == 1, daemon.log()
    # Nothing acknowledged: the broker still holds every job; none ran.
    assert browse(activemq, setup.dests.jobs) == ids
    assert client.completions == []
    assert _metric(url, "plastrond_intake_paused") == 1.0
    assert _metric(url, "plastrond_message_store_failing") == 1.0
    # Synchronous jobs are never journalled: they still run, on the same session.
    client.send_job("sync-while-full", "echo", "answered", synchronous=True)
    (reply,) = client.wait_for("replies", 1, timeout=30)
    assert reply.body == "answered" and reply.headers["PlastronJobId"] == "sync-while-full"
    status = httpx.get(f"{url}/health", timeout=5)
    assert status.status_code == 503
    problems = status.json()["problems"]
    assert any("not taking jobs" in p for p in problems), problems
    assert any("No space left on device" in p for p in problems), problems

    filler.unlink()
    _wait_for_completions(client, ids, daemon)
    time.sleep(3)  # anything sent twice would be here by now
    assert sorted(client.completion_ids()) == ids  # each exactly once
    for frame in client.completions:
        assert frame.body == f"body of {frame.headers['PlastronJobId']}"
        assert frame.headers["PlastronJobState"] == "Done"
    assert browse(activemq, setup.dests.jobs) == []
    log = daemon.log()
    assert log.count("connected to ") == 1 and log.count(PAUSED) == 1, log
    assert log.count("the inbox can be written again") == 1, log
    assert _metric(url, "plastrond_broker_sessions_total") == 1.0
    assert _metric(url, "plastrond_intake_paused") == 0.0
    assert httpx.get(f"{url}/health", timeout=5).status_code == 200


def test_jobs_held_by_a_paused_intake_run_after_kill_and_a_restart_with_room(
    activemq, plastrond_setup, archelon_factory, tmpfs_store: Path
):
    setup = plastrond_setup(activemq)
    daemon = setup.plastrond("paused")
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    filler = fill(tmpfs_store)
    ids = [f"held-{i}" for i in range(N)]
    for job_id in ids:
        client.send_job(job_id, "echo", f"body of {job_id}")
    _wait_for_log(daemon, PAUSED)
    time.sleep(5)
    assert daemon.log().count("connected to ") == 1, daemon.log()
    daemon.kill()  # SIGKILL while paused: the broker redelivers what it never had acknowledged
    assert browse(activemq, setup.dests.jobs) == ids
    filler.unlink()
    again = setup.plastrond("restarted")
    _wait_for_completions(client, ids, again)
    time.sleep(3)
    assert sorted(client.completion_ids()) == ids
    assert all(f.headers["PlastronJobState"] == "Done" for f in client.completions)
    assert browse(activemq, setup.dests.jobs) == []
    assert PAUSED not in again.log()
