"""The stomp mode's parts without a broker: a broker double over trio memory streams
(`tests.support.daemon.FakeBroker`) and trio's MockClock, so no test waits out a grace period or
a back-off for real."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator

import pytest
import trio
import trio.testing

from plastrond.backoff import Backoff
from plastrond.broker.connection import BrokerConnection, ConnectionLost
from plastrond.broker.session import BrokerSession
from plastrond.config import BrokerAddress
from plastrond.daemon import Daemon
from plastrond.jobs import JobRequest, JobResult
from plastrond.jobs.completion import completion_for
from plastrond.jobs.intake import Intake
from plastrond.jobs.outbox import Outbox
from plastrond.jobs.store import MessageStore
from plastrond.jobs.writer import StoreWriter
from tests.support.daemon import QUEUES, FakeBroker, daemon_config, running_daemon


def _store_has(daemon: Daemon, job_id: str) -> tuple[bool, bool]:
    return daemon.store.has_request(job_id), daemon.store.has_completion(job_id)


# -- the whole daemon ------------------------------------------------------------------------


async def test_an_async_job_is_in_the_inbox_before_its_ack_and_gone_after_the_receipt(
    tmp_path, clock
):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True
        async with running_daemon(daemon_config(tmp_path), broker) as daemon:
            broker.job("j1", b"hello")
            await broker.until(lambda: "j1" in broker.completion_ids())
            assert broker.acked_ids() == ["j1"]
            # Completion sent, receipt not yet given: inbox and outbox both hold the job.
            assert _store_has(daemon, "j1") == (True, True)
            (completion,) = broker.completions()
            assert completion.body == b"hello"
            assert dict(completion.headers)["PlastronJobState"] == "Done"
            broker.hold_receipts = False
            await broker.release_receipts()
            await broker.until(lambda: _store_has(daemon, "j1") == (False, False))
            assert daemon.outbox.empty.is_set()
        nursery.cancel_scope.cancel()


async def test_a_job_delivered_twice_runs_once(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True  # still in hand when the second copy comes
        async with running_daemon(daemon_config(tmp_path), broker):
            broker.job("twice", b"a")
            await broker.until(lambda: broker.completion_ids() == ["twice"])
            broker.job("twice", b"a")
            await broker.until(lambda: len(broker.acked) == 2)
            await trio.sleep(5)
            assert broker.completion_ids() == ["twice"]
            assert "already accepted" in caplog.text
        nursery.cancel_scope.cancel()


async def test_a_full_queue_stops_the_acks(tmp_path, clock):
    config = daemon_config(tmp_path, MAX_CONCURRENT_JOBS=1, MAX_QUEUED_JOBS=1, PREFETCH=2)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with running_daemon(config, broker):
            for i in range(6):
                broker.job(f"slow-{i}", echo_delay="10")
            # (waited for, not slept on: the mock clock jumps while the store writes in its
            # worker thread, and a loaded machine can take longer than the 1 s slept before)
            await broker.until(
                lambda: len(broker.acked) == 2 and len(broker.queues[QUEUES["JOBS"]]) == 2
            )
            await trio.sleep(1)
            # One running, one queued: acknowledged. The next waits for room, neither written
            # nor acknowledged, one more waits to be looked at; the broker keeps the rest.
            assert broker.acked_ids() == ["slow-0", "slow-1"]
            assert len(broker.queues[QUEUES["JOBS"]]) == 2
            await trio.sleep(10)
            assert broker.acked_ids() == ["slow-0", "slow-1", "slow-2"]
            await broker.until(lambda: len(broker.completions()) == 6)
            assert broker.completion_ids() == [f"slow-{i}" for i in range(6)]
        nursery.cancel_scope.cancel()


async def test_shutdown_gives_running_jobs_the_grace_period(tmp_path, clock, caplog):
    caplog.set_level(logging.INFO)
    config = daemon_config(tmp_path, SHUTDOWN_GRACE_PERIOD=5)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        daemon = Daemon(config, handle_signals=False, connect=broker.connect)
        try:
            async with trio.open_nursery() as inner:
                await inner.start(daemon.run)
                broker.job("short", b"s", echo_delay="3")
                broker.job("long", b"l", echo_delay="100")
                await broker.until(lambda: len(broker.acked) == 2)
                started = trio.current_time()
                daemon.stop()
            ended = trio.current_time()
            assert ended - started == pytest.approx(5, abs=0.1)
            # The short job finished within the grace period and its completion went out;
            # the long one was cancelled and stays in the inbox for the next start.
            assert broker.completion_ids() == ["short"]
            assert _store_has(daemon, "long") == (True, False)
            assert _store_has(daemon, "short") == (False, False)
            assert "stay in the inbox" in caplog.text
            commands = [f.command for f in broker.frames]
            assert commands.count("UNSUBSCRIBE") == 2 and commands[-1] == "DISCONNECT"
        finally:
            daemon.store.close()
        nursery.cancel_scope.cancel()


async def test_a_second_stop_ends_everything_at_once(tmp_path, clock):
    config = daemon_config(tmp_path, SHUTDOWN_GRACE_PERIOD=30)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        daemon = Daemon(config, handle_signals=False, connect=broker.connect)
        try:
            async with trio.open_nursery() as inner:
                await inner.start(daemon.run)
                broker.job("long", echo_delay="100")
                await broker.until(lambda: len(broker.acked) == 1)
                started = trio.current_time()
                daemon.stop()
                await trio.sleep(2)
                daemon.stop()
            assert trio.current_time() - started == pytest.approx(2, abs=0.01)
            assert _store_has(daemon, "long") == (True, False)
            assert broker.completion_ids() == []
        finally:
            daemon.store.close()
        nursery.cancel_scope.cancel()


async def test_inbox_and_outbox_are_recovered_on_start(tmp_path, clock):
    config = daemon_config(tmp_path)
    store = MessageStore(config.require_broker().message_store_dir)
    left = JobRequest("left-running", "echo", body=b"again")
    done = JobRequest("done-before", "echo")
    store.save_requests([left, done])
    store.save_completions([completion_for(done, JobResult(body=b"kept"), QUEUES["JOB_STATUS"])])
    store.close()
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with running_daemon(config, broker) as daemon:
            await broker.until(lambda: len(broker.completions()) == 2)
            by_id = {m.job_id: m.body for m in broker.completions()}
            # The kept completion is resent as it was; the job is not run again.
            assert by_id == {"done-before": b"kept", "left-running": b"again"}
            await broker.until(lambda: not daemon.store.load_requests())
            assert daemon.store.load_completions() == []
        nursery.cancel_scope.cancel()


async def test_after_a_lost_broker_the_outbox_is_sent_again(tmp_path, clock):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True
        async with running_daemon(daemon_config(tmp_path), broker) as daemon:
            broker.job("j1", b"x")
            await broker.until(lambda: broker.completion_ids() == ["j1"])
            lost = trio.current_time()
            broker.held.clear()  # the receipt never comes
            await broker.drop()
            broker.hold_receipts = False
            await broker.until(lambda: broker.completion_ids() == ["j1", "j1"])
            # RECONNECT_INITIAL_DELAY is 1 s (with jitter, at most that).
            assert 0.5 <= trio.current_time() - lost <= 1.01
            assert broker.connects == 2
            await broker.until(lambda: _store_has(daemon, "j1") == (False, False))
        nursery.cancel_scope.cancel()


async def test_a_sync_job_is_acknowledged_after_its_reply_is_receipted(tmp_path, clock):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True
        async with running_daemon(daemon_config(tmp_path), broker):
            broker.publish(
                QUEUES["SYNCHRONOUS_JOBS"], "SYNC-1", "echo", b"now", **{"reply-to": "/temp/r"}
            )
            await broker.until(lambda: broker.sent["/temp/r"])
            await trio.sleep(1)
            assert broker.acked == []
            await broker.release_receipts()
            await broker.until(lambda: broker.acked_ids() == ["SYNC-1"])
            assert broker.sent["/temp/r"][0].body == b"now"
        nursery.cancel_scope.cancel()


# -- the parts -------------------------------------------------------------------------------

ADDRESS = BrokerAddress("broker.test", 61613)


async def test_a_receipt_wait_ends_with_the_session_not_at_the_next_poll(clock):
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        broker.hold_receipts = True
        conn = await broker.connect(ADDRESS)

        async def run() -> None:
            with pytest.raises(ConnectionLost):
                await conn.run()

        nursery.start_soon(run)
        outcome: list[float] = []

        async def confirm() -> None:
            with pytest.raises(ConnectionLost):
                await conn.send_and_confirm("/queue/x", b"body")
            outcome.append(trio.current_time())

        nursery.start_soon(confirm)
        await broker.until(lambda: broker.held)
        await trio.sleep(3.21)
        dropped = trio.current_time()
        await broker.drop()
        await broker.until(lambda: outcome)
        assert outcome[0] == dropped
        nursery.cancel_scope.cancel()


async def test_the_session_fails_over_and_backs_off_until_it_connects(clock):
    attempts: list[tuple[float, str]] = []
    served: list[BrokerConnection] = []

    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)

        async def connect(address: BrokerAddress) -> BrokerConnection:
            attempts.append((trio.current_time(), address.host))
            if len(attempts) < 4:
                raise OSError(111, "Connection refused")
            return await broker.connect(address)

        async def serve(conn: BrokerConnection) -> None:
            served.append(conn)
            await conn.run()

        servers = [BrokerAddress("a", 1), BrokerAddress("b", 2)]
        session = BrokerSession(servers, connect, serve, Backoff(1.0, 60.0, jitter=0.0))
        nursery.start_soon(session.run)
        await broker.until(lambda: served)
        assert [host for _, host in attempts] == ["a", "b", "a", "b"]
        gaps = [b - a for (a, _), (b, _) in itertools.pairwise(attempts)]
        assert gaps == pytest.approx([1.0, 2.0, 4.0])
        # A lost session is renewed, from the first address again.
        await broker.drop()
        await broker.until(lambda: len(served) == 2)
        assert attempts[-1][1] == "a"
        session.stop()
        await broker.drop()
        await trio.sleep(10)
        assert len(served) == 2
        nursery.cancel_scope.cancel()


async def test_the_writer_shares_one_fsync_among_waiting_writers(tmp_path):
    store = MessageStore(tmp_path)
    batches: list[list[tuple[str, list[object]]]] = []
    original = store.write_batch

    def counting(runs):  # type: ignore[no-untyped-def]
        batches.append(list(runs))
        original(runs)

    store.write_batch = counting  # type: ignore[method-assign]
    writer = StoreWriter(store)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            async with trio.open_nursery() as savers:
                for i in range(5):
                    savers.start_soon(writer.save_requests, [JobRequest(f"r{i}", "echo")])
            nursery.cancel_scope.cancel()
        assert len(batches) == 1 and len(batches[0][0][1]) == 5
        assert sorted(r.job_id for r in store.load_requests()) == [f"r{i}" for i in range(5)]
    finally:
        store.close()


async def _eventually(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    # (real time: the store writes in a worker thread)
    with trio.fail_after(timeout):
        while not predicate():
            await trio.sleep(0.005)


class _FullDisk(MessageStore):
    """A store whose disk is full while `full` is set (a real full disk is in
    tests/integration/test_stomp_store_pause.py)."""

    full = True
    attempts = 0

    def write_batch(self, operations):  # type: ignore[no-untyped-def]
        self.attempts += 1
        if self.full:
            raise OSError(28, "No space left on device")
        super().write_batch(operations)


def _quick_retries() -> Iterator[float]:
    return itertools.repeat(0.01)


async def test_an_inbox_that_cannot_be_written_pauses_the_intake_holding_its_requests(
    tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    store = _FullDisk(tmp_path)
    pauses: list[OSError | None] = []
    intake = Intake(
        StoreWriter(store), max_queued=4, on_pause=pauses.append, retry_delays=_quick_retries
    )
    acks: list[str] = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(intake.writer.run)
            nursery.start_soon(intake.run)
            for i in range(3):
                await intake.offer(JobRequest(f"j{i}", "echo"), lambda i=i: acks.append(f"j{i}"))
            await _eventually(lambda: store.attempts >= 10)
            # Paused: retried again and again, nothing acknowledged, said once.
            assert intake.paused and acks == [] and intake.known == set()
            assert caplog.text.count("cannot keep requests in the inbox") == 1
            assert len(pauses) == 1 and isinstance(pauses[0], OSError)
            store.full = False
            await _eventually(lambda: len(acks) == 3)
            assert acks == ["j0", "j1", "j2"] and not intake.paused and pauses[1:] == [None]
            assert sorted(r.job_id for r in store.load_requests()) == ["j0", "j1", "j2"]
            assert caplog.text.count("the inbox can be written again") == 1
            assert caplog.text.count("cannot keep requests in the inbox") == 1
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_the_retries_of_a_paused_intake_grow_to_thirty_seconds(tmp_path, clock):
    store = MessageStore(tmp_path)
    intake = Intake(StoreWriter(store), max_queued=4)
    tries: list[float] = []

    async def full(requests: list[JobRequest]) -> None:
        tries.append(trio.current_time())
        raise OSError(28, "No space left on device")

    intake.writer.save_requests = full  # type: ignore[method-assign]
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(intake.run)
            await intake.offer(JobRequest("j", "echo"), lambda: None)
            await trio.sleep(200)
            nursery.cancel_scope.cancel()
    finally:
        store.close()
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(tries)]
    assert gaps[:8] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0], gaps


async def test_a_daemon_whose_store_is_full_keeps_its_one_session_and_acks_after_recovery(
    tmp_path, clock, caplog
):
    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)
        async with running_daemon(daemon_config(tmp_path, PREFETCH=3), broker) as daemon:
            await broker.until(lambda: broker.connects == 1 and broker.sessions)
            full = True
            original = daemon.store.write_batch

            def write_batch(operations):  # type: ignore[no-untyped-def]
                if full:
                    raise OSError(28, "No space left on device")
                original(operations)

            daemon.store.write_batch = write_batch  # type: ignore[method-assign]
            for i in range(6):
                broker.job(f"full-{i}", b"x")
            await trio.sleep(60)
            assert broker.connects == 1 and broker.acked == [] and broker.completions() == []
            # The broker sent its prefetch and keeps the rest: the intake reads no more.
            assert len(broker.queues[QUEUES["JOBS"]]) == 3
            assert daemon.intake.paused
            assert any("not taking jobs" in p for p in daemon.health.problems())
            full = False
            await broker.until(lambda: len(broker.completions()) == 6)
            assert sorted(broker.completion_ids()) == [f"full-{i}" for i in range(6)]
            assert sorted(broker.acked_ids()) == [f"full-{i}" for i in range(6)]
            assert broker.connects == 1
            assert caplog.text.count("cannot keep requests in the inbox") == 1
            assert not any("not taking jobs" in p for p in daemon.health.problems())
        nursery.cancel_scope.cancel()


async def test_completions_wait_unsent_while_the_store_cannot_write_them(tmp_path, caplog):
    store = _FullDisk(tmp_path)
    store.full = False
    writer = StoreWriter(store)
    outbox = Outbox(writer)
    sends: list[str] = []
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            nursery.start_soon(outbox.run)
            nursery.start_soon(outbox.deliver, lambda c, on_receipt: sends.append(c.job_id))
            store.full = True
            outbox.keep(completion_for(JobRequest("c1", "echo"), JobResult(body=b"1"), "/q/s"))
            await _eventually(lambda: store.attempts >= 2)
            outbox.keep(completion_for(JobRequest("c2", "echo"), JobResult(body=b"2"), "/q/s"))
            await trio.sleep(1.5)
            assert sends == [] and outbox.unwritten == 2 and not store.has_completion("c1")
            assert caplog.text.count("cannot keep completions in the outbox") == 1
            store.full = False
            await _eventually(lambda: len(sends) == 2, timeout=40)
            assert sends == ["c1", "c2"] and store.has_completion("c2") and not outbox.unwritten
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_a_removal_that_failed_is_written_later(tmp_path, clock):
    store = _FullDisk(tmp_path)
    store.full = False
    store.save_completions([completion_for(JobRequest("r1", "echo"), JobResult(body=b"1"), "/q/s")])
    writer = StoreWriter(store)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            store.full = True
            writer.remove_soon("r1")
            with trio.fail_after(100):  # (virtual seconds)
                while store.attempts < 3:  # the first try, then retries 1 s and 2 s later
                    await trio.sleep(0.1)
            assert store.has_completion("r1") and writer.failure is not None
            store.full = False
            with trio.fail_after(100):  # nothing else is written: the removal is retried alone
                while store.has_completion("r1"):
                    await trio.sleep(0.1)
            assert writer.failure is None
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_the_outbox_resends_what_was_not_receipted_on_the_next_session(tmp_path):
    store = MessageStore(tmp_path)
    writer = StoreWriter(store)
    delivered: list[str] = []
    outbox = Outbox(writer, on_delivered=delivered.append)
    request = JobRequest("o1", "echo")
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(writer.run)
            nursery.start_soon(outbox.run)
            outbox.keep(completion_for(request, JobResult(body=b"r"), "/queue/status"))
            assert not outbox.empty.is_set()
            sends: list[tuple[str, object]] = []
            first = trio.CancelScope()

            async def session(scope: trio.CancelScope) -> None:
                with scope:
                    await outbox.deliver(lambda c, on_receipt: sends.append((c.job_id, on_receipt)))

            nursery.start_soon(session, first)
            await _eventually(lambda: sends)
            assert store.has_completion("o1") and [j for j, _ in sends] == ["o1"]
            first.cancel()  # the session ends without the receipt
            nursery.start_soon(session, trio.CancelScope())
            await _eventually(lambda: len(sends) == 2)
            assert [j for j, _ in sends] == ["o1", "o1"]
            sends[-1][1]()  # type: ignore[operator]
            await outbox.empty.wait()
            await _eventually(lambda: not store.has_completion("o1"))
            assert delivered == ["o1"] and not store.has_completion("o1")
            nursery.cancel_scope.cancel()
    finally:
        store.close()


async def test_sessions_that_end_soon_after_they_begin_back_off_further(clock):
    began: list[float] = []

    async with trio.open_nursery() as nursery:
        broker = FakeBroker(nursery)

        async def serve(conn: BrokerConnection) -> None:
            began.append(trio.current_time())
            if len(began) == 4:
                await trio.sleep(100)  # a stable session: the back-off starts again after it
            # (the others end at once, as when a broker drops every new connection)

        session = BrokerSession(
            [ADDRESS], broker.connect, serve, Backoff(1.0, 60.0, jitter=0.0), stable=30
        )
        nursery.start_soon(session.run)
        await broker.until(lambda: len(began) == 6)
        gaps = [round(b - a, 3) for a, b in itertools.pairwise(began)]
        # 1, 2, 4: growing; after the stable one it starts again from 1 (then 2 ...)
        assert gaps == [1.0, 2.0, 4.0, 100.0 + 1.0, 2.0]
        session.stop()
        nursery.cancel_scope.cancel()
