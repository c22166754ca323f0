"""The intake: which asynchronous requests are taken, and how many are in hand at once.

A request offered with its `ack` (what acknowledges its message) is taken once per job id:
one already in hand (waiting, running, or its completion not yet confirmed) is only
acknowledged. A new one is written to the inbox (fsynced) and then acknowledged; a write that
fails acknowledges nothing, so the broker still has the message. Taken requests wait in a
bounded queue (`max_queued`) for the runners: when it is full the intake stops, nothing more is
acknowledged, and the broker (whose prefetch is counted in unacknowledged messages) stops
sending, or offers the rest to other replicas.

The intake runs for the daemon's whole life, not one broker session's: a request it has begun
to take is written and queued even if the session ends meanwhile (its ACK then goes nowhere,
and the broker's second delivery of it is recognised by its id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from ..logs import job_context
from ..waiting import receive_batch
from .request import JobRequest
from .writer import StoreWriter

__all__ = ["Intake"]

log = logging.getLogger(__name__)

Ack = Callable[[], None]


class Intake:
    def __init__(
        self,
        writer: StoreWriter,
        *,
        max_queued: int,
        offered: int = 16,
        on_store_failure: Callable[[OSError], None] = lambda error: None,
        on_accepted: Callable[[JobRequest], None] = lambda request: None,
    ) -> None:
        self.writer = writer
        #: told when requests could not be written (the daemon renews the broker session,
        #: so that the broker offers them again)
        self.on_store_failure = on_store_failure
        #: told of each request taken (counted in the metrics)
        self.on_accepted = on_accepted
        #: ids of the jobs in hand: waiting, running, or their completion not yet confirmed
        self.known: set[str] = set()
        # Offered -> taken: bounded by the broker's prefetch anyway; the queue of taken
        # requests is what holds the intake back.
        self._offer_send, self._offered = trio.open_memory_channel[tuple[JobRequest, Ack]](
            max(1, offered)
        )
        self._queue_send, self.queue = trio.open_memory_channel[JobRequest](max(0, max_queued))
        #: the last inbox write failed (said once; cleared by the next write that works)
        self.store_failure: OSError | None = None

    async def offer(self, request: JobRequest, ack: Ack) -> None:
        """Hand a request over (waits while the intake is behind)."""
        await self._offer_send.send((request, ack))

    def waiting(self) -> int:
        """Taken requests waiting for a runner."""
        stats = self.queue.statistics()
        return stats.current_buffer_used + stats.tasks_waiting_send

    def forget(self, job_id: str) -> None:
        """The job is over (its completion confirmed): a new request of that id is new."""
        self.known.discard(job_id)

    async def recover(self, requests: list[JobRequest]) -> None:
        """Queue requests an earlier run left in the inbox (waits for room in the queue)."""
        for request in requests:
            self.known.add(request.job_id)
        for request in requests:
            await self._queue_send.send(request)

    async def run(self) -> None:
        while batch := await receive_batch(self._offered):
            await self._take(batch)

    async def _take(self, batch: list[tuple[JobRequest, Ack]]) -> None:
        new: list[tuple[JobRequest, Ack]] = []
        for request, ack in batch:
            if request.job_id in self.known or any(r.job_id == request.job_id for r, _ in new):
                with job_context(request.job_id):
                    log.info("delivered again; already accepted, so acknowledged only")
                ack()
            else:
                new.append((request, ack))
        if not new:
            return
        try:
            await self.writer.save_requests([r for r, _ in new])
        except OSError as e:
            # Unacknowledged, they come back once the session is renewed.
            if self.store_failure is None:
                log.error("cannot keep requests in the inbox: %s; not taking jobs", e)
            self.store_failure = e
            self.on_store_failure(e)
            return
        if self.store_failure is not None:
            log.info("the inbox can be written again; taking jobs")
            self.store_failure = None
        for request, ack in new:
            self.known.add(request.job_id)
            with job_context(request.job_id):
                log.info("accepted %s job", request.command or "(no command)")
            self.on_accepted(request)
            # Waits while the queue is full: nothing further is acknowledged meanwhile.
            await self._queue_send.send(request)
            ack()
