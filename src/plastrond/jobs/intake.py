"""The intake: which asynchronous requests are taken, and how many are in hand at once.

A request offered with its `ack` (what acknowledges its message) is taken once per job id:
one already in hand (waiting, running, or its completion not yet confirmed) is only
acknowledged. A new one is written to the inbox (fsynced) and then acknowledged. Taken requests
wait in a bounded queue (`max_queued`) for the runners: when it is full the intake stops,
nothing more is acknowledged, and the broker (whose prefetch is counted in unacknowledged
messages) stops sending, or offers the rest to other replicas.

When the inbox cannot be written (a full disk), the intake pauses: it keeps the requests of
the failed write in hand, unacknowledged (so the broker still owns them, and gives them to
another consumer should this one die), looks at nothing more that is offered (the broker's
prefetch fills and it stops sending), and tries the write again after growing delays
(`retry_delays`: 1 s, 2 s, ... 30 s). Once a write works it acknowledges them and goes on. It
says so once when it pauses and once when it goes on, and tells `on_pause` both times (the
error, then None) for the daemon's health and metrics. The broker session is not touched.

The intake runs for the daemon's whole life, not one broker session's: a request it has begun
to take is written and queued even if the session ends meanwhile (its ACK then goes nowhere,
and the broker's second delivery of it is recognised by its id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import trio

from ..logs import job_context
from ..waiting import growing_delays, receive_batch
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
        on_pause: Callable[[OSError | None], None] = lambda error: None,
        on_accepted: Callable[[JobRequest], None] = lambda request: None,
        retry_delays: Callable[[], Iterator[float]] = growing_delays,
    ) -> None:
        self.writer = writer
        #: told the error when the inbox cannot be written and the intake pauses, and None
        #: when a write works again and it goes on
        self.on_pause = on_pause
        #: told of each request taken (counted in the metrics)
        self.on_accepted = on_accepted
        #: a fresh series of delays between the retries of each failed write
        self.retry_delays = retry_delays
        #: ids of the jobs in hand: waiting, running, or their completion not yet confirmed
        self.known: set[str] = set()
        # Offered -> taken: bounded by the broker's prefetch anyway; the queue of taken
        # requests is what holds the intake back.
        self._offer_send, self._offered = trio.open_memory_channel[tuple[JobRequest, Ack]](
            max(1, offered)
        )
        self._queue_send, self.queue = trio.open_memory_channel[JobRequest](max(0, max_queued))
        #: while paused: the last failure of the inbox write (None while taking jobs)
        self.store_failure: OSError | None = None
        #: while paused: requests held, unacknowledged, until the inbox can be written
        self.held = 0

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
        await self._keep([r for r, _ in new])
        for request, ack in new:
            self.known.add(request.job_id)
            with job_context(request.job_id):
                log.info("accepted %s job", request.command or "(no command)")
            self.on_accepted(request)
            # Waits while the queue is full: nothing further is acknowledged meanwhile.
            await self._queue_send.send(request)
            ack()

    @property
    def paused(self) -> bool:
        """Not taking jobs: the inbox cannot be written."""
        return self.store_failure is not None

    async def _keep(self, requests: list[JobRequest]) -> None:
        """Write *requests* to the inbox, trying again until it works (paused meanwhile)."""
        delays = self.retry_delays()
        while True:
            try:
                await self.writer.save_requests(requests)
            except OSError as e:
                if self.store_failure is None:
                    log.error(
                        "cannot keep requests in the inbox: %s; not taking jobs until it can", e
                    )
                    self.on_pause(e)
                self.store_failure = e
                self.held = len(requests)
                await trio.sleep(next(delays))
                continue
            if self.store_failure is not None:
                log.info(
                    "the inbox can be written again; taking jobs (%d held request(s) kept)",
                    len(requests),
                )
                self.store_failure = None
                self.held = 0
                self.on_pause(None)
            return
