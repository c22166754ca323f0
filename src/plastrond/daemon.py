"""The stomp mode: one trio run that takes jobs from the broker and never loses one.

The `Daemon` is wiring; each part does one thing and has its own unit tests:

- `broker.session.BrokerSession`: the broker session, renewed forever (failover, back-off),
  given `connect` (so a test gives it a fake broker) and `Daemon._serve` for each session;
- `job_frames`: MESSAGE frames to job requests, and the asynchronous ones to the intake;
- `jobs.intake.Intake`: admission of asynchronous jobs (one id once; room first, then inbox,
  then ACK, so that the inbox holds only what was acknowledged) and their budget (a runner
  free or one of `max_queued_jobs` places; the runners are `max_concurrent_jobs` tasks);
- `jobs.runner.JobRunner`: runs one job (the command from the registry);
- `sync_jobs.SyncJobs`: synchronous jobs, run at once and acknowledged after their reply;
- `jobs.outbox.Outbox`: completions written to the store, sent with a receipt, removed on
  the receipt; `empty` when nothing waits;
- `jobs.writer.StoreWriter`: the one writer of the durable `jobs.store.MessageStore`.

A job's way: MESSAGE frame -> `request_from_frame` -> `Intake.offer` -> room -> inbox, ACK
-> intake queue -> `_job_runner` -> `JobRunner.run` -> command -> `completion_for` ->
`Outbox.keep` -> store -> `Outbox.deliver` -> SEND with receipt -> removed from the store.

Making a `Daemon` opens nothing: `run()` binds the admin listener, opens the message store
(or takes the writer it was given), connects, and releases all of it (and the repository
client, made when a job first needs it) when it ends.

Shutdown (SIGTERM, SIGINT, `stop()`): unsubscribe, give running jobs the grace period, cancel
the rest (they stay in the inbox), wait (bounded) for the outbox to empty, DISCONNECT. A
second signal ends everything at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import ssl
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import trio

from . import __version__, metrics
from .backoff import Backoff
from .broker.connection import BrokerConnection, BrokerError, Message, open_configured
from .broker.session import BrokerSession, Connect
from .commands import registry
from .config import BrokerAddress, BrokerConfig, Config, Destinations
from .errors import PlastronError
from .health import Health
from .job_frames import take_async_jobs
from .jobs.completion import (
    Completion,
    FullBodyPlace,
    completion_for,
    cut_to_limit,
    full_body_path,
)
from .jobs.ids import job_id_segment
from .jobs.intake import Intake
from .jobs.outbox import Outbox
from .jobs.request import JobRequest
from .jobs.runner import JobRunner, Running
from .jobs.store import MessageStore, StoreInUse
from .jobs.writer import StoreWriter
from .shutdown import STOP_SIGNALS, watch_stop_signals
from .sync_jobs import SyncJobs
from .waiting import wait_any

if TYPE_CHECKING:
    from .admin import AdminListener
    from .repository import RepositoryClient

__all__ = ["Daemon", "StoreUnavailable", "client_id", "run_stomp"]

log = logging.getLogger("plastrond.daemon")

#: seconds that shutdown waits for the receipts of completions still being delivered
DELIVERY_GRACE = 10.0


#: room for a MESSAGE's headers in the STOMP frame limit, beside MAX_REQUEST_BYTES of body
FRAME_HEADER_ROOM = 1024 * 1024


def frame_limit(max_request_bytes: int) -> int:
    """The STOMP parser's frame limit for MAX_REQUEST_BYTES: the body limit plus 1 MiB for
    the headers.

    A frame within it is read whole; a body over MAX_REQUEST_BYTES is then refused with one
    error completion. A frame past it no longer ends the session: the parser drops its body
    as it streams in (memory stays flat whatever its size) and hands on the headers and first
    bytes as an `OversizedFrame`, which gets the same error completion. So the limit is kept
    just above MAX_REQUEST_BYTES, not above the largest body a broker might deliver.
    """
    return max_request_bytes + FRAME_HEADER_ROOM


def client_id() -> str:
    return f"plastrond/{__version__}-{socket.gethostname()}-{os.getpid()}"


class StoreUnavailable(PlastronError):
    """The message store cannot be opened (another process has it, or an OSError)."""


class Daemon:
    """The stomp mode's wiring (see the module's docstring)."""

    #: made by `run()` when it has opened the message store, for the whole run
    writer: StoreWriter
    intake: Intake
    outbox: Outbox

    def __init__(
        self,
        config: Config,
        *,
        handle_signals: bool = True,
        connect: Connect | None = None,
        writer: StoreWriter | None = None,
    ) -> None:
        """*writer*: the message store (with its writer) to use, which the caller opened
        and closes; by default `run()` opens MESSAGE_STORE_DIR and closes it at its end."""
        self.config = config
        self.broker: BrokerConfig = config.require_broker()
        self.handle_signals = handle_signals
        #: what the admin listener's `GET /health` reports (see plastrond.health)
        self.health = Health(self.broker.message_store_dir)
        self._given_writer = writer
        backoff = Backoff(
            self.broker.reconnect_initial_delay, self.broker.reconnect_max_delay, jitter=0.5
        )
        connect = connect or partial(_connect, self.broker, self.health)
        self.session = BrokerSession(self.broker.servers, connect, self._serve, backoff)
        self.repository = _Repository(config)
        self.runner = JobRunner(
            config,
            commands=registry,
            max_sync=self.broker.max_concurrent_sync_jobs,
            send_progress=partial(_send_progress, self.session, self.broker.destinations),
            progress_interval=self.broker.progress_interval,
            repository_factory=self.repository.get,
        )
        self.running = Running()
        limit, place = self.broker.max_completion_bytes, full_body_place(config)
        self.limit = partial(cut_to_limit, limit=limit, place=place)
        self.sync = SyncJobs(
            self.runner, self.running, max_body=self.broker.max_request_bytes, limit=self.limit
        )
        self.stopping = False
        self._jobs_scope = trio.CancelScope()
        self._top: trio.Nursery | None = None

    @property
    def store(self) -> MessageStore:
        return self.writer.store

    # --- the supervisor ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until SIGTERM/SIGINT (or `stop`), then shut down gracefully."""
        async with self._resources() as admin, trio.open_nursery() as top:
            self._top = top
            if self.handle_signals:
                top.start_soon(self._watch_signals)
            top.start_soon(self.writer.run)
            if admin is not None:
                await top.start(admin.serve)
            top.start_soon(self.intake.run)
            top.start_soon(self.outbox.run)
            await _recover(self.writer, self.intake, self.outbox, top)
            top.start_soon(self._run_jobs)
            top.start_soon(self.session.run)
            task_status.started()

    @contextlib.asynccontextmanager
    async def _resources(self) -> AsyncIterator[AdminListener | None]:
        """The run's resources, released at its end: the admin listener (bound first: a port
        that cannot be had is a configuration error, before anything), the message store and
        the parts that use it, and the repository client."""
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.repository.aclose)
            admin = _admin_listener(self.config, self.health)
            if admin is not None:
                stack.callback(admin.close)
            self.writer = self._given_writer or StoreWriter(await _open_store(self.broker))
            if self._given_writer is None:
                stack.callback(self.writer.store.close)
            self.writer.on_write = self.health.store_result
            self.intake = Intake(
                self.writer,
                max_queued=self.broker.max_queued_jobs,
                offered=self.broker.prefetch,
                on_pause=self.health.intake_paused,
                on_accepted=partial(self.runner.count_accepted, "async"),
            )
            self.outbox = Outbox(self.writer, on_delivered=self.intake.forget)
            metrics.track_session_uptime(lambda: self.health.session_since)
            metrics.track_jobs_queued(self.intake.waiting, self.runner.sync_waiting)
            yield admin

    async def _run_jobs(self) -> None:
        """The asynchronous jobs' runners (their budget), until shutdown cancels them."""
        with self._jobs_scope:
            async with trio.open_nursery() as nursery:
                for _ in range(self.broker.max_concurrent_jobs):
                    nursery.start_soon(self._job_runner)

    async def _job_runner(self) -> None:
        while True:
            request = await self.intake.next_job()
            with self.running.one():
                result = await self.runner.run(request)
                destination = self.broker.destinations.job_status
                self.outbox.keep(await self.limit(completion_for(request, result, destination)))

    async def _watch_signals(self) -> None:
        with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
            await watch_stop_signals(
                signals, log, stopping=lambda: self.stopping, stop=self.stop, stop_now=self.stop
            )

    def stop(self) -> None:
        """Begin a graceful shutdown (as SIGTERM does); a second call ends everything now."""
        if self._top is None:
            return
        if not self.stopping:
            self._top.start_soon(self.shutdown)
        else:
            self._cancel_all()

    def _cancel_all(self) -> None:
        self._jobs_scope.cancel()
        if self._top is not None:
            self._top.cancel_scope.cancel()

    async def shutdown(self) -> None:
        """Stop taking jobs, let running ones finish within the grace period, cancel the rest
        (they stay in the inbox), deliver what finished, DISCONNECT, and end the run."""
        if self.stopping:
            return
        self.stopping = self.health.stopping = True
        self.session.stop()
        conn = self.session.conn
        if conn is not None and conn.is_open:
            for sub_id in list(conn.protocol.subscriptions):
                conn.unsubscribe(sub_id)
        await _grace(self.running, self.broker.shutdown_grace_period)
        self._jobs_scope.cancel()
        conn = self.session.conn
        if conn is not None and conn.is_open:
            with trio.move_on_after(DELIVERY_GRACE):
                await wait_any(self.outbox.empty, conn.ended)
        _say_what_stays(self.outbox)
        conn = self.session.conn
        if conn is not None:
            await conn.disconnect()
        log.info("stopped")
        self._cancel_all()

    # --- one broker session ----------------------------------------------------------------

    async def _serve(self, conn: BrokerConnection) -> None:
        """One session: resend the outbox, then take jobs, until the connection ends."""
        ended: list[BrokerError] = []

        async def guarded(task: Callable[..., Awaitable[None]], *args: Any) -> None:
            # A lost session ends all its tasks; its reason is raised once, not as a group.
            try:
                await task(*args)
            except BrokerError as e:
                ended.append(e)
            nursery.cancel_scope.cancel()

        _session_opened(self.health, conn)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(guarded, conn.run)
                nursery.start_soon(guarded, self.outbox.deliver, partial(_send_completion, conn))
                if not self.stopping:
                    self._subscribe(conn, nursery, guarded)
        finally:
            _session_closed(self.health, ended, stopping=self.stopping)
        if ended:
            raise ended[0]

    def _subscribe(
        self,
        conn: BrokerConnection,
        nursery: trio.Nursery,
        guarded: Callable[..., Awaitable[None]],
    ) -> None:
        """Take the session's jobs: asynchronous ones, and synchronous ones when configured
        (only older Archelon sends them; without the key, no subscription)."""
        dests = self.broker.destinations
        prefetch = [("activemq.prefetchSize", str(self.broker.prefetch))]
        # Unbounded, but never long: the broker sends at most `prefetch` messages that are not
        # acknowledged yet, and the intake acknowledges only what it took.
        jobs_send, jobs_receive = trio.open_memory_channel[Message](float("inf"))
        jobs_id = conn.subscribe(dests.jobs, jobs_send, headers=prefetch)
        max_body = self.broker.max_request_bytes
        nursery.start_soon(
            guarded, take_async_jobs, conn, jobs_id, jobs_receive, self.intake, max_body
        )
        if dests.synchronous_jobs:
            sync_send, sync_receive = trio.open_memory_channel[Message](float("inf"))
            conn.subscribe(dests.synchronous_jobs, sync_send, headers=prefetch)
            nursery.start_soon(guarded, self.sync.take, conn, sync_receive, nursery)


# --- what the wiring uses -----------------------------------------------------------------


class _Repository:
    """The one repository client of a daemon, made when a job first needs it (a daemon that
    only echoes never loads the HTTP and RDF libraries). `get` is thread-safe: a command may
    ask for it from a worker thread, since making it (loading those libraries and the TLS
    trust store) takes a second or more."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.client: RepositoryClient | None = None
        self._lock = threading.Lock()

    def get(self) -> RepositoryClient:
        with self._lock:
            if self.client is None:
                from .priming import repository_client

                self.client = repository_client(self.config)
            return self.client

    async def aclose(self) -> None:
        if self.client is not None:
            with trio.CancelScope(shield=True):
                await self.client.aclose()


async def _recover(
    writer: StoreWriter, intake: Intake, outbox: Outbox, nursery: trio.Nursery
) -> None:
    """Load the outbox (to resend) and the inbox (to run) left by an earlier run."""
    completions, requests = await writer.load()
    outbox.recover(completions)
    intake.known.update(c.job_id for c in completions)
    pending = [r for r in requests if r.job_id not in outbox.undelivered]
    if completions or pending:
        log.info(
            "recovered %d completion(s) to resend and %d job(s) to run from %s",
            len(completions),
            len(pending),
            writer.store.root,
        )
    nursery.start_soon(intake.recover, pending)


def _admin_listener(config: Config, health: Health) -> AdminListener | None:
    """The admin listener, bound, when ADMIN is configured."""
    if config.admin is None:
        return None
    from .admin import AdminListener

    return AdminListener(config.admin, health, where=f"{config.path}: ADMIN")


async def _open_store(broker: BrokerConfig) -> MessageStore:
    try:
        return await trio.to_thread.run_sync(MessageStore, broker.message_store_dir)
    except (StoreInUse, OSError) as e:
        raise StoreUnavailable(f"cannot open the message store: {e}") from None


def full_body_place(config: Config) -> FullBodyPlace:
    """Where a cut completion's full body is kept: the import job's folder under its
    JOBS_DIR when it has one, else under LOG_DIR (`jobs.completion.full_body_path`)."""
    jobs_dir, log_dir = config.commands.import_.jobs_dir, config.repository.log_dir

    def place(job_id: str) -> Path:
        folder = None if jobs_dir is None else jobs_dir / job_id_segment(job_id)
        return full_body_path(job_id, folder if folder and folder.is_dir() else None, log_dir)

    return place


async def _connect(
    broker: BrokerConfig, health: Health, address: BrokerAddress
) -> BrokerConnection:
    try:
        return await open_configured(
            broker,
            address,
            client_id=client_id(),
            max_frame_bytes=frame_limit(broker.max_request_bytes),
        )
    except (BrokerError, OSError, trio.TooSlowError, ssl.SSLError) as e:
        reason = "timed out" if isinstance(e, trio.TooSlowError) else str(e)
        metrics.BROKER_CONNECT_FAILURES.inc()
        health.session_lost(f"cannot connect to {address}: {reason}")
        raise


async def _send_progress(
    session: BrokerSession, destinations: Destinations, request: JobRequest, body: bytes
) -> None:
    """Progress goes where the request's generation of Archelon looks: with a
    PlastronStatusURL to JOB_STATUS carrying it (the status route POSTs it there), else
    to JOB_PROGRESS when there is one."""
    conn = session.conn
    if conn is None or not conn.is_open:
        return
    headers = [("PlastronJobId", request.job_id)]
    destination = destinations.job_progress
    if request.status_url is not None:
        destination = destinations.job_status
        headers.append(("PlastronStatusURL", request.status_url))
    if destination:
        conn.send(destination, body, headers)


def _send_completion(
    conn: BrokerConnection, completion: Completion, on_receipt: Callable[[], None]
) -> None:
    conn.send(completion.destination, completion.body, completion.headers, on_receipt=on_receipt)


def _session_opened(health: Health, conn: BrokerConnection) -> None:
    health.session_opened(str(conn.address))
    metrics.BROKER_CONNECTED.set(1)
    metrics.BROKER_SESSIONS.inc()


def _session_closed(health: Health, ended: list[BrokerError], *, stopping: bool) -> None:
    health.session_lost(str(ended[0]) if ended else "the session ended")
    metrics.BROKER_CONNECTED.set(0)
    if not stopping:
        metrics.BROKER_RECONNECTS.inc()


async def _grace(running: Running, grace: float) -> None:
    """At shutdown: give the running jobs *grace* seconds to end."""
    if running.count:
        log.info("waiting up to %g s for %d running job(s)", grace, running.count)
    with trio.move_on_after(grace):
        await running.idle.wait()
    if running.count:
        log.warning("cancelling %d job(s) still running; they stay in the inbox", running.count)


def _say_what_stays(outbox: Outbox) -> None:
    """At shutdown: what the outbox keeps for the next start, and what it could not keep."""
    if outbox.undelivered:
        log.info("%d completion(s) stay in the outbox for the next start", len(outbox.undelivered))
    if outbox.unwritten:
        log.warning(
            "%d completion(s) could not be written (the store cannot write); their jobs "
            "stay in the inbox and run again at the next start",
            outbox.unwritten,
        )


def run_stomp(config: Config) -> int:
    """The `plastrond stomp` entry point."""
    try:
        trio.run(Daemon(config).run)
    except StoreUnavailable as e:
        log.error("%s", e)
        return 1
    return 0
