"""The message store's one writer: batches the writes of every task into shared fsyncs.

Whatever is queued while one batch is on disk goes in the next. The blocking work runs in a
worker thread, one batch at a time (the store's methods must not run at once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from .. import metrics
from ..waiting import receive_batch
from .completion import Completion
from .request import JobRequest
from .store import MessageStore, RecordKind

__all__ = ["StoreWriter"]

log = logging.getLogger(__name__)


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
        self, store: MessageStore, on_write: Callable[[OSError | None], None] | None = None
    ) -> None:
        self.store = store
        #: told how each batch went (None: written), for the health of the daemon
        self.on_write = on_write
        # Unbounded, and needs no bound: every writer but `remove_soon` waits for its batch,
        # and a removal follows a completion already written.
        self._send, self._receive = trio.open_memory_channel[_Write](float("inf"))

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

    async def run(self) -> None:
        while batch := await receive_batch(self._receive):
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
            await trio.to_thread.run_sync(self.store.write_batch, runs)
        except OSError as e:
            log.error("message store write failed: %s", e)
            error = e
            metrics.STORE_WRITE_ERRORS.inc()
        if self.on_write is not None:
            self.on_write(error)
        for write in batch:
            write.error = error
            if write.done is not None:
                write.done.set()
