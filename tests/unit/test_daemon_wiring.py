"""The whole daemon on trio's MockClock with no worker thread: its message store (a real one,
in a temporary folder) is given to it with a writer that calls it on trio's thread, so the
clock jumps as soon as every task waits (`autojump_threshold=0`) and every time is exact.

What making a daemon opens (nothing), what `run` opens and releases, and the gauges of its
queues are tested here too."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import pytest
import trio
import trio.testing
from prometheus_client import REGISTRY

from plastrond.commands import registry
from plastrond.daemon import Daemon, run_stomp
from plastrond.jobs.store import MessageStore, RecordKind
from plastrond.jobs.writer import StoreWriter
from tests.support.daemon import QUEUES, FakeBroker, daemon_config

T = TypeVar("T")

# The echo command's module is imported now: a command's first job imports it in a thread.
registry.get("echo")


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


@pytest.fixture(autouse=True)
def no_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any worker thread is a failure: the run must be the trio thread's alone."""

    async def refused(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"a worker thread was asked for: {fn!r}")

    monkeypatch.setattr(trio.to_thread, "run_sync", refused)


async def inline(fn: Callable[[], T]) -> T:
    return fn()


class FailingStore(MessageStore):
    """A real store whose writes of some record kinds fail while `failing` holds them."""

    failing: frozenset[RecordKind] = frozenset()

    def write_batch(self, operations):  # type: ignore[no-untyped-def]
        operations = list(operations)
        if any(kind in self.failing for kind, _ in operations):
            raise OSError(28, "No space left on device")
        super().write_batch(operations)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FailingStore]:
    store = FailingStore(tmp_path / "msg")
    yield store
    store.close()


def wired(tmp_path: Path, store: MessageStore, broker: FakeBroker, **settings: Any) -> Daemon:
    """A daemon on *broker*, given *store* with a writer that calls it inline."""
    config = daemon_config(tmp_path, **settings)
    writer = StoreWriter(store, run_sync=inline)
    return Daemon(config, handle_signals=False, connect=broker.connect, writer=writer)


@asynccontextmanager
async def daemon_on(
    tmp_path: Path, store: MessageStore, broker: FakeBroker, **settings: Any
) -> AsyncIterator[Daemon]:
    daemon = wired(tmp_path, store, broker, **settings)
    async with trio.open_nursery() as nursery:
        await nursery.start(daemon.run)
        yield daemon
        nursery.cancel_scope.cancel()


def _in_store(store: MessageStore, job_id: str) -> tuple[bool, bool]:
    return store.has_request(job_id), store.has_completion(job_id)


def _gauge(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_a_job_runs_and_its_completion_is_sent_then_removed_from_the_store(
    tmp_path, clock, store
):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True
        async with daemon_on(tmp_path, store, broker) as daemon:
            broker.job("w1", b"hello", echo_delay="7")
            await broker.until(lambda: broker.acked_ids() == ["w1"])
            accepted = trio.current_time()
            assert _in_store(store, "w1") == (True, False)
            await broker.until(lambda: broker.completion_ids() == ["w1"])
            # The echo ran its 7 s, to the (virtual) microsecond.
            assert trio.current_time() - accepted == pytest.approx(7, abs=1e-6)
            assert broker.completions()[0].body == b"hello"
            assert _in_store(store, "w1") == (True, True)
            assert _gauge("plastrond_completions_awaiting_receipt") == 1
            await broker.release_receipts()
            await broker.until(lambda: _in_store(store, "w1") == (False, False))
            assert daemon.outbox.empty.is_set()
            assert _gauge("plastrond_completions_awaiting_receipt") == 0
            assert _gauge("plastrond_inbox_depth") == _gauge("plastrond_outbox_depth") == 0
        nursery.cancel_scope.cancel()


async def test_a_store_that_cannot_write_completions_holds_them_unsent_until_it_can(
    tmp_path, clock, store, caplog
):
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with daemon_on(tmp_path, store, broker) as daemon:
            store.failing = frozenset({RecordKind.COMPLETION})
            broker.job("f1", b"x")
            await broker.until(lambda: broker.acked_ids() == ["f1"])
            await trio.sleep(20)
            # The job ran, its request is kept; its completion waits in memory, unsent.
            assert broker.completions() == [] and daemon.outbox.unwritten == 1
            assert _in_store(store, "f1") == (True, False)
            assert any("No space left" in p for p in daemon.health.problems())
            assert _gauge("plastrond_message_store_failing") == 1
            store.failing = frozenset()
            await broker.until(lambda: broker.completion_ids() == ["f1"])
            await broker.until(lambda: _in_store(store, "f1") == (False, False))
            assert not any("No space left" in p for p in daemon.health.problems())
            assert _gauge("plastrond_message_store_failing") == 0
            assert caplog.text.count("cannot keep completions in the outbox") == 1
        nursery.cancel_scope.cancel()


async def test_an_inbox_that_cannot_be_written_pauses_the_intake_until_it_can(
    tmp_path, clock, store
):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with daemon_on(tmp_path, store, broker, PREFETCH=2) as daemon:
            store.failing = frozenset({RecordKind.REQUEST})
            for i in range(4):
                broker.job(f"p{i}")
            await trio.sleep(45)
            assert broker.acked == [] and daemon.intake.paused
            assert _gauge("plastrond_intake_paused") == 1
            assert len(broker.queues[QUEUES["JOBS"]]) == 2  # the prefetch is in hand
            store.failing = frozenset()
            # The retries wait 1, 2, 4, 8, 16, 30 s: the next try comes at most 30 s later.
            await broker.until(lambda: len(broker.completions()) == 4)
            assert sorted(broker.acked_ids()) == [f"p{i}" for i in range(4)]
            assert not daemon.intake.paused and _gauge("plastrond_intake_paused") == 0
        nursery.cancel_scope.cancel()


async def test_shutdown_waits_the_grace_period_and_keeps_the_cancelled_job(
    tmp_path, clock, store, caplog
):
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        daemon = wired(tmp_path, store, broker, SHUTDOWN_GRACE_PERIOD=5)
        async with trio.open_nursery() as inner:
            await inner.start(daemon.run)
            broker.job("quick", b"q", echo_delay="2")
            broker.job("slow", b"s", echo_delay="60")
            await broker.until(lambda: len(broker.acked) == 2)
            stopped = trio.current_time()
            daemon.stop()
        # The run ended itself, exactly the grace period later.
        assert trio.current_time() - stopped == pytest.approx(5, abs=1e-6)
        assert broker.completion_ids() == ["quick"]
        assert _in_store(store, "quick") == (False, False)
        assert _in_store(store, "slow") == (True, False)
        assert "cancelling 1 job(s) still running; they stay in the inbox" in caplog.text
        assert [f.command for f in broker.frames][-1] == "DISCONNECT"
        # The store given to the daemon is the caller's: still open.
        store.save_requests([])
        nursery.cancel_scope.cancel()


async def test_the_queued_gauges_count_the_jobs_waiting_for_their_budget(tmp_path, clock, store):
    settings = {"MAX_CONCURRENT_JOBS": 1, "MAX_QUEUED_JOBS": 3, "MAX_CONCURRENT_SYNC_JOBS": 1}
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with daemon_on(tmp_path, store, broker, **settings):
            for i in range(3):
                broker.job(f"a{i}", echo_delay="10")
            for i in range(3):
                broker.publish(
                    QUEUES["SYNCHRONOUS_JOBS"],
                    f"s{i}",
                    "echo",
                    b"",
                    **{"reply-to": "/temp/r", "PlastronArg-echo-delay": "10"},
                )
            await trio.sleep(5)
            assert _gauge("plastrond_jobs_running", kind="async") == 1
            assert _gauge("plastrond_jobs_queued", kind="async") == 2
            assert _gauge("plastrond_jobs_running", kind="sync") == 1
            assert _gauge("plastrond_jobs_queued", kind="sync") == 2
            await broker.until(lambda: len(broker.completions()) == 3)
            await broker.until(lambda: len(broker.sent["/temp/r"]) == 3)
            assert _gauge("plastrond_jobs_queued", kind="async") == 0
            assert _gauge("plastrond_jobs_queued", kind="sync") == 0
        nursery.cancel_scope.cancel()


def test_making_a_daemon_opens_nothing(tmp_path):
    config = daemon_config(tmp_path)
    Daemon(config, handle_signals=False)
    assert not (tmp_path / "msg").exists()


def test_a_store_in_use_stops_the_stomp_mode_with_one_line(tmp_path, caplog, monkeypatch):
    monkeypatch.undo()  # (the run opens its store in a worker thread)
    config = daemon_config(tmp_path)
    held = MessageStore(tmp_path / "msg")
    try:
        assert run_stomp(config) == 1
    finally:
        held.close()
    assert "cannot open the message store: message store" in caplog.text
    assert "in use by another plastrond process" in caplog.text
