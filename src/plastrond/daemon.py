"""The stomp mode: one trio run that takes jobs from the broker and never loses one.

The `Daemon` is wiring; each part does one thing and has its own unit tests:

- `broker.session.BrokerSession`: the broker session, renewed forever (failover, back-off),
  given `connect` (so a test gives it a fake broker) and `Daemon._serve` for each session;
- `jobs.intake.Intake`: admission of asynchronous jobs (one id once; room first, then inbox,
  then ACK, so that the inbox holds only what was acknowledged) and their budget (a runner
  free or one of `max_queued_jobs` places);
- `jobs.runner.JobRunner`: runs one job (the command from the registry);
- `jobs.outbox.Outbox`: completions written to the store, sent with a receipt, removed on
  the receipt; `empty` when nothing waits;
- `jobs.writer.StoreWriter`: the one writer of the durable `jobs.store.MessageStore`.

A job's way: MESSAGE frame -> `request_from_message` -> `Intake.offer` -> room -> inbox, ACK
-> intake queue -> `_run_jobs` -> `JobRunner.run` -> command -> `completion_for` ->
`Outbox.keep` -> store -> `Outbox.deliver` -> SEND with receipt -> removed from the store.

Synchronous jobs (`SYNCHRONOUS_JOBS`) belong to their session: they run on their own budget,
reply to `reply-to`, and are acknowledged after the reply's receipt; a lost connection
cancels them and the broker delivers them again.

Shutdown (SIGTERM, SIGINT, `stop()`): unsubscribe, give running jobs the grace period, cancel
the rest (they stay in the inbox), wait (bounded) for the outbox to empty, DISCONNECT. A
second signal ends everything at once.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any

import trio

from stompframe import OversizedFrame

from . import __version__, metrics
from .backoff import Backoff
from .broker.connection import (
    BrokerConnection,
    BrokerError,
    ConnectionLost,
    Message,
    open_configured,
)
from .broker.session import BrokerSession, Connect
from .commands import registry
from .config import BrokerAddress, BrokerConfig, Config
from .health import Health
from .jobs.completion import Completion, completion_for, full_body_path, limit_completion
from .jobs.ids import job_id_segment
from .jobs.intake import Intake
from .jobs.outbox import Outbox
from .jobs.request import JobRequest, MissingJobId, request_from_message
from .jobs.runner import JobRunner
from .jobs.store import MessageStore, StoreInUse
from .jobs.writer import StoreWriter
from .logs import job_context
from .shutdown import STOP_SIGNALS, watch_stop_signals
from .waiting import wait_any

if TYPE_CHECKING:
    from .admin import AdminListener
    from .repository import RepositoryClient

__all__ = ["Daemon", "client_id", "run_stomp"]

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


def _first_headers(frame: Message) -> dict[str, str]:
    """Headers by name, the first occurrence winning (STOMP 1.2)."""
    result: dict[str, str] = {}
    for name, value in frame.headers:
        result.setdefault(name, value)
    return result


class _Running:
    """How many jobs are running; `idle` is set when none is."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = trio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        if self.idle.is_set():
            self.idle = trio.Event()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self.idle.set()


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        handle_signals: bool = True,
        connect: Connect | None = None,
    ) -> None:
        self.config = config
        self.broker: BrokerConfig = config.require_broker()
        #: what the admin listener's `GET /health` reports (see plastrond.health)
        self.health = Health(self.broker.message_store_dir)
        self.admin: AdminListener | None = None
        if config.admin is not None:
            from .admin import AdminListener

            # Bound now: a port that cannot be had is a configuration error, before anything.
            self.admin = AdminListener(config.admin, self.health, where=f"{config.path}: ADMIN")
        self.store = MessageStore(self.broker.message_store_dir)
        self.writer = StoreWriter(self.store, on_write=self.health.store_result)
        self.runner = JobRunner(
            config,
            commands=registry,
            max_sync=self.broker.max_concurrent_sync_jobs,
            send_progress=self._send_progress,
            progress_interval=self.broker.progress_interval,
            repository_factory=self._repository_client,
        )
        self.intake = Intake(
            self.writer,
            max_queued=self.broker.max_queued_jobs,
            offered=self.broker.prefetch,
            on_pause=self._intake_paused,
            on_accepted=partial(self._accepted, "async"),
        )
        self.outbox = Outbox(self.writer, on_delivered=self.intake.forget)
        self.session = BrokerSession(
            self.broker.servers,
            connect or self._connect,
            self._serve,
            Backoff(
                self.broker.reconnect_initial_delay, self.broker.reconnect_max_delay, jitter=0.5
            ),
        )
        self.handle_signals = handle_signals
        self.running = _Running()
        self.stopping = False
        self._repository: RepositoryClient | None = None
        #: the repository client may be made in a worker thread (see `_repository_client`)
        self._repository_lock = threading.Lock()
        self._jobs_scope = trio.CancelScope()
        self._top: trio.Nursery | None = None
        metrics.track_session_uptime(lambda: self.health.session_since)
        metrics.JOBS_QUEUED.labels("async").set_function(self.intake.waiting)

    # --- the supervisor ---------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Run until SIGTERM/SIGINT (or `stop`), then shut down gracefully."""
        try:
            async with trio.open_nursery() as top:
                self._top = top
                if self.handle_signals:
                    top.start_soon(self._watch_signals)
                top.start_soon(self.writer.run)
                if self.admin is not None:
                    await top.start(self.admin.serve)
                top.start_soon(self.intake.run)
                top.start_soon(self.outbox.run)
                await self._recover(top)
                top.start_soon(self._run_jobs)
                top.start_soon(self.session.run)
                task_status.started()
        finally:
            if self._repository is not None:
                with trio.CancelScope(shield=True):
                    await self._repository.aclose()

    def _repository_client(self) -> RepositoryClient:
        """The one repository client of this daemon, made when a job first needs it (a daemon
        that only echoes never loads the HTTP and RDF libraries). Thread-safe: a command may
        ask for it from a worker thread, since making it (loading those libraries and the TLS
        trust store) takes a second or more."""
        with self._repository_lock:
            if self._repository is None:
                from .priming import repository_client

                self._repository = repository_client(self.config)
            return self._repository

    async def _recover(self, nursery: trio.Nursery) -> None:
        """Load the outbox (to resend) and the inbox (to run) left by an earlier run."""
        completions = await trio.to_thread.run_sync(self.store.load_completions)
        requests = await trio.to_thread.run_sync(self.store.load_requests)
        self.outbox.recover(completions)
        self.intake.known.update(c.job_id for c in completions)
        pending = [r for r in requests if r.job_id not in self.outbox.undelivered]
        if completions or pending:
            log.info(
                "recovered %d completion(s) to resend and %d job(s) to run from %s",
                len(completions),
                len(pending),
                self.store.root,
            )
        nursery.start_soon(self.intake.recover, pending)

    async def _run_jobs(self) -> None:
        """The asynchronous jobs' runners, until shutdown cancels them."""
        with self._jobs_scope:
            async with trio.open_nursery() as nursery:
                for _ in range(self.broker.max_concurrent_jobs):
                    nursery.start_soon(self._job_runner)

    async def _job_runner(self) -> None:
        while True:
            request = await self.intake.next_job()
            self.running.enter()
            try:
                result = await self.runner.run(request)
                destination = self.broker.destinations.job_status
                completion = await self._limited(completion_for(request, result, destination))
                self.outbox.keep(completion)
            finally:
                self.running.leave()

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
        self.stopping = True
        self.health.stopping = True
        self.session.stop()
        conn = self.session.conn
        if conn is not None and conn.is_open:
            for sub_id in list(conn.protocol.subscriptions):
                conn.unsubscribe(sub_id)
        grace = self.broker.shutdown_grace_period
        if self.running.count:
            log.info("waiting up to %g s for %d running job(s)", grace, self.running.count)
        with trio.move_on_after(grace):
            await self.running.idle.wait()
        if self.running.count:
            log.warning(
                "cancelling %d job(s) still running; they stay in the inbox", self.running.count
            )
        self._jobs_scope.cancel()
        conn = self.session.conn
        if conn is not None and conn.is_open:
            with trio.move_on_after(DELIVERY_GRACE):
                await wait_any(self.outbox.empty, conn.ended)
        if self.outbox.undelivered:
            log.info(
                "%d completion(s) stay in the outbox for the next start",
                len(self.outbox.undelivered),
            )
        if self.outbox.unwritten:
            log.warning(
                "%d completion(s) could not be written (the store cannot write); their jobs "
                "stay in the inbox and run again at the next start",
                self.outbox.unwritten,
            )
        conn = self.session.conn
        if conn is not None:
            await conn.disconnect()
        log.info("stopped")
        self._cancel_all()

    # --- one broker session ----------------------------------------------------------------

    async def _connect(self, address: BrokerAddress) -> BrokerConnection:
        try:
            return await open_configured(
                self.broker,
                address,
                client_id=client_id(),
                max_frame_bytes=frame_limit(self.broker.max_request_bytes),
            )
        except (BrokerError, OSError, trio.TooSlowError, ssl.SSLError) as e:
            reason = "timed out" if isinstance(e, trio.TooSlowError) else str(e)
            metrics.BROKER_CONNECT_FAILURES.inc()
            self.health.session_lost(f"cannot connect to {address}: {reason}")
            raise

    async def _serve(self, conn: BrokerConnection) -> None:
        """One session: resend the outbox, then take jobs, until the connection ends."""
        dests = self.broker.destinations
        ended: list[BrokerError] = []

        async def guarded(task: Callable[..., Awaitable[None]], *args: Any) -> None:
            # A lost session ends all its tasks; its reason is raised once, not as a group.
            try:
                await task(*args)
            except BrokerError as e:
                ended.append(e)
            nursery.cancel_scope.cancel()

        self._session_opened(conn)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(guarded, conn.run)
                send = partial(self._send_completion, conn)
                nursery.start_soon(guarded, self.outbox.deliver, send)
                if not self.stopping:
                    prefetch = [("activemq.prefetchSize", str(self.broker.prefetch))]
                    # Unbounded, but never long: the broker sends at most `prefetch` messages
                    # that are not acknowledged yet, and the intake acknowledges only what it
                    # took.
                    jobs_send, jobs_receive = trio.open_memory_channel[Message](float("inf"))
                    sync_send, sync_receive = trio.open_memory_channel[Message](float("inf"))
                    jobs_id = conn.subscribe(dests.jobs, jobs_send, headers=prefetch)
                    nursery.start_soon(guarded, self._take_async_jobs, conn, jobs_id, jobs_receive)
                    # Only older Archelon sends synchronous jobs; without the key, no
                    # subscription.
                    if dests.synchronous_jobs:
                        conn.subscribe(dests.synchronous_jobs, sync_send, headers=prefetch)
                        nursery.start_soon(
                            guarded, self._take_sync_jobs, conn, sync_receive, nursery
                        )
        finally:
            self._session_closed(ended)
        if ended:
            raise ended[0]

    # --- what the admin listener and the metrics see -----------------------------------------

    def _session_opened(self, conn: BrokerConnection) -> None:
        self.health.session_opened(str(conn.address))
        metrics.BROKER_CONNECTED.set(1)
        metrics.BROKER_SESSIONS.inc()

    def _session_closed(self, ended: list[BrokerError]) -> None:
        self.health.session_lost(str(ended[0]) if ended else "the session ended")
        metrics.BROKER_CONNECTED.set(0)
        metrics.COMPLETIONS_AWAITING_RECEIPT.set(0)
        if not self.stopping:
            metrics.BROKER_RECONNECTS.inc()

    def _accepted(self, kind: str, request: JobRequest) -> None:
        metrics.JOBS_ACCEPTED.labels(self.runner.command_label(request.command), kind).inc()

    def _send_completion(
        self, conn: BrokerConnection, completion: Completion, on_receipt: Callable[[], None]
    ) -> None:
        def receipted() -> None:
            metrics.COMPLETIONS_AWAITING_RECEIPT.dec()
            on_receipt()

        conn.send(completion.destination, completion.body, completion.headers, on_receipt=receipted)
        metrics.COMPLETIONS_AWAITING_RECEIPT.inc()

    def _intake_paused(self, error: OSError | None) -> None:
        # The session stays: the requests held are unacknowledged, the broker stops sending
        # once its prefetch is used, and synchronous jobs (never journalled) still run.
        self.health.intake_paused(error)
        metrics.INTAKE_PAUSED.set(0 if error is None else 1)

    def _parse(
        self, conn: BrokerConnection, frame: Message, *, synchronous: bool
    ) -> JobRequest | None:
        body_size = None
        if isinstance(frame, OversizedFrame):
            # Past the frame limit: only the headers and the first bytes were kept, which is
            # enough to say which job it is and to answer it.
            body, body_size = frame.body_prefix, frame.size
            log.warning(
                "message %s from %s: body of %d bytes over the STOMP frame limit, dropped unread",
                frame.get("message-id"),
                frame.get("destination"),
                frame.size,
            )
        else:
            body = frame.body
        try:
            return request_from_message(
                _first_headers(frame),
                body,
                synchronous=synchronous,
                received=time.time(),
                max_body=self.broker.max_request_bytes,
                body_size=body_size,
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

    async def _take_async_jobs(
        self, conn: BrokerConnection, sub_id: str, frames: trio.MemoryReceiveChannel[Message]
    ) -> None:
        def live() -> bool:
            # The broker waits for the ACKs of this subscription's messages while both the
            # session and the subscription are open; after that it gives them again.
            return conn.is_open and sub_id in conn.protocol.subscriptions

        async for frame in frames:
            request = self._parse(conn, frame, synchronous=False)
            if request is not None:
                await self.intake.offer(request, partial(conn.ack, frame), live)

    async def _take_sync_jobs(
        self,
        conn: BrokerConnection,
        frames: trio.MemoryReceiveChannel[Message],
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
            self._accepted("sync", request)
            self.running.enter()
            nursery.start_soon(self._run_sync_job, conn, frame, request, name=request.job_id)

    async def _run_sync_job(
        self, conn: BrokerConnection, frame: Message, request: JobRequest
    ) -> None:
        try:
            result = await self.runner.run(request)
            assert request.reply_to is not None
            completion = await self._limited(completion_for(request, result, request.reply_to))
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
            self.running.leave()

    async def _limited(self, completion: Completion) -> Completion:
        """*completion* with its body cut to MAX_COMPLETION_BYTES, the full body on disk."""
        limit = self.broker.max_completion_bytes
        if len(completion.body) <= limit:
            return completion
        jobs_dir = self.config.commands.import_.jobs_dir
        folder = None
        if jobs_dir is not None and (jobs_dir / job_id_segment(completion.job_id)).is_dir():
            folder = jobs_dir / job_id_segment(completion.job_id)
        path = full_body_path(completion.job_id, folder, self.config.repository.log_dir)
        cut = await trio.to_thread.run_sync(limit_completion, completion, limit, path)
        with job_context(completion.job_id):
            log.warning(
                "completion body of %d bytes cut to %d (limit %d); full body in %s",
                len(completion.body),
                len(cut.body),
                limit,
                path,
            )
        return cut

    # --- progress ------------------------------------------------------------------------

    async def _send_progress(self, request: JobRequest, body: bytes) -> None:
        """Progress goes where the request's generation of Archelon looks: with a
        PlastronStatusURL to JOB_STATUS carrying it (the status route POSTs it there), else
        to JOB_PROGRESS when there is one."""
        conn = self.session.conn
        if conn is None or not conn.is_open:
            return
        headers = [("PlastronJobId", request.job_id)]
        destination = self.broker.destinations.job_progress
        if request.status_url is not None:
            destination = self.broker.destinations.job_status
            headers.append(("PlastronStatusURL", request.status_url))
        if destination:
            conn.send(destination, body, headers)


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
