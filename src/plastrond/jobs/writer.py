"""The message store's one writer: batches the writes of every task into shared fsyncs.

Whatever is queued while one batch is on disk goes in the next. The blocking work runs in a
worker thread, one batch at a time (the store's methods must not run at once); `run_sync` is
how the store is called, so that a test may call it on trio's thread (a store on a temporary
folder, no worker thread, so trio's MockClock needs no autojump threshold). The writer also
reads the store for the daemon's recovery (`load`), and owns the store's metrics.

A batch that fails is not kept (the store cuts it back). Writers that wait for their batch get
the error and decide (the intake and the outbox try again later); removals, which nobody
waits for, are kept by the writer and go first in the next batch, or on their own after a
growing delay when nothing else comes: a receipted completion left in the store would be sent
again after a restart. A failing store is logged once, and once when it writes again.

`StoreRetry` is that rule for whoever tries a store write again: the writer itself, the intake
(its requests) and the outbox (its completions) each keep one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from functools import partial
from typing import Any, TypeVar

import attrs
import trio

from .. import metrics
from ..backoff import Backoff
from ..waiting import receive_batch
from .completion import Completion
from .request import JobRequest
from .store import MessageStore, RecordKind

__all__ = ["STORE_RETRY", "StoreRetry", "StoreWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: how the store's blocking methods are called: `trio.to_thread.run_sync`, or inline in tests
RunSync = Callable[[Callable[[], T]], Awaitable[T]]

#: the waits before a failed store write is tried again: 1, 2, 4, 8, 16, 30, 30 ... s
STORE_RETRY = Backoff(initial=1.0, maximum=30.0)


class StoreRetry:
    """Failed store writes, tried again: `failed(e)` is True for the first failure of a run of
    them (say so then, not again), `over()` True when a run ends (a write worked, or nothing is
    left to write: say that once too); `wait()` sleeps, and `delay()` gives, the next of the
    growing delays between the tries of one run (*delays*, fresh for each run)."""

    def __init__(self, delays: Callable[[], Iterator[float]] = STORE_RETRY.delays) -> None:
        self._fresh = delays
        self._delays = delays()
        #: the last failure of the current run (None while writes work)
        self.failure: OSError | None = None

    def failed(self, error: OSError) -> bool:
        first = self.failure is None
        self.failure = error
        return first

    def over(self) -> bool:
        ended = self.failure is not None
        self.failure = None
        self._delays = self._fresh()
        return ended

    def delay(self) -> float:
        return next(self._delays)

    async def wait(self) -> None:
        await trio.sleep(self.delay())


@attrs.define
class _Write:
    kind: RecordKind
    items: list[Any]
    #: set once the batch holding this write is on disk (None: nobody waits)
    done: trio.Event | None = None
    error: OSError | None = None


class StoreWriter:
    """`save_requests` and `save_completions` return once their records are fsynced (or
    raise the store's OSError: nothing of them was kept); `remove_soon` does not wait."""

    def __init__(
        self,
        store: MessageStore,
        on_write: Callable[[OSError | None], None] | None = None,
        *,
        run_sync: RunSync[Any] = trio.to_thread.run_sync,
    ) -> None:
        self.store = store
        #: told how each batch went (None: written), for the health of the daemon
        self.on_write = on_write
        self._run_sync = run_sync
        # Unbounded, and needs no bound: every writer but `remove_soon` waits for its batch,
        # and a removal follows a completion already written.
        self._send, self._receive = trio.open_memory_channel[_Write](float("inf"))
        #: removals whose batch failed, for the next batch
        self._failed_removals: list[_Write] = []
        self._retry = StoreRetry()

    async def save_requests(self, requests: list[JobRequest]) -> None:
        await self._submit(RecordKind.REQUEST, requests)

    async def save_completions(self, completions: list[Completion]) -> None:
        await self._submit(RecordKind.COMPLETION, completions)

    def remove_soon(self, job_id: str) -> None:
        self._send.send_nowait(_Write(RecordKind.DONE, [job_id]))

    async def _submit(self, kind: RecordKind, items: list[Any]) -> None:
        write = _Write(kind, items, trio.Event())
        self._send.send_nowait(write)
        assert write.done is not None
        await write.done.wait()
        if write.error is not None:
            raise write.error

    @property
    def failure(self) -> OSError | None:
        """The last batch's failure (None once one is written)."""
        return self._retry.failure

    async def load(self) -> tuple[list[Completion], list[JobRequest]]:
        """What an earlier run left in the store: completions to resend, requests to run."""
        completions: list[Completion] = await self._run_sync(self.store.load_completions)
        requests: list[JobRequest] = await self._run_sync(self.store.load_requests)
        return completions, requests

    async def run(self) -> None:
        # Read at each scrape (nothing to do per write).
        metrics.INBOX_DEPTH.set_function(self.store.request_count)
        metrics.OUTBOX_DEPTH.set_function(self.store.completion_count)
        while True:
            if self._failed_removals:
                batch: list[_Write] = []
                with trio.move_on_after(self._retry.delay()):
                    batch = await receive_batch(self._receive)
            else:
                batch = await receive_batch(self._receive)
                if not batch:
                    return
            # Removals that failed go first: they were asked for before anything now queued.
            batch, self._failed_removals = self._failed_removals + batch, []
            await self._write(batch)

    async def _write(self, batch: list[_Write]) -> None:
        # Operations keep their order (a job may be removed and accepted again within one
        # batch); neighbours of one kind are merged so that they share a folder fsync.
        runs: list[tuple[RecordKind, list[Any]]] = []
        for write in batch:
            if runs and runs[-1][0] is write.kind:
                runs[-1][1].extend(write.items)
            else:
                runs.append((write.kind, list(write.items)))
        error: OSError | None = None
        try:
            await self._run_sync(partial(self.store.write_batch, runs))
        except OSError as e:
            error = e
            metrics.STORE_WRITE_ERRORS.inc()
        if error is None:
            if self._retry.over():
                log.info("the message store can be written again")
        elif self._retry.failed(error):
            log.error("message store write failed: %s; tried again until a write works", error)
        else:
            log.debug("message store write failed again: %s", error)
        metrics.STORE_FAILING.set(0 if error is None else 1)
        if self.on_write is not None:
            self.on_write(error)
        for write in batch:
            write.error = error
            if write.done is not None:
                write.done.set()
            elif error is not None and write.kind is RecordKind.DONE:
                self._failed_removals.append(write)
