"""Running one job: the command's generator, its progress messages, and its result.

The runner knows nothing of the broker. It is given a `send_progress(job_id, body)` coroutine
function and returns a `JobResult`; the daemon turns that into a completion and delivers it.
Asynchronous and synchronous jobs have separate concurrency budgets, so a burst of long
imports never holds up Archelon's synchronous updates.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from .. import metrics
from ..commands import get_command, names
from ..commands.base import JobContext, JobError, JobRequest, JobResult, Progress
from ..logs import job_context
from .completion import error_result, progress_body

if TYPE_CHECKING:
    from ..config import Config
    from ..repository import RepositoryClient

__all__ = ["KEEPALIVE_INTERVAL", "JobRunner", "SendProgress", "command_label"]

log = logging.getLogger(__name__)

SendProgress = Callable[[str, bytes], Awaitable[None]]

#: Archelon marks a job stalled after 30 s without news: a running job repeats its latest
#: progress at least this often.
KEEPALIVE_INTERVAL = 15.0


_labels: dict[str | None, str] = {}


def command_label(command: str | None) -> str:
    """The `command` label of a job's metrics (a known command's name, `none` or `other`)."""
    label = _labels.get(command)
    if label is None:
        label = metrics.command_label(command, names())
        if label != "other" and len(_labels) < 256:
            _labels[command] = label
    return label


class _ProgressPump:
    """Coalesces a job's progress: at most one message per `interval`, the newest one, at
    least one every `keepalive` seconds, and the last one always."""

    def __init__(
        self, job_id: str, send: SendProgress | None, interval: float, keepalive: float
    ) -> None:
        self.job_id = job_id
        self.send = send
        self.interval = interval
        self.keepalive = keepalive
        self.latest: Progress | None = None
        self.version = 0
        self.sent_version = 0
        self.changed = trio.Event()
        self.messages_sent = 0
        self.nursery: trio.Nursery | None = None

    def update(self, progress: Progress) -> None:
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
            await self.send(self.job_id, progress_body(self.latest))
            self.messages_sent += 1
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


class JobRunner:
    def __init__(
        self,
        config: Config,
        *,
        max_async: int,
        max_sync: int,
        send_progress: SendProgress | None = None,
        progress_interval: float = 1.0,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        repository: RepositoryClient | None = None,
        repository_factory: Callable[[], RepositoryClient] | None = None,
    ) -> None:
        self.config = config
        self.repository = repository
        self.repository_factory = repository_factory
        self.async_limiter = trio.CapacityLimiter(max_async)
        self.sync_limiter = trio.CapacityLimiter(max_sync)
        self.send_progress = send_progress
        self.progress_interval = progress_interval
        self.keepalive_interval = keepalive_interval

    async def run(self, request: JobRequest) -> JobResult:
        """Run *request* within its concurrency budget. Never raises but for cancellation."""
        limiter = self.sync_limiter if request.synchronous else self.async_limiter
        kind = "sync" if request.synchronous else "async"
        queued = metrics.JOBS_QUEUED.labels(kind)
        queued.inc()
        waiting = True
        try:
            async with limiter:
                queued.dec()
                waiting = False
                running = metrics.JOBS_RUNNING.labels(kind)
                running.inc()
                try:
                    return await self.execute(request)
                finally:
                    running.dec()
        finally:
            if waiting:
                queued.dec()

    async def execute(self, request: JobRequest) -> JobResult:
        with job_context(request.job_id):
            started = trio.current_time()
            try:
                result = await self._execute(request)
            except JobError as e:
                log.warning("job failed: %s", e)
                result = error_result(str(e), e.details)
            except Exception as e:
                log.exception("job failed with an internal error")
                reason = f"internal error in {request.command or 'job'}: {type(e).__name__}: {e}"
                result = error_result(reason)
            else:
                elapsed = trio.current_time() - started
                fields = {"command": request.command, "state": result.state, "seconds": elapsed}
                if result.error:
                    log.warning(
                        "job ended with error in %.3f s: %s", elapsed, result.error, extra=fields
                    )
                else:
                    log.info("job done in %.3f s: %s", elapsed, result.state, extra=fields)
            label = command_label(request.command)
            metrics.JOB_SECONDS.labels(label).observe(trio.current_time() - started)
            ended = metrics.JOBS_FAILED if result.error else metrics.JOBS_COMPLETED
            ended.labels(label, result.state).inc()
            return result

    async def _execute(self, request: JobRequest) -> JobResult:
        if not request.command:
            raise JobError("missing PlastronCommand header")
        func = get_command(request.command)
        log.debug("running %s", request.command)
        ctx = JobContext(
            request=request,
            config=self.config,
            log=log,
            repository_client=self.repository,
            repository_factory=self.repository_factory,
        )
        pump = _ProgressPump(
            request.job_id, self.send_progress, self.progress_interval, self.keepalive_interval
        )
        result: JobResult | None = None
        failure: Exception | None = None
        async with trio.open_nursery() as nursery:
            pump.nursery = nursery
            try:
                result = await self._drive(func(ctx), pump)
            except Exception as e:
                # Raised outside the nursery, so it is not wrapped in an ExceptionGroup.
                failure = e
            nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
        await pump.flush()
        if result is None:
            raise RuntimeError(f"command {request.command} ended without a result")
        return result

    @staticmethod
    async def _drive(
        steps: AsyncIterator[Progress | JobResult], pump: _ProgressPump
    ) -> JobResult | None:
        try:
            async for item in steps:
                if isinstance(item, JobResult):
                    return item
                if not isinstance(item, dict):
                    raise TypeError(f"command yielded {type(item).__name__}, not a dict")
                pump.update(item)
        finally:
            await steps.aclose()  # type: ignore[attr-defined]
        return None


def percent(done: int, total: int | None) -> int | None:
    """Percent done, 0-100, when the total is known."""
    if not total:
        return None
    return max(0, min(100, math.floor(100 * done / total)))
