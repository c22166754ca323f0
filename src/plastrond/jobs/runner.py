"""Running one job: the command, its progress messages, and its result.

`JobRunner.run(request)` looks the command up in the registry it was given, runs it and returns
a `JobResult`, failures included. A synchronous job first waits for one of `max_sync` places;
an asynchronous one runs at once, since its budget is the number of the daemon's job workers.
So a burst of long imports never holds up Archelon's synchronous updates. The runner counts
the jobs it accepts, runs and ends (`plastrond.metrics`), and `Running` counts the jobs in hand
for the daemon's shutdown. The runner knows nothing of the broker: progress leaves through the
`send_progress(request, body)` coroutine function it is given (where it goes is the daemon's
choice: the request's PlastronStatusURL says which generation of Archelon asked).

Every progress message carries the running `state` of its request and `progress`, the
percent done, which never goes back within a run; a job that fails as a whole gets the failed
state of its command with the percent it reached (`jobs.states`, protocol.md).

`run_command` is the one job's nursery: the command's `report` feeds a `_ProgressPump`, which
runs in that nursery and is the only place progress is coalesced; what that nursery raises is
looked at in `run_command` alone (through `plastrond.errors.failure_of`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from .. import metrics
from ..errors import describe, failure_of
from ..logs import job_context
from ..parsing import user_name
from .completion import failure_of_request, progress_body
from .protocol import Command, CommandRegistry, JobContext, Progress, Report
from .request import JobRequest
from .result import JobError, JobResult
from .states import percent_reached, running_state

if TYPE_CHECKING:
    from ..config import Config
    from ..repository import RepositoryClient

__all__ = ["KEEPALIVE_INTERVAL", "JobRunner", "Running", "SendProgress", "run_command"]

log = logging.getLogger(__name__)

SendProgress = Callable[[JobRequest, bytes], Awaitable[None]]

#: Archelon marks a job stalled after 30 s without news: a running job repeats its latest
#: progress at least this often.
KEEPALIVE_INTERVAL = 15.0


class ProgressState:
    """The state and percent a job's progress messages carry; the percent never goes back."""

    def __init__(self, state: str = "in_progress") -> None:
        self.state = state
        self.reached = 0

    def update(self, progress: Progress) -> None:
        self.reached = percent_reached(self.reached, progress.get("progress"))


class _ProgressPump:
    """Coalesces a job's progress: at most one message per `interval`, the newest one, at
    least one every `keepalive` seconds, and the last one always."""

    def __init__(
        self,
        request: JobRequest,
        send: SendProgress | None,
        nursery: trio.Nursery,
        interval: float,
        keepalive: float,
        state: ProgressState,
    ) -> None:
        self.request = request
        self.state = state
        self.send = send
        self.interval = interval
        self.keepalive = keepalive
        self.latest: Progress | None = None
        self.version = 0
        self.sent_version = 0
        self.changed = trio.Event()
        self.nursery: trio.Nursery | None = nursery if send is not None else None

    def update(self, progress: Progress) -> None:
        """The command's `report`."""
        self.state.update(progress)
        self.latest = progress
        self.version += 1
        self.changed.set()
        # The pump starts with the first progress: a job that reports none costs no task.
        if self.nursery is not None:
            self.nursery.start_soon(self.run)
            self.nursery = None

    async def _send_latest(self) -> None:
        if self.send is None or self.latest is None:
            return
        version = self.version
        try:
            body = progress_body(self.latest, self.state.state, self.state.reached)
            await self.send(self.request, body)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as e:
            # Progress is news, not a promise: a lost one is replaced by the next.
            log.debug("progress not sent: %s", e)
        self.sent_version = version

    async def run(self) -> None:
        last_sent = trio.current_time()
        while True:
            with trio.move_on_at(last_sent + self.keepalive):
                await self.changed.wait()
            self.changed = trio.Event()
            await self._send_latest()
            last_sent = trio.current_time()
            await trio.sleep(self.interval)

    async def flush(self) -> None:
        if self.version != self.sent_version:
            await self._send_latest()


async def run_command(
    command: Command,
    ctx: JobContext,
    *,
    report: Report | None = None,
    send_progress: SendProgress | None = None,
    progress_interval: float = 1.0,
    keepalive_interval: float = KEEPALIVE_INTERVAL,
    state: ProgressState | None = None,
) -> JobResult:
    """Run *command* in a nursery of its own and return its result.

    Its progress goes to *report* as it comes (a test's list), or coalesced to
    *send_progress*. What the command raises comes out as the one exception it stands for:
    the first JobError when that is all that failed (rows failing together), else the lone
    exception, else the group itself (a bug, for the caller to log).
    """
    name = ctx.request.command
    try:
        async with trio.open_nursery() as nursery:
            pump = _ProgressPump(
                ctx.request,
                send_progress,
                nursery,
                progress_interval,
                keepalive_interval,
                state or ProgressState(running_state(name, ctx.request.args)),
            )

            def both(progress: Progress) -> None:
                pump.update(progress)
                if report is not None:
                    report(progress)

            result = await command(ctx, both if report is not None else pump.update)
            nursery.cancel_scope.cancel()
    except Exception as e:
        raise (failure_of(e, JobError) or failure_of(e) or e) from None
    await pump.flush()
    if not isinstance(result, JobResult):
        raise RuntimeError(f"command {name} ended without a result")
    return result


class JobRunner:
    def __init__(
        self,
        config: Config,
        *,
        commands: CommandRegistry,
        max_sync: int,
        send_progress: SendProgress | None = None,
        progress_interval: float = 1.0,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        repository: RepositoryClient | None = None,
        repository_factory: Callable[[], RepositoryClient] | None = None,
    ) -> None:
        self.config = config
        self.commands = commands
        self.repository = repository
        self.repository_factory = repository_factory
        self.sync_limiter = trio.CapacityLimiter(max_sync)
        self.send_progress = send_progress
        self.progress_interval = progress_interval
        self.keepalive_interval = keepalive_interval
        self._labels: dict[str | None, str] = {}

    def command_label(self, command: str | None) -> str:
        """The `command` label of a job's metrics: a known command's name, `none` or `other`."""
        label = self._labels.get(command)
        if label is None:
            label = metrics.command_label(command, self.commands.names())
            if label != "other" and len(self._labels) < 256:
                self._labels[command] = label
        return label

    def count_accepted(self, kind: str, request: JobRequest) -> None:
        """Count *request* as taken from the broker (*kind*: `async` or `sync`)."""
        metrics.JOBS_ACCEPTED.labels(self.command_label(request.command), kind).inc()

    def sync_waiting(self) -> int:
        """Synchronous jobs waiting for one of the `max_sync` places."""
        return self.sync_limiter.statistics().tasks_waiting

    async def run(self, request: JobRequest) -> JobResult:
        """Run *request*. Never raises but for cancellation.

        An async job runs at once: its budget is the daemon's number of job workers, and the
        Intake counts the ones waiting for a worker. A sync job waits here for one of the
        `max_sync` places (`sync_waiting` counts it meanwhile)."""
        if not request.synchronous:
            return await self._counted("async", request)
        async with self.sync_limiter:
            return await self._counted("sync", request)

    async def _counted(self, kind: str, request: JobRequest) -> JobResult:
        running = metrics.JOBS_RUNNING.labels(kind)
        running.inc()
        try:
            return await self.execute(request)
        finally:
            running.dec()

    async def execute(self, request: JobRequest) -> JobResult:
        with job_context(request.job_id):
            started = trio.current_time()
            progress = ProgressState(running_state(request.command, request.args))
            try:
                if request.refused is not None:
                    raise JobError(request.refused)
                if not request.command:
                    raise JobError("missing PlastronCommand header")
                _check_user(request.on_behalf_of)
                if self.commands.loaded(request.command):
                    command = self.commands.get(request.command)
                else:
                    # A command's first job imports its module (rdflib, httpx...: a second or
                    # more): in a worker thread, so that the daemon keeps answering meanwhile.
                    command = await trio.to_thread.run_sync(self.commands.get, request.command)
                log.debug("running %s", request.command)
                result = await run_command(
                    command,
                    self._context(request),
                    send_progress=self.send_progress,
                    progress_interval=self.progress_interval,
                    keepalive_interval=self.keepalive_interval,
                    state=progress,
                )
            except JobError as e:
                log.warning("job failed: %s", e)
                result = failure_of_request(request, str(e), e.details, progress.reached)
            except Exception as e:
                log.exception("job failed with an internal error")
                reason = f"internal error in {request.command or 'job'}: {describe(e, named=True)}"
                result = failure_of_request(request, reason, progress=progress.reached)
            else:
                elapsed = trio.current_time() - started
                fields = {"command": request.command, "state": result.state, "seconds": elapsed}
                if result.error:
                    log.warning(
                        "job ended with error in %.3f s: %s", elapsed, result.error, extra=fields
                    )
                else:
                    log.info("job done in %.3f s: %s", elapsed, result.state, extra=fields)
            label = self.command_label(request.command)
            metrics.JOB_SECONDS.labels(label).observe(trio.current_time() - started)
            ended = metrics.JOBS_FAILED if result.error else metrics.JOBS_COMPLETED
            ended.labels(label, result.state).inc()
            return result

    def _context(self, request: JobRequest) -> JobContext:
        return JobContext(
            request=request,
            config=self.config,
            log=log,
            repository_client=self.repository,
            repository_factory=self.repository_factory,
        )


class Running:
    """How many jobs are in hand (running, or ending: their completion being made and kept);
    `idle` is set when none is. Shutdown gives them its grace period."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = trio.Event()
        self.idle.set()

    @contextmanager
    def one(self) -> Iterator[None]:
        """Count one job while the block runs."""
        self.count += 1
        if self.idle.is_set():
            self.idle = trio.Event()
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0:
                self.idle.set()


def _check_user(user: str | None) -> None:
    """A user name every command can delegate to (the repository client's rule: no control
    characters, so that it stays one `On-Behalf-Of` header), else JobError."""
    if user is not None and user_name(user) is None:
        raise JobError(f"argument on-behalf-of is not a usable user name: {user!r}")
