"""Size limits on request and completion bodies (issue 18, finding 3), against the real ActiveMQ."""

from __future__ import annotations

import time
import uuid

import pytest

from plastrond.jobs.ids import job_id_segment

pytestmark = pytest.mark.integration

REQUEST_LIMIT = 64 * 1024
COMPLETION_LIMIT = 16 * 1024


@pytest.fixture
def limited(activemq, plastrond_setup, archelon_factory):
    setup = plastrond_setup(
        activemq, MAX_REQUEST_BYTES=REQUEST_LIMIT, MAX_COMPLETION_BYTES=COMPLETION_LIMIT
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    return setup, daemon, client


def test_oversized_request_gets_one_error_completion_and_the_next_job_runs(limited):
    _setup, daemon, client = limited
    job_id = f"http://archelon.example/big/{uuid.uuid4().hex[:8]}"
    size = REQUEST_LIMIT + 40_000
    client.send_job(job_id, "echo", "x" * size)
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobId"] == job_id
    assert done.headers["PlastronJobState"] == "echo_error"
    error = done.headers["PlastronJobError"]
    assert f"the message body is {size} bytes, over the limit of {REQUEST_LIMIT} bytes" in error
    assert "\n" not in error
    # The body was not echoed back: the job never ran.
    assert len(done.body) < 1024
    client.send_job("after-big", "echo", "still here")
    done = client.wait_for("completions", 2, timeout=30)
    assert done[1].headers["PlastronJobId"] == "after-big"
    assert done[1].body == "still here"
    time.sleep(0.5)
    assert len(client.completions) == 2
    assert daemon.running


def test_large_completion_is_cut_with_a_note_and_kept_whole_on_disk(limited):
    setup, daemon, client = limited
    job_id = f"http://archelon.example/wide/{uuid.uuid4().hex[:8]}"
    body = "".join(f"line {i:06d}\n" for i in range(3000))  # 36000 bytes, under the request limit
    assert COMPLETION_LIMIT < len(body) < REQUEST_LIMIT
    client.send_job(job_id, "echo", body)
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.headers["PlastronJobId"] == job_id
    assert done.headers["PlastronJobState"] == "Done"
    assert "PlastronJobError" not in done.headers
    sent = done.body.encode("utf-8")
    assert len(sent) <= COMPLETION_LIMIT
    full = setup.tmp / "logs" / "completions" / f"{job_id_segment(job_id)}.full"
    assert body.startswith(done.body.split("\n[plastrond:")[0])
    assert f"{len(body)} bytes, over the limit of {COMPLETION_LIMIT} bytes" in done.body
    assert str(full) in done.body
    assert full.read_text() == body
    time.sleep(0.3)
    assert len(client.completions) == 1
    assert daemon.running


def test_oversized_sync_request_is_answered_on_reply_to(limited):
    _setup, daemon, client = limited
    size = REQUEST_LIMIT + 1
    client.send_job("SYNCHRONOUS-big", "echo", "s" * size, synchronous=True)
    (reply,) = client.wait_for("replies", 1, timeout=30)
    assert reply.headers["PlastronJobId"] == "SYNCHRONOUS-big"
    assert reply.headers["PlastronJobState"] == "echo_error"
    error = reply.headers["PlastronJobError"]
    assert f"{size} bytes, over the limit of {REQUEST_LIMIT} bytes" in error
    assert daemon.running
