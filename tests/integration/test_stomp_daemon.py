"""plastrond's stomp mode against the real ActiveMQ, with stomp.py playing Archelon.

In every case each accepted job ends with at least one completion; duplicates only for jobs
in flight at a crash.
"""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import time
import uuid

import pytest

from tests.support.stomp_jobs import job_ids, stored

pytestmark = pytest.mark.integration


def wait_until_settled(store_dir, job_id: str, timeout: float = 30) -> None:
    """Wait until the running daemon's journal has a `done` record for *job_id* (its completion
    was receipted), reading the file only (the store is the daemon's while it runs)."""
    deadline = time.monotonic() + timeout
    journal = store_dir / "journal.log"
    while time.monotonic() < deadline:
        for line in journal.read_text(encoding="utf-8", errors="replace").splitlines():
            _crc, _, data = line.partition(" ")
            with contextlib.suppress(ValueError):
                record = json.loads(data)
                if record.get("type") == "done" and record.get("job_id") == job_id:
                    return
        time.sleep(0.05)
    raise AssertionError(f"no done record for {job_id} in {journal}")


def test_sync_echo_through_temp_queue(running):
    _setup, _daemon, client = running
    job_id = f"SYNCHRONOUS-{uuid.uuid4()}"
    client.send_job(job_id, "echo", "ping, with ümlauts", synchronous=True)
    (reply,) = client.wait_for("replies", 1, timeout=20)
    assert reply.headers["PlastronJobId"] == job_id
    assert reply.headers["PlastronJobState"] == "Done"
    assert "PlastronJobError" not in reply.headers
    assert reply.body == "ping, with ümlauts"
    # A synchronous job's answer goes to reply-to, not to the status queue.
    time.sleep(0.3)
    assert client.completions == []


def test_async_echo_completion_and_store_emptied(running):
    setup, _daemon, client = running
    client.send_job("http://archelon.example/echo/1", "echo", "hello")
    (done,) = client.wait_for("completions", 1, timeout=20)
    assert done.headers["PlastronJobId"] == "http://archelon.example/echo/1"
    assert done.headers["PlastronJobState"] == "Done"
    assert done.headers["persistent"] == "true"
    assert done.body == "hello"
    # Once the completion is receipted, nothing is left in the inbox or outbox.
    wait_until_settled(setup.store, "http://archelon.example/echo/1")
    _daemon.signal(signal.SIGTERM)
    assert _daemon.wait(30) == 0
    assert stored(setup.store) == ([], [])


def test_echo_delay_sends_progress_and_both_header_spellings(running):
    _setup, _daemon, client = running
    client.send_job("job-delay-arg", "echo", "a", echo_delay="0.3")
    client.conn.send(
        client.dests.jobs,
        body="b",
        headers={
            "PlastronJobId": "job-delay-header",
            "PlastronCommand": "echo",
            "echo-delay": "0.3",
        },
    )
    started = time.monotonic()
    done = client.wait_for("completions", 2, timeout=20)
    assert time.monotonic() - started >= 0.3
    assert {f.headers["PlastronJobId"]: f.body for f in done} == {
        "job-delay-arg": "a",
        "job-delay-header": "b",
    }
    progress = client.wait_for("progress", 2, timeout=5)
    for message in progress:
        body = json.loads(message.body)
        assert body["state"] == "in_progress"
        assert message.headers["PlastronJobId"] in ("job-delay-arg", "job-delay-header")


@pytest.mark.parametrize(
    ("headers", "error"),
    [
        ({"PlastronCommand": "frobnicate"}, "unknown command 'frobnicate'"),
        ({}, "missing PlastronCommand header"),
        (
            {"PlastronCommand": "echo", "PlastronArg-echo-delay": "soon"},
            "argument echo-delay must be a number, not 'soon'",
        ),
        ({"PlastronCommand": "echo", "echo-delay": "-3"}, "argument echo-delay must be at least 0"),
    ],
)
def test_bad_async_request_gets_exactly_one_error_completion(running, headers, error):
    _setup, daemon, client = running
    job_id = f"bad-{uuid.uuid4().hex[:8]}"
    client.conn.send(client.dests.jobs, body="x", headers={"PlastronJobId": job_id, **headers})
    (done,) = client.wait_for("completions", 1, timeout=20)
    assert done.headers["PlastronJobId"] == job_id
    assert error in done.headers["PlastronJobError"]
    assert "\n" not in done.headers["PlastronJobError"]
    # The daemon keeps running and serves the next job.
    client.send_job("after-bad", "echo", "still here")
    done = client.wait_for("completions", 2, timeout=20)
    assert done[1].body == "still here"
    time.sleep(0.3)
    assert len(client.completions) == 2
    assert daemon.running


def test_bad_sync_request_is_answered_on_reply_to(running):
    _setup, _daemon, client = running
    client.send_job("SYNCHRONOUS-bad", "nope", "", synchronous=True)
    (reply,) = client.wait_for("replies", 1, timeout=20)
    assert "unknown command 'nope'" in reply.headers["PlastronJobError"]


def test_requests_without_job_id_are_dropped_and_the_daemon_goes_on(running):
    _setup, daemon, client = running
    client.send_job(None, "echo", "who am I")
    client.send_job("   ", "echo", "blank id")
    client.send_job(None, "echo", "sync without id", synchronous=True)
    client.send_job(
        "SYNCHRONOUS-no-reply", "echo", "nowhere to answer", synchronous=True, reply_to=False
    )
    client.send_job("after-dropped", "echo", "fine")
    (done,) = client.wait_for("completions", 1, timeout=20)
    assert done.headers["PlastronJobId"] == "after-dropped"
    # (the synchronous ones come by another queue: they may be read after the last one)
    daemon.wait_for_log("dropped message", count=3, timeout=30)
    log = daemon.wait_for_log("without reply-to dropped", timeout=30)
    assert len(client.completions) == 1 and client.replies == []
    assert log.count("dropped message") == 3
    assert "without reply-to dropped" in log
    assert daemon.running


def test_burst_of_thousands(running):
    _setup, _daemon, client = running
    ids = job_ids("burst", 2000)
    for job_id in ids:
        client.send_job(job_id, "echo", job_id)
    client.wait_for("completions", len(ids), timeout=180)
    time.sleep(0.5)
    counts = collections.Counter(client.completion_ids())
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1, "no crash here, so no duplicates"
    assert all(f.body == f.headers["PlastronJobId"] for f in client.completions)


def test_redelivered_request_for_a_job_in_the_inbox_runs_once(running):
    _setup, daemon, client = running
    # Two messages with one job id while the first is still running: one completion.
    client.send_job("twice", "echo", "first", echo_delay="0.5")
    client.send_job("twice", "echo", "second")
    (done,) = client.wait_for("completions", 1, timeout=20)
    time.sleep(1.0)
    assert len(client.completions) == 1
    assert done.body == "first"
    assert "already accepted" in daemon.log()


def test_sigterm_lets_running_jobs_finish_then_exits_zero(running):
    setup, daemon, client = running
    client.send_job("slow-but-in-grace", "echo", "made it", echo_delay="1")
    daemon.wait_for_log("accepted echo job", timeout=30)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    (done,) = client.wait_for("completions", 1, timeout=10)
    assert done.body == "made it"
    assert stored(setup.store) == ([], [])


def test_job_past_the_grace_period_stays_in_inbox_and_finishes_after_restart(
    activemq, plastrond_setup, archelon_factory
):
    setup = plastrond_setup(activemq, SHUTDOWN_GRACE_PERIOD=0.5)
    daemon = setup.plastrond("first")
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    client.send_job("long-job", "echo", "eventually", echo_delay="2")
    daemon.wait_for_log("accepted echo job", timeout=30)
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert "stay in the inbox" in daemon.log()
    assert stored(setup.store) == (["long-job"], [])
    assert client.completions == []
    # The next start runs it from the inbox.
    again = setup.plastrond("second")
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobId"] == "long-job" and done.body == "eventually"
    again.signal(signal.SIGTERM)
    assert again.wait(30) == 0


def test_second_signal_exits_at_once_losing_nothing(activemq, plastrond_setup, archelon_factory):
    setup = plastrond_setup(activemq, SHUTDOWN_GRACE_PERIOD=60)
    daemon = setup.plastrond("first")
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    client.send_job("very-long", "echo", "later", echo_delay="30")
    daemon.wait_for_log("accepted echo job", timeout=30)
    daemon.signal(signal.SIGTERM)
    daemon.wait_for_log("SIGTERM: stopping", timeout=30)  # the first is taken: now the second
    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    daemon.wait(10)
    assert time.monotonic() - started < 5
    assert stored(setup.store) == (["very-long"], [])


def test_fails_over_to_the_next_broker_address(activemq, plastrond_setup, archelon_factory):
    # The first address refuses connections; plastrond moves on to the next one.
    setup = plastrond_setup(
        activemq, SERVER=f"127.0.0.1:9, {activemq.host}:{activemq.port}", CONNECT_TIMEOUT=2
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    log = daemon.log()
    assert "cannot connect to 127.0.0.1:9" in log
    assert f"connected to {activemq.host}:{activemq.port}" in log
    client = archelon_factory(activemq, setup.dests)
    client.send_job("failover", "echo", "via the second address")
    (done,) = client.wait_for("completions", 1, timeout=20)
    assert done.body == "via the second address"
