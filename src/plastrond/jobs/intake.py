"""The intake: which asynchronous requests are taken, and how many are in hand at once.

A request is offered with its `ack` (what acknowledges its message) and its `live` (whether
the broker still waits for that ACK: the delivery's session and subscription are open). It is
taken once per job id: one already in hand (waiting, running, or its completion not yet
confirmed) is only acknowledged.

A new one is taken only when there is room for it: a free runner, or a free place among the
`max_queued` that may wait for one (a runner says it is free by asking `next_job`). Then, and
only then, it is written to the inbox (fsynced) and at once acknowledged and handed to the
runners; as many as there is room for share one fsync. So the inbox holds only what this
replica has acknowledged: what it has not acknowledged stays with the broker, which gives it to
another replica should this one die or its session drop, and this one never runs it from its
inbox. While there is no room, nothing more is acknowledged, and the broker (whose prefetch is
counted in unacknowledged messages) stops sending, or offers the rest to other replicas.

A request whose session ended while it waited for room is dropped unwritten (the broker gives
it again, to this replica or another). One whose session ended while it was being written is
not acknowledged and is withdrawn from the inbox (a `done` record) for the same reason. What
remains is the moment between the fsync and the broker's reading of the ACK: a replica that
dies then, or whose connection breaks with the ACK unsent, has the job in its inbox and the
broker gives it to another too. It then runs twice; never is an accepted job lost.

When the inbox cannot be written (a full disk), the intake pauses: it keeps the requests of
the failed write in hand, unacknowledged (so the broker still owns them, and gives them to
another consumer should this one die), looks at nothing more that is offered (the broker's
prefetch fills and it stops sending), and tries the write again after growing delays
(`retry_delays`: 1 s, 2 s, ... 30 s). Once a write works it acknowledges them and goes on. It
says so once when it pauses and once when it goes on, sets the `plastrond_intake_paused` gauge,
and tells `on_pause` both times (the error, then None) for the daemon's health. The broker
session is not touched.

The intake runs for the daemon's whole life, not one broker session's: `live` is what tells it
that a request's session is over.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable, Iterator
from typing import NamedTuple

import trio

from .. import metrics
from ..logs import job_context
from ..waiting import receive_batch
from .request import JobRequest
from .writer import STORE_RETRY, StoreRetry, StoreWriter

__all__ = ["Intake"]

log = logging.getLogger(__name__)

Ack = Callable[[], None]
#: whether the broker still waits for a delivery's ACK (False once its session has ended)
Live = Callable[[], bool]


def _always() -> bool:
    return True


class _Offer(NamedTuple):
    request: JobRequest
    ack: Ack
    live: Live

    @property
    def job_id(self) -> str:
        return self.request.job_id


class Intake:
    def __init__(
        self,
        writer: StoreWriter,
        *,
        max_queued: int,
        offered: int = 16,
        on_pause: Callable[[OSError | None], None] = lambda error: None,
        on_accepted: Callable[[JobRequest], None] = lambda request: None,
        retry_delays: Callable[[], Iterator[float]] = STORE_RETRY.delays,
    ) -> None:
        self.writer = writer
        #: told the error when the inbox cannot be written and the intake pauses, and None
        #: when a write works again and it goes on
        self.on_pause = on_pause
        #: told of each request taken (counted in the metrics)
        self.on_accepted = on_accepted
        #: the failures of the inbox write, and the delays between its tries
        self._retry = StoreRetry(retry_delays)
        #: ids of the jobs in hand: waiting, running, or their completion not yet confirmed
        self.known: set[str] = set()
        # Offered -> taken: bounded by the broker's prefetch anyway; the room for taken
        # requests is what holds the intake back.
        self._offer_send, self._offered = trio.open_memory_channel[_Offer](max(1, offered))
        #: requests that may be taken now: `max_queued`, one more for each runner that asks
        #: for a job, one fewer for each request taken
        self._room = trio.Semaphore(max(0, max_queued))
        # Never full: nothing is sent to it without room.
        self._queue_send, self._queue = trio.open_memory_channel[JobRequest](math.inf)
        #: while paused: requests held, unacknowledged, until the inbox can be written
        self.held = 0

    async def offer(self, request: JobRequest, ack: Ack, live: Live = _always) -> None:
        """Hand a request over (waits while the intake is behind). *live* says whether the
        broker still waits for *ack*: False once the delivery's session or subscription has
        ended (the broker then gives the message again)."""
        await self._offer_send.send(_Offer(request, ack, live))

    async def next_job(self) -> JobRequest:
        """For a free runner: the next request to run, once there is one. Asking makes room
        for one more request to be taken."""
        self._room.release()
        return await self._queue.receive()

    def waiting(self) -> int:
        """Taken requests waiting for a runner."""
        return self._queue.statistics().current_buffer_used

    def forget(self, job_id: str) -> None:
        """The job is over (its completion confirmed): a new request of that id is new."""
        self.known.discard(job_id)

    async def recover(self, requests: list[JobRequest]) -> None:
        """Queue requests an earlier run left in the inbox (waits for room for each)."""
        for request in requests:
            self.known.add(request.job_id)
        for request in requests:
            await self._room.acquire()
            self._queue_send.send_nowait(request)

    async def run(self) -> None:
        while batch := await receive_batch(self._offered):
            await self._take(batch)

    async def _take(self, batch: list[_Offer]) -> None:
        pending = collections.deque(batch)
        while pending:
            first = pending.popleft()
            if self._acked_only(first):
                continue
            # Room first: nothing is written to the inbox that is not acknowledged at once.
            await self._room.acquire()
            if not first.live():
                self._dropped(first)
                self._room.release()
                continue
            group = [first]
            ids = {first.job_id}
            # As many more as there is room for now share the fsync; a second copy of a job
            # waits until the first is taken (then it is only acknowledged).
            while pending and self._room.value and pending[0].job_id not in ids:
                offer = pending.popleft()
                if self._acked_only(offer):
                    continue
                if not offer.live():
                    self._dropped(offer)
                    continue
                self._room.acquire_nowait()
                group.append(offer)
                ids.add(offer.job_id)
            written = await self._keep(group)
            for offer in written:
                # Nothing awaited between this look and the ACK: a session that was open is
                # open when the ACK is queued.
                if offer.live():
                    self._accept(offer)
                else:
                    self._withdraw(offer)

    def _acked_only(self, offer: _Offer) -> bool:
        """A copy of a job in hand is acknowledged only; True when *offer* was one."""
        if offer.job_id not in self.known:
            return False
        with job_context(offer.job_id):
            log.info("delivered again; already accepted, so acknowledged only")
        offer.ack()
        return True

    def _dropped(self, offer: _Offer) -> None:
        """*offer*'s session ended before it was written: the broker gives it again."""
        with job_context(offer.job_id):
            log.info("its broker session ended before it was taken; left to the broker")

    def _accept(self, offer: _Offer) -> None:
        request = offer.request
        self.known.add(request.job_id)
        offer.ack()
        with job_context(request.job_id):
            log.info("accepted %s job", request.command or "(no command)")
        self.on_accepted(request)
        self._queue_send.send_nowait(request)

    def _withdraw(self, offer: _Offer) -> None:
        """*offer* was written, but its session ended meanwhile: the ACK cannot be given, and
        the broker gives the message again, so the inbox must not run it."""
        self.writer.remove_soon(offer.job_id)
        self._room.release()
        with job_context(offer.job_id):
            log.info(
                "its broker session ended while it was written to the inbox; withdrawn and "
                "left to the broker"
            )

    @property
    def store_failure(self) -> OSError | None:
        """While paused: the last failure of the inbox write (None while taking jobs)."""
        return self._retry.failure

    @property
    def paused(self) -> bool:
        """Not taking jobs: the inbox cannot be written."""
        return self.store_failure is not None

    async def _keep(self, offers: list[_Offer]) -> list[_Offer]:
        """Write the requests of *offers* to the inbox, trying again until it works (paused
        meanwhile); those whose session ends before a try are dropped (their room given
        back). Returns the offers written."""
        while True:
            live: list[_Offer] = []
            for offer in offers:
                if offer.live():
                    live.append(offer)
                else:
                    self._dropped(offer)
                    self._room.release()
            offers = live
            if not offers:
                if self._retry.over():
                    # Nothing held any more: the next request offered tries the inbox anew.
                    log.info("no request held any more (their session ended); the pause ends")
                    self._resume()
                return []
            try:
                await self.writer.save_requests([o.request for o in offers])
            except OSError as e:
                if self._retry.failed(e):
                    log.error(
                        "cannot keep requests in the inbox: %s; not taking jobs until it can", e
                    )
                    metrics.INTAKE_PAUSED.set(1)
                    self.on_pause(e)
                self.held = len(offers)
                await self._retry.wait()
                continue
            if self._retry.over():
                log.info(
                    "the inbox can be written again; taking jobs (%d held request(s) kept)",
                    len(offers),
                )
                self._resume()
            return offers

    def _resume(self) -> None:
        self.held = 0
        metrics.INTAKE_PAUSED.set(0)
        self.on_pause(None)
