"""Two stomp replicas on one queue of the real ActiveMQ: every job exactly one completion, even
when one replica is killed (kill -9) mid-way and restarted.

A replica journals only what it acknowledges, so what it held unacknowledged when it died
(which the broker gives to the other replica) is not run again from its inbox after the
restart. The kill is placed where no completion of the killed replica waits for its receipt
(right after one was receipted, its next job just begun): a completion sent but not yet
receipted is sent again after a restart, which is the other, known, way to a second
completion (README, "How jobs are kept").
"""

from __future__ import annotations

import collections
import contextlib
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.stomp_jobs import wait_until

pytestmark = pytest.mark.integration

JOBS = 40
#: long enough that the kill, placed just after a receipt, never meets the next completion
DELAY = "0.5"


def _journal(store: Path) -> list[tuple[str, str]]:
    """(type, job id) of each record of a store's journal, read as a file (the store belongs
    to its daemon while it runs)."""
    path = store / "journal.log"
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            data = json.loads(line.partition(" ")[2])
            records.append((data["type"], data["job_id"]))
    return records


def _settled(store: Path) -> tuple[int, bool]:
    """How many completions the journal has seen receipted, and whether none waits for
    its receipt."""
    waiting: set[str] = set()
    done = 0
    for kind, job_id in _journal(store):
        if kind == "completion":
            waiting.add(job_id)
        elif kind == "done" and job_id in waiting:
            waiting.discard(job_id)
            done += 1
    return done, not waiting


def _live_requests(store: Path) -> set[str]:
    """Jobs in a journal's inbox: requests without a later `done`."""
    live: set[str] = set()
    for kind, job_id in _journal(store):
        if kind == "request":
            live.add(job_id)
        elif kind == "done":
            live.discard(job_id)
    return live


def _kill_after_a_receipt(daemon: Any, store: Path, after: int) -> None:
    """kill -9 *daemon* as soon as the journal shows a new completion receipted (at least
    *after* in all) and none waiting for its receipt."""
    seen = 0
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        done, quiet = _settled(store)
        if done >= after and done > seen and quiet:
            daemon.signal(signal.SIGKILL)
            daemon.wait(10)
            return
        seen = done
        time.sleep(0.005)
    raise AssertionError(f"{store}: no quiet moment after {after} receipted completions")


def test_two_replicas_one_killed_and_restarted_complete_every_job_once(
    activemq, plastrond_setup, archelon_factory
):
    setup = plastrond_setup(activemq, MAX_QUEUED_JOBS=1, MAX_CONCURRENT_JOBS=1)
    one = setup.plastrond("one", own_store=True)
    two = setup.plastrond("two", own_store=True)
    one.wait_connected()
    two.wait_connected()
    store = setup.tmp / "msg-one"
    client = archelon_factory(activemq, setup.dests)
    ids = [f"http://archelon.example/replicas/{i}" for i in range(JOBS)]
    for job_id in ids:
        client.send_job(job_id, "echo", job_id, echo_delay=DELAY)

    _kill_after_a_receipt(one, store, after=4)
    # At most one running and one queued were acknowledged by the killed replica: every other
    # job is the other replica's (the broker gives it what the killed one held).
    acknowledged = _live_requests(store)
    wait_until(
        lambda: len(set(client.completion_ids())) >= JOBS - 2,
        180,
        "the other replica to run every job but those the killed one acknowledged",
    )

    again = setup.plastrond("one", own_store=True)
    again.wait_connected(count=2)
    wait_until(lambda: set(client.completion_ids()) == set(ids), 180, "every completion")
    wait_until(
        lambda: not _live_requests(store) and not _live_requests(setup.tmp / "msg-two"),
        60,
        "both inboxes to empty",
    )
    time.sleep(1.0)  # any second completion would have arrived by now
    counts = collections.Counter(client.completion_ids())
    twice = {job_id: n for job_id, n in counts.items() if n > 1}
    assert set(counts) == set(ids)
    assert twice == {}, (
        f"{len(twice)} job(s) completed more than once; the killed replica's inbox held "
        f"{len(acknowledged)} job(s) at the kill"
    )
    # What the killed replica's inbox held, and ran after its restart, is what it had
    # acknowledged: one job running, one queued.
    assert len(acknowledged) <= 2, acknowledged
