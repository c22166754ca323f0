"""Nothing accepted is lost: broker restarts, crashes, a frozen broker, replicas sharing work.

These tests run a private ActiveMQ (its own port and data) so that they can stop, restart and
freeze it. Completions go to a persistent queue, so a client that connects after a restart
still receives them.
"""

from __future__ import annotations

import collections
import signal
import time

import pytest

from tests.support.stomp_jobs import job_ids, wait_until

pytestmark = pytest.mark.integration

BURST = 1000


def _collect_all(clients, ids: list[str], timeout: float) -> collections.Counter[str]:
    wanted = set(ids)

    def seen() -> collections.Counter[str]:
        return collections.Counter(j for c in clients for j in c.completion_ids())

    wait_until(lambda: wanted <= set(seen()), timeout, "every completion")
    time.sleep(1.0)  # let any duplicates arrive too
    return seen()


def test_broker_stopped_and_started_mid_burst(private_broker, plastrond_setup, archelon_factory):
    broker = private_broker.endpoint
    setup = plastrond_setup(broker)
    daemon = setup.plastrond()
    daemon.wait_connected()
    before = archelon_factory(broker, setup.dests)
    ids = job_ids("restart", BURST)
    for job_id in ids:
        before.send_job(job_id, "echo", job_id)
    wait_until(lambda: len(before.completions) >= BURST // 5, 60, "a fifth of the burst")

    private_broker.stop()
    wait_until(lambda: "lost the broker" in daemon.log(), 30, "plastrond to notice")
    private_broker.start()
    daemon.wait_connected(count=2, timeout=60)
    before.close()
    after = archelon_factory(broker, setup.dests)

    counts = _collect_all([before, after], ids, timeout=180)
    assert set(counts) == set(ids)
    duplicates = sum(n - 1 for n in counts.values())
    # Only completions whose receipt was in flight when the broker went away may repeat.
    assert duplicates <= 50, duplicates
    assert daemon.running


def test_plastrond_killed_mid_burst_and_restarted(
    private_broker, plastrond_setup, archelon_factory
):
    broker = private_broker.endpoint
    setup = plastrond_setup(broker)
    first = setup.plastrond("first")
    first.wait_connected()
    client = archelon_factory(broker, setup.dests)
    ids = job_ids("kill", BURST)
    for job_id in ids:
        client.send_job(job_id, "echo", job_id)
    wait_until(lambda: len(client.completions) >= BURST // 4, 60, "a quarter of the burst")
    first.signal(signal.SIGKILL)
    first.wait(10)
    done_at_kill = len(set(client.completion_ids()))
    assert done_at_kill < BURST

    second = setup.plastrond("second")
    counts = _collect_all([client], ids, timeout=180)
    assert set(counts) == set(ids)
    duplicates = sum(n - 1 for n in counts.values())
    # In flight at the kill: accepted-but-unfinished jobs plus unreceipted completions.
    assert duplicates <= 60, duplicates
    assert "recovered" in second.log() or duplicates == 0


def test_frozen_broker_is_noticed_by_heartbeats(private_broker, plastrond_setup, archelon_factory):
    broker = private_broker.endpoint
    setup = plastrond_setup(
        broker, HEARTBEAT_SEND_MS=500, HEARTBEAT_RECEIVE_MS=500, CONNECT_TIMEOUT=2
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    private_broker.freeze()
    try:
        started = time.monotonic()
        wait_until(lambda: "heart-beats missed" in daemon.log(), 30, "heart-beat timeout")
        noticed = time.monotonic() - started
    finally:
        private_broker.thaw()
    # ActiveMQ offers heart-beats of at least our 500 ms; twice that plus scheduling slack.
    assert noticed < 10, noticed
    daemon.wait_connected(count=2, timeout=60)
    client = archelon_factory(broker, setup.dests)
    client.send_job("after-freeze", "echo", "awake")
    (done,) = client.wait_for("completions", 1, timeout=30)
    assert done.body == "awake"


def test_two_replicas_share_a_burst(private_broker, plastrond_setup, archelon_factory):
    broker = private_broker.endpoint
    setup = plastrond_setup(broker)
    one = setup.plastrond("one", own_store=True)
    two = setup.plastrond("two", own_store=True)
    one.wait_connected()
    two.wait_connected()
    client = archelon_factory(broker, setup.dests)
    ids = job_ids("shared", 400)
    for job_id in ids:
        # A little work each, so that neither replica can take everything at once.
        client.send_job(job_id, "echo", job_id, echo_delay="0.02")
    counts = _collect_all([client], ids, timeout=180)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1
    taken = [p.log().count("accepted echo job") for p in (one, two)]
    assert sum(taken) == len(ids)
    assert min(taken) >= len(ids) // 5, taken
