"""The stomp mode: one trio run that takes jobs from the broker and never loses one.

The supervisor nursery owns the broker session (reconnected forever, failing over between
addresses), the writer of the durable message store, the running jobs and the signal handler.

Asynchronous jobs (`JOBS`): a request is written to the inbox (fsynced) before the broker gets
its ACK; the job runs within its concurrency budget; its completion is written to the outbox
before it is sent to `JOB_STATUS` with a receipt; only the RECEIPT removes the job from inbox and
outbox. On start and after every reconnect the outbox is sent again, and the inbox's jobs run.
Synchronous jobs (`SYNCHRONOUS_JOBS`) run on their own budget, reply to `reply-to`, and are
acknowledged after the reply's receipt; a lost connection cancels them and the broker delivers
them again.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from stompframe import Frame

from . import __version__, metrics
from .broker.backoff import Backoff
from .broker.connection import BrokerConnection, BrokerError, ConnectionLost
from .commands import registry
from .config import BrokerConfig, Config
from .health import Health
from .jobs.completion import Completion, completion_for
from .jobs.request import JobRequest, MissingJobId, request_from_message
from .jobs.runner import JobRunner
from .jobs.store import MessageStore, StoreInUse
from .logs import job_context
from .shutdown import STOP_SIGNALS, early_signal

if TYPE_CHECKING:
    from .admin import AdminListener
    from .repository import RepositoryClient

__all__ = ["Daemon", "client_id"]

log = logging.getLogger("plastrond.daemon")

#: seconds that shutdown waits for the receipts of completions still being delivered
DELIVERY_GRACE = 10.0


def client_id() -> str:
    return f"plastrond/{__version__}-{socket.gethostname()}-{os.getpid()}"


def _first_headers(frame: Frame) -> dict[str, str]:
    """Headers by name, the first occurrence winning (STOMP 1.2)."""
    result: dict[str, str] = {}
    for name, value in frame.headers:
        result.setdefault(name, value)
    return result


class _StoreWriter:
    """Batches the message store's writes: whatever queued while one batch was on disk goes
    in the next, sharing its folder fsyncs. Runs the blocking work in a worker thread."""

    def __init__(self, store: MessageStore, health: Health | None = None) -> None:
        self.store = store
        self.health = health
        self._send, self._receive = trio.open_memory_channel[
            tuple[str, list[Any], trio.Event | None, list[BaseException]]
        ](float("inf"))

    async def save_requests(self, requests: list[JobRequest]) -> None:
        await self._submit("requests", requests)

    async def save_completion(self, completion: Completion) -> None:
        await self._submit("completions", [completion])

    def remove_soon(self, job_id: str) -> None:
        self._send.send_nowait(("remove", [job_id], None, []))

    async def _submit(self, kind: str, items: list[Any]) -> None:
        done = trio.Event()
        errors: list[BaseException] = []
        self._send.send_nowait((kind, items, done, errors))
        await done.wait()
        if errors:
            raise errors[0]

    async def run(self) -> None:
        async for first in self._receive:
            batch = [first]
            while True:
                try:
                    batch.append(self._receive.receive_nowait())
                except trio.WouldBlock:
                    break
            await self._write(batch)

    async def _write(
        self, batch: list[tuple[str, list[Any], trio.Event | None, list[Any]]]
    ) -> None:
        # Operations keep their order (a job may be removed and accepted again within one
        # batch); neighbours of one kind are merged so that they share a folder fsync.
        runs: list[tuple[str, list[Any]]] = []
        for kind, items, _, _ in batch:
            if runs and runs[-1][0] == kind:
                runs[-1][1].extend(items)
            else:
                runs.append((kind, list(items)))

        def work() -> None:
            self.store.write_batch(runs)

        error: OSError | None = None
        try:
            await trio.to_thread.run_sync(work)
        except OSError as e:
            log.error("message store write failed: %s", e)
            error = e
            metrics.STORE_WRITE_ERRORS.inc()
        if self.health is not None:
            if error is None:
                self.health.store_written()
            else:
                self.health.store_failed(error)
        for _, _, done, errors in batch:
            if error is not None:
                errors.append(error)
            if done is not None:
                done.set()


class Daemon:
    def __init__(self, config: Config, *, handle_signals: bool = True) -> None:
        self.config = config
        self.broker: BrokerConfig = config.require_broker()
        #: what the admin listener's `GET /health` reports (see plastrond.health)
        self.health = Health(self.broker.message_store_dir)
        metrics.track_session_uptime(lambda: self.health.session_since)
        self.admin: AdminListener | None = None
        if config.admin is not None:
            from .admin import AdminListener

            # Bound now: a port that cannot be had is a configuration error, before anything.
            self.admin = AdminListener(config.admin, self.health, where=f"{config.path}: ADMIN")
        self.store = MessageStore(self.broker.message_store_dir)
        self.writer = _StoreWriter(self.store, self.health)
        self.runner = JobRunner(
            config,
            commands=registry,
            max_async=self.broker.max_concurrent_jobs,
            max_sync=self.broker.max_concurrent_sync_jobs,
            send_progress=self._send_progress,
            progress_interval=self.broker.progress_interval,
        )
        self.handle_signals = handle_signals
        self._repository: RepositoryClient | None = None
        self.conn: BrokerConnection | None = None
        #: ids of asynchronous jobs accepted and not yet receipted (running, waiting, outbox)
        self.known: set[str] = set()
        #: completions written to the outbox and not yet receipted
        self.undelivered: dict[str, Completion] = {}
        self._delivery: trio.MemorySendChannel[str] | None = None
        #: accepted asynchronous jobs not yet finished; intake waits while this is full
        self.capacity = self.broker.max_concurrent_jobs + self.broker.max_queued_jobs
        self.in_hand = 0
        self._room = trio.lowlevel.ParkingLot()
        self.active_jobs = 0
        self._idle = trio.Event()
        self._idle.set()
        self.stopping = False
        self._jobs_scope = trio.CancelScope()
        self._jobs_nursery: trio.Nursery | None = None
        self._top: trio.Nursery | None = None
        self._ready = trio.Event()
        self.connected = trio.Event()

    # --- the supervisor ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until SIGTERM/SIGINT (or `request_stop`), then shut down gracefully."""
        self.runner.repository_factory = self._repository_client
        try:
            await self._supervise(task_status)
        finally:
            if self._repository is not None:
                with trio.CancelScope(shield=True):
                    await self._repository.aclose()

    def _repository_client(self) -> RepositoryClient:
        """The one repository client of this daemon, made when a job first needs it (a daemon
        that only echoes never loads the HTTP and RDF libraries)."""
        if self._repository is None:
            from .repository import RepositoryClient

            self._repository = RepositoryClient(self.config.repository)
        return self._repository

    async def _supervise(self, task_status: trio.TaskStatus[None]) -> None:
        async with trio.open_nursery() as top:
            self._top = top
            if self.handle_signals:
                top.start_soon(self._watch_signals)
            top.start_soon(self.writer.run)
            if self.admin is not None:
                await top.start(self.admin.serve)
            await top.start(self._host_jobs)
            await self._recover()
            top.start_soon(self._session_loop)
            task_status.started()
            self._ready.set()

    async def _host_jobs(self, *, task_status: trio.TaskStatus[None]) -> None:
        with self._jobs_scope:
            async with trio.open_nursery() as nursery:
                self._jobs_nursery = nursery
                task_status.started()
                await trio.sleep_forever()

    async def _recover(self) -> None:
        """Load the outbox (to resend) and the inbox (to run) left by an earlier run."""
        completions = await trio.to_thread.run_sync(self.store.load_completions)
        requests = await trio.to_thread.run_sync(self.store.load_requests)
        for completion in completions:
            self.undelivered[completion.job_id] = completion
            self.known.add(completion.job_id)
        pending = [r for r in requests if r.job_id not in self.undelivered]
        if completions or pending:
            log.info(
                "recovered %d completion(s) to resend and %d job(s) to run from %s",
                len(completions),
                len(pending),
                self.store.root,
            )
        for request in pending:
            self.known.add(request.job_id)
            self.in_hand += 1
            self._start_job(request)

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
            early = early_signal()
            if early is not None:
                log.info("%s during start-up: stopping", signal.Signals(early).name)
                assert self._top is not None
                self._top.start_soon(self.shutdown)
            async for signum in signals:
                if not self.stopping:
                    log.info("%s: stopping (again to exit at once)", signal.Signals(signum).name)
                    assert self._top is not None
                    self._top.start_soon(self.shutdown)
                else:
                    log.warning("%s again: exiting now", signal.Signals(signum).name)
                    self._cancel_all()
                    return

    def request_stop(self) -> None:
        """Begin a graceful shutdown (as SIGTERM does)."""
        if not self.stopping and self._top is not None:
            self._top.start_soon(self.shutdown)

    def _cancel_all(self) -> None:
        self._jobs_scope.cancel()
        if self._top is not None:
            self._top.cancel_scope.cancel()

    async def shutdown(self) -> None:
        """Stop taking jobs, let running ones finish within the grace period, cancel the rest
        (they stay in the inbox), deliver what finished, DISCONNECT, and end the run."""
        if self.stopping:
            return
        self.stopping = True
        self.health.stopping = True
        conn = self.conn
        if conn is not None and conn.is_open:
            for sub_id in list(conn.protocol.subscriptions):
                conn.unsubscribe(sub_id)
        grace = self.broker.shutdown_grace_period
        if self.active_jobs:
            log.info("waiting up to %g s for %d running job(s)", grace, self.active_jobs)
        with trio.move_on_after(grace):
            await self._idle.wait()
        if self.active_jobs:
            log.warning(
                "cancelling %d job(s) still running; they stay in the inbox", self.active_jobs
            )
        self._jobs_scope.cancel()
        with trio.move_on_after(DELIVERY_GRACE):
            while self.undelivered and self.conn is not None and self.conn.is_open:
                await trio.sleep(0.05)
        if self.undelivered:
            log.info(
                "%d completion(s) stay in the outbox for the next start", len(self.undelivered)
            )
        conn = self.conn
        if conn is not None:
            await conn.disconnect()
        log.info("stopped")
        self._cancel_all()

    # --- the broker session --------------------------------------------------------------

    def _ssl_context(self) -> ssl.SSLContext | None:
        if not self.broker.use_tls:
            return None
        cafile = str(self.broker.tls_ca_file) if self.broker.tls_ca_file else None
        return ssl.create_default_context(cafile=cafile)

    async def _session_loop(self) -> None:
        backoff = Backoff(self.broker.reconnect_initial_delay, self.broker.reconnect_max_delay)
        servers = self.broker.servers
        attempt = 0
        while not self.stopping:
            address = servers[attempt % len(servers)]
            attempt += 1
            log.info("connecting to %s (attempt %d)", address, attempt)
            try:
                conn = await BrokerConnection.open(
                    address,
                    virtual_host=self.broker.virtual_host,
                    login=self.broker.login,
                    passcode=self.broker.passcode,
                    heartbeat=(self.broker.heartbeat_send_ms, self.broker.heartbeat_receive_ms),
                    client_id=client_id(),
                    ssl_context=self._ssl_context(),
                    timeout=self.broker.connect_timeout,
                )
            except (BrokerError, OSError, trio.TooSlowError, ssl.SSLError) as e:
                reason = "timed out" if isinstance(e, trio.TooSlowError) else str(e)
                metrics.BROKER_CONNECT_FAILURES.inc()
                self.health.session_lost(f"cannot connect to {address}: {reason}")
                delay = backoff.next_delay()
                log.warning(
                    "cannot connect to %s: %s; next attempt in %.1f s", address, reason, delay
                )
                await trio.sleep(delay)
                continue
            backoff.reset()
            attempt = 0
            log.info("connected to %s (STOMP %s)", address, conn.version)
            self.health.session_opened(str(address))
            metrics.BROKER_CONNECTED.set(1)
            lost = "session ended"
            try:
                await self._session(conn)
            except BrokerError as e:
                lost = str(e)
                if not self.stopping:
                    log.warning("lost the broker: %s", e)
            except Exception as e:
                # A bug must not end the daemon: log it, renew the session, go on.
                lost = f"session failed: {type(e).__name__}"
                log.exception("broker session failed")
            finally:
                self.health.session_lost(lost)
                metrics.BROKER_CONNECTED.set(0)
                metrics.COMPLETIONS_AWAITING_RECEIPT.set(0)
                if not self.stopping:
                    metrics.BROKER_RECONNECTS.inc()
                self.conn = None
                self._delivery = None
                self.connected = trio.Event()
                await conn.aclose()
            if not self.stopping:
                delay = backoff.next_delay()
                log.info("reconnecting in %.1f s", delay)
                await trio.sleep(delay)

    async def _session(self, conn: BrokerConnection) -> None:
        dests = self.broker.destinations
        ended: list[BrokerError] = []

        async def guarded(task: Callable[..., Awaitable[None]], *args: Any) -> None:
            # A lost session ends all its tasks; its reason is raised once, not as a group.
            try:
                await task(*args)
            except BrokerError as e:
                ended.append(e)
            nursery.cancel_scope.cancel()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(guarded, conn.run)
            # Resend the outbox first, then take new work.
            delivery_send, delivery_receive = trio.open_memory_channel[str](float("inf"))
            for job_id in list(self.undelivered):
                delivery_send.send_nowait(job_id)
            self._delivery = delivery_send
            self.conn = conn
            nursery.start_soon(guarded, self._deliver, conn, delivery_receive)
            if not self.stopping:
                prefetch = [("activemq.prefetchSize", str(self.broker.prefetch))]
                jobs_send, jobs_receive = trio.open_memory_channel[Frame](float("inf"))
                sync_send, sync_receive = trio.open_memory_channel[Frame](float("inf"))
                conn.subscribe(dests.jobs, jobs_send, headers=prefetch)
                conn.subscribe(dests.synchronous_jobs, sync_send, headers=prefetch)
                nursery.start_soon(guarded, self._take_async_jobs, conn, jobs_receive)
                nursery.start_soon(guarded, self._take_sync_jobs, conn, sync_receive, nursery)
            self.connected.set()
        if ended:
            raise ended[0]

    # --- asynchronous jobs ---------------------------------------------------------------

    async def _take_slot(self) -> None:
        while self.in_hand >= self.capacity:
            await self._room.park()
        self.in_hand += 1

    def _give_slot(self) -> None:
        self.in_hand -= 1
        self._room.unpark()

    async def _take_async_jobs(
        self, conn: BrokerConnection, frames: trio.MemoryReceiveChannel[Frame]
    ) -> None:
        async for first in frames:
            batch = [first]
            while True:
                try:
                    batch.append(frames.receive_nowait())
                except trio.WouldBlock:
                    break
            accepted: list[tuple[Frame, JobRequest]] = []
            try:
                for frame in batch:
                    request = self._parse(conn, frame, synchronous=False)
                    if request is None:
                        continue
                    if request.job_id in self.known:
                        with job_context(request.job_id):
                            log.info("delivered again; already accepted, so acknowledged only")
                        conn.ack(frame)
                        continue
                    await self._take_slot()
                    self.known.add(request.job_id)
                    accepted.append((frame, request))
            except BaseException:
                # Cancelled while waiting for room (the session ended): none of these was
                # written or acknowledged, so the broker delivers them again.
                self._forget(accepted)
                raise
            if not accepted:
                continue
            # Written, then started, as one step that a lost session cannot cut in half.
            with trio.CancelScope(shield=True):
                try:
                    await self.writer.save_requests([r for _, r in accepted])
                except OSError as e:
                    self._forget(accepted)
                    # Unacknowledged, they come back once the session is renewed.
                    raise ConnectionLost(f"cannot keep requests in the inbox: {e}") from None
                for _frame, request in accepted:
                    with job_context(request.job_id):
                        log.info("accepted %s job", request.command or "(no command)")
                    metrics.JOBS_ACCEPTED.labels(
                        self.runner.command_label(request.command), "async"
                    ).inc()
                    self._start_job(request)
            # A message whose ACK does not reach the broker is delivered again and recognised
            # by its job id.
            for frame, _request in accepted:
                conn.ack(frame)

    def _forget(self, accepted: list[tuple[Frame, JobRequest]]) -> None:
        for _frame, request in accepted:
            self.known.discard(request.job_id)
            self._give_slot()

    def _parse(
        self, conn: BrokerConnection, frame: Frame, *, synchronous: bool
    ) -> JobRequest | None:
        try:
            return request_from_message(
                _first_headers(frame), frame.body, synchronous=synchronous, received=time.time()
            )
        except MissingJobId as e:
            log.error(
                "dropped message %s from %s: %s (it cannot be answered)",
                frame.get("message-id"),
                frame.get("destination"),
                e,
            )
            conn.ack(frame)
            return None

    def _start_job(self, request: JobRequest) -> None:
        assert self._jobs_nursery is not None
        self.active_jobs += 1
        self._idle = trio.Event()
        self._jobs_nursery.start_soon(self._run_async_job, request, name=request.job_id)

    def _job_ended(self) -> None:
        self.active_jobs -= 1
        if self.active_jobs == 0:
            self._idle.set()

    async def _run_async_job(self, request: JobRequest) -> None:
        slot = True
        try:
            result = await self.runner.run(request)
            # The job has run: room for the next one while its completion is kept.
            self._give_slot()
            slot = False
            completion = completion_for(request, result, self.broker.destinations.job_status)
            await self._keep_completion(completion)
        finally:
            if slot:
                self._give_slot()
            self._job_ended()

    async def _keep_completion(self, completion: Completion) -> None:
        retry = Backoff(1.0, 60.0)
        while True:
            try:
                await self.writer.save_completion(completion)
                break
            except OSError:
                # The result must not be lost: keep it in memory and try the disk again.
                await trio.sleep(retry.next_delay())
        self.undelivered[completion.job_id] = completion
        if self._delivery is not None:
            self._delivery.send_nowait(completion.job_id)

    async def _deliver(
        self, conn: BrokerConnection, job_ids: trio.MemoryReceiveChannel[str]
    ) -> None:
        async for job_id in job_ids:
            completion = self.undelivered.get(job_id)
            if completion is None:
                continue
            conn.send(
                completion.destination,
                completion.body,
                completion.headers,
                on_receipt=partial(self._delivered, job_id),
            )
            metrics.COMPLETIONS_AWAITING_RECEIPT.inc()

    def _delivered(self, job_id: str) -> None:
        metrics.COMPLETIONS_AWAITING_RECEIPT.dec()
        if self.undelivered.pop(job_id, None) is not None:
            self.known.discard(job_id)
            self.writer.remove_soon(job_id)
            with job_context(job_id):
                log.debug("completion receipted")

    # --- synchronous jobs ----------------------------------------------------------------

    async def _take_sync_jobs(
        self,
        conn: BrokerConnection,
        frames: trio.MemoryReceiveChannel[Frame],
        nursery: trio.Nursery,
    ) -> None:
        async for frame in frames:
            request = self._parse(conn, frame, synchronous=True)
            if request is None:
                continue
            if request.reply_to is None:
                with job_context(request.job_id):
                    log.error("synchronous job without reply-to dropped (nowhere to answer)")
                conn.ack(frame)
                continue
            metrics.JOBS_ACCEPTED.labels(self.runner.command_label(request.command), "sync").inc()
            self.active_jobs += 1
            self._idle = trio.Event()
            nursery.start_soon(self._run_sync_job, conn, frame, request, name=request.job_id)

    async def _run_sync_job(
        self, conn: BrokerConnection, frame: Frame, request: JobRequest
    ) -> None:
        try:
            result = await self.runner.run(request)
            assert request.reply_to is not None
            completion = completion_for(request, result, request.reply_to)
            with job_context(request.job_id):
                await conn.send_and_confirm(
                    completion.destination, completion.body, completion.headers
                )
                conn.ack(frame)
                log.debug("reply receipted; acknowledged")
        except ConnectionLost:
            with job_context(request.job_id):
                log.info("connection lost before the reply was confirmed; the broker resends it")
        finally:
            self._job_ended()

    # --- progress ------------------------------------------------------------------------

    async def _send_progress(self, job_id: str, body: bytes) -> None:
        conn = self.conn
        if conn is None or not conn.is_open:
            return
        conn.send(self.broker.destinations.job_progress, body, [("PlastronJobId", job_id)])


def run_stomp(config: Config) -> int:
    """The `plastrond stomp` entry point."""
    try:
        daemon = Daemon(config)
    except (StoreInUse, OSError) as e:
        log.error("cannot open the message store: %s", e)
        return 1
    try:
        trio.run(daemon.run)
    finally:
        daemon.store.close()
        if daemon.admin is not None:
            daemon.admin.close()
    return 0
