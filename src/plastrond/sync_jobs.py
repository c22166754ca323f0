"""Synchronous jobs: run at once, answered on `reply-to`, acknowledged after the answer.

Only older Archelon sends them (on SYNCHRONOUS_JOBS) and waits on its `reply-to` for the
completion (shared/reference/protocol.md, "Flows"). They are never journalled: a synchronous
job belongs to the broker session that delivered it. Its message stays unacknowledged while
it runs; its completion goes to `reply-to` with a receipt, and only the receipt acknowledges
the message. A session that ends first cancels the job (it runs in that session's nursery),
and the broker delivers the message again. Their budget is the runner's `max_sync` places,
apart from the asynchronous jobs', so that a burst of long imports never holds them up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from .broker.connection import BrokerConnection, ConnectionLost, Message
from .job_frames import request_from_frame
from .jobs.completion import Completion, completion_for
from .jobs.request import JobRequest
from .jobs.runner import JobRunner, Running
from .logs import job_context

__all__ = ["SyncJobs"]

# (the stomp mode's log, as it was when this was part of the daemon)
log = logging.getLogger("plastrond.daemon")

#: a completion cut to the size the broker takes (`jobs.completion.cut_to_limit`)
Limit = Callable[[Completion], Awaitable[Completion]]


class SyncJobs:
    def __init__(self, runner: JobRunner, running: Running, *, max_body: int, limit: Limit) -> None:
        self.runner = runner
        #: counts each synchronous job until its answer is confirmed (shutdown waits for it)
        self.running = running
        self.max_body = max_body
        self.limit = limit

    async def take(
        self,
        conn: BrokerConnection,
        frames: trio.MemoryReceiveChannel[Message],
        nursery: trio.Nursery,
    ) -> None:
        """Run each job of the session's subscription *frames* in *nursery* (the session's)."""
        async for frame in frames:
            request = request_from_frame(conn, frame, synchronous=True, max_body=self.max_body)
            if request is None:
                continue
            if request.reply_to is None:
                with job_context(request.job_id):
                    log.error("synchronous job without reply-to dropped (nowhere to answer)")
                conn.ack(frame)
                continue
            self.runner.count_accepted("sync", request)
            await nursery.start(
                self._run, conn, frame, request, request.reply_to, name=request.job_id
            )

    async def _run(
        self,
        conn: BrokerConnection,
        frame: Message,
        request: JobRequest,
        reply_to: str,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        with self.running.one(), job_context(request.job_id):
            task_status.started()
            try:
                result = await self.runner.run(request)
                completion = await self.limit(completion_for(request, result, reply_to))
                await conn.send_and_confirm(
                    completion.destination, completion.body, completion.headers
                )
                conn.ack(frame)
                log.debug("reply receipted; acknowledged")
            except ConnectionLost:
                log.info("connection lost before the reply was confirmed; the broker resends it")
