"""Requests larger than the STOMP frame limit (issue 18, finding 3), with the real ActiveMQ and
stomp.py as Archelon, MAX_REQUEST_BYTES at its default (16 MiB, so the frame limit is 17 MiB).

A 50 MiB and a 100 MiB echo each get exactly one `echo_error` completion, delivered once; the
daemon keeps its one session the whole time (no reconnect, no redelivery); its peak memory
grows by less than `RSS_BOUND`; the message is acknowledged; and a normal echo after it works.

These run on a private ActiveMQ started from services/activemq.sh (its own port and data
folder), never the shared one: the shared broker may still run with the heap the script had
before (512 MiB), with which one persistent 50 MiB SEND fails with "Java heap space".
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid

import pytest
import stomp

from plastrond.config import MAX_REQUEST_BYTES_DEFAULT

pytestmark = pytest.mark.integration

MiB = 1024 * 1024

#: How much the daemon's peak resident memory (VmHWM) may grow over its resident memory
#: before the request. The body is dropped in the 64 KiB pieces the socket gives, so what
#: remains is the 4 KiB prefix, the journal record, one small completion and the allocator's
#: slack: a few MiB (measured: see the test's printed figures). A daemon that kept the body
#: would grow by at least its size, 50 MiB for the smaller one; 16 MiB is under a third of
#: that, with room for the noise of a Python process.
RSS_BOUND = 16 * MiB

#: What ActiveMQ's STOMP connector takes (services/activemq.sh, ACTIVEMQ_MAX_DATA_LENGTH).
BROKER_MAX_DATA_LENGTH = 128 * MiB


def _status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


@pytest.fixture
def daemon_and_client(private_broker, plastrond_setup, archelon_factory):
    setup = plastrond_setup(private_broker.endpoint)
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(private_broker.endpoint, setup.dests)
    # Warm up: one normal echo, so that what is measured afterwards is the big one.
    client.send_job("warm-up", "echo", "warm")
    client.wait_for("completions", 1, timeout=30)
    return setup, daemon, client


def _queue_is_empty(endpoint, destination: str) -> bool:
    """Nothing left on *destination* (what the daemon ACKed is gone)."""
    seen: list[str] = []
    arrived = threading.Event()

    class Listener(stomp.ConnectionListener):
        def on_message(self, frame: stomp.utils.Frame) -> None:
            seen.append(frame.headers.get("PlastronJobId", ""))
            arrived.set()

    conn = stomp.Connection12([(endpoint.host, endpoint.port)], heartbeats=(0, 0))
    conn.set_listener("check", Listener())
    conn.connect(wait=True)
    try:
        conn.subscribe(destination, id="check", ack="client-individual")
        arrived.wait(3)
    finally:
        conn.disconnect()
    return not seen


@pytest.mark.parametrize("size_mib", [50, 100])
def test_a_request_over_the_frame_limit_gets_one_error_on_one_session(
    daemon_and_client, private_broker, size_mib
):
    setup, daemon, client = daemon_and_client
    assert daemon.proc is not None
    pid = daemon.proc.pid
    size = size_mib * MiB
    rss_before = _status_kib(pid, "VmRSS") * 1024
    job_id = f"http://archelon.example/huge/{uuid.uuid4().hex[:8]}"
    client.send_job(job_id, "echo", "h" * size)

    done = client.wait_for("completions", 2, timeout=240)
    growth = _status_kib(pid, "VmHWM") * 1024 - rss_before
    print(
        f"\n{size_mib} MiB echo: daemon RSS before {rss_before / MiB:.1f} MiB, "
        f"peak (VmHWM) after {(rss_before + growth) / MiB:.1f} MiB, growth {growth / MiB:.1f} MiB"
    )
    big = done[1]
    assert big.headers["PlastronJobId"] == job_id
    assert big.headers["PlastronJobState"] == "echo_error"
    error = big.headers["PlastronJobError"]
    assert error == (
        f"the message body is {size} bytes, over the limit of {MAX_REQUEST_BYTES_DEFAULT} "
        "bytes (MESSAGE_BROKER.MAX_REQUEST_BYTES)"
    )
    assert len(big.body) < 4096  # not echoed

    client.send_job("after-huge", "echo", "still here")
    done = client.wait_for("completions", 3, timeout=60)
    assert done[2].headers["PlastronJobId"] == "after-huge"
    assert done[2].body == "still here"
    time.sleep(2)
    assert client.completion_ids() == ["warm-up", job_id, "after-huge"]  # each once

    assert growth < RSS_BOUND, f"peak RSS grew by {growth} bytes"
    log = daemon.log()
    assert log.count("connected to ") == 1, log
    assert f"body of {size} bytes over the STOMP frame limit" in log
    assert daemon.running
    # Stopped, the daemon leaves nothing on the queue: the big message was acknowledged.
    daemon.signal(2)
    assert daemon.wait(30) == 0
    assert _queue_is_empty(private_broker.endpoint, setup.dests.jobs)


def test_a_synchronous_request_over_the_frame_limit_is_answered_on_reply_to(
    daemon_and_client, private_broker
):
    setup, daemon, client = daemon_and_client
    assert daemon.proc is not None
    size = 50 * MiB
    rss_before = _status_kib(daemon.proc.pid, "VmRSS") * 1024
    client.send_job("SYNCHRONOUS-huge", "echo", "s" * size, synchronous=True)
    (reply,) = client.wait_for("replies", 1, timeout=240)
    growth = _status_kib(daemon.proc.pid, "VmHWM") * 1024 - rss_before
    assert growth < RSS_BOUND, f"peak RSS grew by {growth} bytes"
    assert reply.headers["PlastronJobId"] == "SYNCHRONOUS-huge"
    assert reply.headers["PlastronJobState"] == "echo_error"
    assert (
        f"the message body is {size} bytes, over the limit of"
        in (reply.headers["PlastronJobError"])
    )
    client.send_job("SYNCHRONOUS-small", "echo", "small", synchronous=True)
    replies = client.wait_for("replies", 2, timeout=60)
    assert replies[1].body == "small"
    time.sleep(2)
    assert len(client.replies) == 2
    assert daemon.log().count("connected to ") == 1
    daemon.signal(2)
    assert daemon.wait(30) == 0
    assert _queue_is_empty(private_broker.endpoint, setup.dests.sync)


def test_a_request_over_the_frame_limit_without_a_job_id_is_acknowledged_and_dropped(
    daemon_and_client, private_broker
):
    # As protocol.md says of any request without a usable job id: logged, acknowledged and
    # dropped, since nobody can be answered; the session goes on.
    setup, daemon, client = daemon_and_client
    client.send_job(None, "echo", "n" * (50 * MiB))
    client.send_job("after-anonymous", "echo", "ok")
    done = client.wait_for("completions", 2, timeout=240)
    assert [f.headers["PlastronJobId"] for f in done] == ["warm-up", "after-anonymous"]
    time.sleep(1)
    log = daemon.log()
    assert "no PlastronJobId header (it cannot be answered)" in log
    assert log.count("connected to ") == 1
    daemon.signal(2)
    assert daemon.wait(30) == 0
    assert _queue_is_empty(private_broker.endpoint, setup.dests.jobs)


def test_a_request_over_the_brokers_own_limit_is_refused_to_the_sender(
    daemon_and_client, private_broker
):
    # ActiveMQ's STOMP connector refuses the SEND itself (wireFormat.maxDataLength): the
    # sender gets an ERROR and is disconnected; the daemon never sees the message.
    _setup, daemon, client = daemon_and_client
    errors: list[str] = []
    gone = threading.Event()

    class Sender(stomp.ConnectionListener):
        def on_error(self, frame: stomp.utils.Frame) -> None:
            errors.append(frame.headers.get("message", ""))

        def on_disconnected(self) -> None:
            gone.set()

    endpoint = private_broker.endpoint
    sender = stomp.Connection12([(endpoint.host, endpoint.port)], heartbeats=(0, 0))
    sender.set_listener("sender", Sender())
    sender.connect(wait=True)
    body = "o" * (BROKER_MAX_DATA_LENGTH + 1)
    # The broker may close the socket while the body is still being written.
    with contextlib.suppress(OSError):
        sender.send(client.dests.jobs, body=body, headers={"PlastronJobId": "too-big-for-amq"})
    assert gone.wait(60)
    assert errors == ["The maximum data length was exceeded"]
    client.send_job("after-refused", "echo", "fine")
    done = client.wait_for("completions", 2, timeout=60)
    assert [f.headers["PlastronJobId"] for f in done] == ["warm-up", "after-refused"]
    assert "too-big-for-amq" not in daemon.log()
    assert daemon.log().count("connected to ") == 1
