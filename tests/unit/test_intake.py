"""The intake journals only what it acknowledges, so that a job another replica may receive is
never run from this one's inbox too: room first, then the inbox, then the ACK; a request whose
broker session ended before its ACK is left to the broker.

First the intake alone (a real message store, trio's memory channels), then two daemons on one
fake broker (`tests.support.daemon.FakeBroker`), one of which crashes or loses its session with
requests in hand.
"""

from __future__ import annotations

import collections
import itertools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio
import trio.testing

from plastrond.daemon import Daemon
from plastrond.jobs import JobRequest
from plastrond.jobs.intake import Intake
from plastrond.jobs.store import MessageStore
from plastrond.jobs.writer import StoreWriter
from tests.support.daemon import FakeBroker, daemon_config


class Session:
    """A broker session as the intake sees it: open until `end`."""

    def __init__(self) -> None:
        self.open = True

    def live(self) -> bool:
        return self.open

    def end(self) -> None:
        self.open = False


class Harness:
    """An intake on a real message store; what was acknowledged, in order."""

    def __init__(self, store: MessageStore, writer: StoreWriter, intake: Intake) -> None:
        self.store = store
        self.writer = writer
        self.intake = intake
        self.acked: list[str] = []

    def written(self) -> set[str]:
        return {r.job_id for r in self.store.load_requests()}

    async def offer(self, job_id: str, session: Session | None = None) -> None:
        session = session or Session()
        await self.intake.offer(
            JobRequest(job_id, "echo"), lambda: self.acked.append(job_id), session.live
        )


@asynccontextmanager
async def intake_on(
    path: Path,
    max_queued: int,
    *,
    writer_class: type[StoreWriter] = StoreWriter,
    store_class: type[MessageStore] = MessageStore,
    run: bool = True,
) -> AsyncIterator[Harness]:
    store = store_class(path)
    writer = writer_class(store)
    intake = Intake(writer, max_queued=max_queued, retry_delays=lambda: itertools.repeat(0.01))
    harness = Harness(store, writer, intake)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            if run:
                nursery.start_soon(intake.run)
            yield harness
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def eventually(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    # (real time: the store writes in a worker thread)
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


async def settle() -> None:
    """Let whatever is under way finish (a write in the worker thread included)."""
    await trio.sleep(0.2)


# -- the intake alone ------------------------------------------------------------------------


async def test_only_what_there_is_room_for_is_written_and_it_is_acknowledged_at_once(tmp_path):
    async with intake_on(tmp_path, max_queued=1) as h:
        for i in range(4):
            await h.offer(f"j{i}")
        await eventually(lambda: h.acked == ["j0"])
        await settle()
        # One place in the queue: one request written, and acknowledged. The others are
        # neither: should this replica die now, the broker gives them to another, and this
        # one's inbox does not run them again after its restart.
        assert h.written() == {"j0"} and h.acked == ["j0"]
        # A runner asks for a job: it gets j0, and there is room for one more.
        assert (await h.intake.next_job()).job_id == "j0"
        await eventually(lambda: h.acked == ["j0", "j1"])
        await settle()
        assert h.written() == {"j0", "j1"} and h.acked == ["j0", "j1"]


class _CountingStore(MessageStore):
    """Counts the requests of each write (each write is one fsync)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.writes: list[int] = []

    def write_batch(self, operations):  # type: ignore[no-untyped-def]
        operations = list(operations)
        self.writes.append(sum(len(items) for _, items in operations))
        super().write_batch(operations)


async def test_as_many_as_there_is_room_for_share_one_fsync(tmp_path):
    async with intake_on(tmp_path, max_queued=3, store_class=_CountingStore, run=False) as h:
        assert isinstance(h.store, _CountingStore)
        for i in range(5):
            await h.offer(f"j{i}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.intake.run)
            await eventually(lambda: len(h.acked) == 3)
            await settle()
            assert h.store.writes == [3] and h.written() == {"j0", "j1", "j2"}
            # Two runners come: two more places, one more write.
            async with trio.open_nursery() as runners:
                runners.start_soon(h.intake.next_job)
                runners.start_soon(h.intake.next_job)
            await eventually(lambda: len(h.acked) == 5)
            assert sum(h.store.writes) == 5 and h.acked == [f"j{i}" for i in range(5)]
            nursery.cancel_scope.cancel()


async def test_a_request_whose_session_ends_while_it_waits_for_room_is_left_to_the_broker(
    tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    async with intake_on(tmp_path, max_queued=1) as h:
        first, second = Session(), Session()
        await h.offer("j0", first)
        await h.offer("j1", second)
        await eventually(lambda: h.acked == ["j0"])
        second.end()  # the broker gives j1 again, to this replica or another
        await h.intake.next_job()
        await settle()
        assert h.acked == ["j0"] and h.written() == {"j0"} and "j1" not in h.intake.known
        assert "session ended before it was taken" in caplog.text
        # Its next delivery, on a session that is open, is taken as new.
        await h.offer("j1")
        await eventually(lambda: h.acked == ["j0", "j1"])
        assert h.written() == {"j0", "j1"}


class _SessionEndsDuringTheWrite(StoreWriter):
    """The broker session ends while the requests are being fsynced."""

    session: Session

    async def save_requests(self, requests: list[JobRequest]) -> None:
        await super().save_requests(requests)
        self.session.end()


async def test_a_request_whose_session_ends_while_it_is_written_is_withdrawn(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    async with intake_on(tmp_path / "msg", 1, writer_class=_SessionEndsDuringTheWrite) as h:
        assert isinstance(h.writer, _SessionEndsDuringTheWrite)
        h.writer.session = Session()
        await h.offer("j0", h.writer.session)
        await eventually(lambda: "withdrawn" in caplog.text)
        # Not acknowledged, not run, and gone from the inbox: it is the broker's again.
        await eventually(lambda: h.written() == set())
        assert h.acked == [] and h.intake.waiting() == 0 and "j0" not in h.intake.known
        # Its room is given back: the next delivery of it is taken.
        h.writer.session = Session()
        h.writer.session.end = lambda: None  # type: ignore[method-assign]
        await h.offer("j0", h.writer.session)
        await eventually(lambda: h.acked == ["j0"])
        assert h.written() == {"j0"}
    # After a restart, the inbox runs it once (the withdrawn copy stays withdrawn).
    store = MessageStore(tmp_path / "msg")
    try:
        assert [r.job_id for r in store.load_requests()] == ["j0"]
    finally:
        store.close()


async def test_a_second_copy_is_taken_when_the_first_copy_s_session_ended(tmp_path):
    async with intake_on(tmp_path, max_queued=4, run=False) as h:
        old, new = Session(), Session()
        # Both copies in one batch: the first from a session that ended, the second from the
        # session that followed it.
        await h.offer("j0", old)
        await h.offer("j0", new)
        old.end()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.intake.run)
            await eventually(lambda: h.acked == ["j0"])
            await settle()
            nursery.cancel_scope.cancel()
        assert h.acked == ["j0"] and h.written() == {"j0"} and h.intake.waiting() == 1


async def test_a_copy_of_a_job_in_hand_is_acknowledged_only(tmp_path):
    async with intake_on(tmp_path, max_queued=4) as h:
        await h.offer("j0")
        await h.offer("j0")
        await eventually(lambda: h.acked == ["j0", "j0"])
        await settle()
        assert h.intake.waiting() == 1 and h.written() == {"j0"}


class _FullDisk(MessageStore):
    full = True
    attempts = 0

    def write_batch(self, operations):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.full:
            raise OSError(28, "No space left on device")
        super().write_batch(operations)


async def test_a_paused_intake_leaves_to_the_broker_what_it_held_for_a_session_that_ended(
    tmp_path,
):
    async with intake_on(tmp_path, max_queued=4, store_class=_FullDisk) as h:
        assert isinstance(h.store, _FullDisk)
        ended, open_ = Session(), Session()
        await h.offer("j0", ended)
        await h.offer("j1", open_)
        await eventually(lambda: h.intake.paused and h.store.attempts >= 3)
        ended.end()
        h.store.full = False
        await eventually(lambda: h.acked == ["j1"])
        await settle()
        assert h.acked == ["j1"] and h.written() == {"j1"} and not h.intake.paused


async def test_a_pause_whose_held_requests_all_left_ends(tmp_path):
    async with intake_on(tmp_path, max_queued=4, store_class=_FullDisk) as h:
        assert isinstance(h.store, _FullDisk)
        session = Session()
        await h.offer("j0", session)
        await eventually(lambda: h.intake.paused)
        session.end()
        await eventually(lambda: not h.intake.paused)
        assert h.acked == [] and h.intake.held == 0
        h.store.full = False
        await h.offer("j1")
        await eventually(lambda: h.acked == ["j1"])


async def test_recovered_requests_take_their_room_first(tmp_path):
    async with intake_on(tmp_path, max_queued=1) as h:
        h.store.save_requests([JobRequest("old0", "echo"), JobRequest("old1", "echo")])
        async with trio.open_nursery() as nursery:
            nursery.start_soon(h.intake.recover, h.store.load_requests())
            await trio.testing.wait_all_tasks_blocked()
            await h.offer("new")
            await settle()
            # The queue's one place is old0's; old1 waits for room before the new one.
            assert h.acked == [] and h.written() == {"old0", "old1"}
            runs = [(await h.intake.next_job()).job_id for _ in range(2)]
            assert runs == ["old0", "old1"]
            await eventually(lambda: h.acked == ["new"])
            assert (await h.intake.next_job()).job_id == "new"


# -- two replicas on one broker ----------------------------------------------------------------


@asynccontextmanager
async def replica(
    path: Path, broker: FakeBroker, **settings: object
) -> AsyncIterator[tuple[Daemon, Callable[[], Awaitable[None]]]]:
    """A daemon with a store of its own (one runner, one place in the queue, a prefetch of
    4), and what crashes it (no shutdown: the broker session is cut, the store left as it
    is, its lock freed)."""
    path.mkdir(parents=True, exist_ok=True)
    config = daemon_config(path, MAX_CONCURRENT_JOBS=1, MAX_QUEUED_JOBS=1, PREFETCH=4, **settings)
    daemon = Daemon(config, handle_signals=False, connect=broker.connect)
    scope = trio.CancelScope()
    ended = trio.Event()

    async def run(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            with scope:
                await daemon.run(task_status=task_status)
        finally:
            daemon.store.close()
            ended.set()

    async def crash() -> None:
        scope.cancel()
        await ended.wait()

    async with trio.open_nursery() as nursery:
        await nursery.start(run)
        yield daemon, crash
        await crash()


def _unacked(broker: FakeBroker, session_index: int) -> int:
    session = broker.sessions[session_index]
    return sum(len(sub.unacked) for sub in session.subscriptions.values())


def _idle(daemon: Daemon) -> bool:
    return not daemon.store.load_requests() and daemon.outbox.empty.is_set()


JOBS = [f"slow-{i}" for i in range(12)]


def _publish_slow_jobs(broker: FakeBroker) -> None:
    for job_id in JOBS:
        broker.job(job_id, job_id.encode(), echo_delay="10")


async def _every_job_once(broker: FakeBroker, *daemons: Daemon) -> collections.Counter[str]:
    await broker.until(lambda: set(broker.completion_ids()) == set(JOBS))
    await broker.until(lambda: all(_idle(d) for d in daemons))
    await trio.sleep(60)  # any second run would have ended by now
    return collections.Counter(broker.completion_ids())


async def test_a_replica_that_crashes_and_restarts_runs_only_what_it_acknowledged(tmp_path, clock):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        _publish_slow_jobs(broker)
        async with replica(tmp_path / "one", broker) as (_one, crash):
            # One running, one queued (acknowledged); four more prefetched, in hand.
            await broker.until(lambda: len(broker.acked) == 2 and _unacked(broker, 0) == 4)
            kept = set(broker.acked_ids())
            async with replica(tmp_path / "two", broker) as (two, _):
                await broker.until(lambda: len(broker.acked) == 4 and _unacked(broker, 1) == 4)
                await crash()  # kill -9
                # The broker gives what the first had in hand, unacknowledged, to the second,
                # which runs every job but the two the first acknowledged.
                await broker.until(lambda: set(broker.completion_ids()) >= set(JOBS) - kept)
                async with replica(tmp_path / "one", broker) as (again, _):
                    counts = await _every_job_once(broker, again, two)
        nursery.cancel_scope.cancel()
    assert counts == {job_id: 1 for job_id in JOBS}


async def test_a_replica_whose_session_drops_runs_only_what_it_acknowledged(
    tmp_path, clock, caplog
):
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        _publish_slow_jobs(broker)
        async with replica(tmp_path / "one", broker) as (one, _):
            await broker.until(lambda: len(broker.acked) == 2 and _unacked(broker, 0) == 4)
            kept = set(broker.acked_ids())
            async with replica(tmp_path / "two", broker) as (two, _):
                await broker.until(lambda: len(broker.acked) == 4 and _unacked(broker, 1) == 4)
                # The first replica's connection breaks, and it cannot reconnect for a while:
                # what it had in hand, unacknowledged, goes back to the queue and to the
                # second, which runs every job but the two the first acknowledged.
                broker.refuse = True
                dropped = broker.sessions[0]
                dropped.closed = True
                await dropped.stream.aclose()
                dropped.end()
                await broker.until(lambda: set(broker.completion_ids()) >= set(JOBS) - kept)
                broker.refuse = False
                counts = await _every_job_once(broker, one, two)
        nursery.cancel_scope.cancel()
    assert counts == {job_id: 1 for job_id in JOBS}
    assert "session ended before it was taken" in caplog.text


async def test_a_stopping_replica_leaves_what_waited_for_room_to_the_broker(tmp_path, clock):
    """The UNSUBSCRIBE of a shutdown gives what was in hand, unacknowledged, back to the
    broker (which gives it to another replica): what waited for room is not written when
    room comes, so the next start does not run it too."""
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        _publish_slow_jobs(broker)
        async with replica(tmp_path / "one", broker, SHUTDOWN_GRACE_PERIOD=30) as (one, _):
            await broker.until(lambda: len(broker.acked) == 2 and _unacked(broker, 0) == 4)
            # The running job ends within the grace period: its runner asks for the next
            # job, which makes room while stopping.
            await one.shutdown()
            completed = broker.completion_ids()
        nursery.cancel_scope.cancel()
    store = MessageStore(tmp_path / "one" / "msg")
    try:
        left = [r.job_id for r in store.load_requests()]
    finally:
        store.close()
    # What it acknowledged ran or waits for the next start; nothing else is in its inbox.
    assert "slow-0" in completed and sorted(completed + left) == ["slow-0", "slow-1"]
