"""The outbox: completions kept until the broker confirms them.

`keep(completion)` hands a finished job's completion over and returns at once; the outbox's
own task (`run`) writes what was handed over to the message store in batches and only then
offers it for delivery. A completion is never sent before it is in the store: were it sent
first and the daemon killed before the write, the job's request (still in the inbox) would run
again and its completion go out twice. So when the store cannot be written the completions
wait in memory (said once, and once when they are written) and the write is tried again
after growing delays (1 s ... 30 s); nothing is lost meanwhile, since the requests of those
jobs stay in the inbox and would run again after a restart.

`deliver(send)` runs for one broker session: it sends every undelivered completion (all of
them again on a new session), then each new one, asking for a receipt;
the receipt removes the job from the store and tells `on_delivered`. `empty` is set whenever
nothing is waiting to be written or confirmed (shutdown waits on it). The gauge
`plastrond_completions_awaiting_receipt` counts what the current session sent and the broker
has not receipted yet.

It knows nothing of the broker: `send(completion, on_receipt)` is given to it.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from functools import partial

import trio

from .. import metrics
from ..logs import job_context
from .completion import Completion
from .writer import StoreRetry, StoreWriter

__all__ = ["Outbox", "Send"]

log = logging.getLogger(__name__)

#: queue `completion` for the broker; call `on_receipt` when the broker confirms it
Send = Callable[[Completion, Callable[[], None]], None]


class Outbox:
    def __init__(
        self, writer: StoreWriter, on_delivered: Callable[[str], None] = lambda job_id: None
    ) -> None:
        self.writer = writer
        self.on_delivered = on_delivered
        #: completions in the store, not yet receipted, by job id (in the order kept)
        self.undelivered: dict[str, Completion] = {}
        #: handed over, not yet in the store (and the batch being written)
        self._handed: list[Completion] = []
        self._saving: list[Completion] = []
        self._handed_event = trio.Event()
        #: job ids to send in the current session
        self._unsent: collections.deque[str] = collections.deque()
        self._more = trio.Event()
        self.empty = trio.Event()
        self.empty.set()
        self._retry = StoreRetry()

    @property
    def store_failure(self) -> OSError | None:
        """While completions wait to be written: the last failure of the store (else None)."""
        return self._retry.failure

    def __len__(self) -> int:
        return len(self.undelivered) + len(self._handed) + len(self._saving)

    @property
    def unwritten(self) -> int:
        """Completions handed over and not in the store yet (only in memory)."""
        return len(self._handed) + len(self._saving)

    def recover(self, completions: list[Completion]) -> None:
        """Completions an earlier run left in the store."""
        for completion in completions:
            self._offer(completion)

    def keep(self, completion: Completion) -> None:
        self._handed.append(completion)
        self.empty = trio.Event() if self.empty.is_set() else self.empty
        self._handed_event.set()

    async def run(self) -> None:
        """Write what was handed over to the store, batch by batch; a failing disk is tried
        again (the completions stay in memory meanwhile: a result is never dropped)."""
        while True:
            await self._handed_event.wait()
            self._handed_event = trio.Event()
            self._saving, self._handed = self._handed, []
            await self._save()
            batch, self._saving = self._saving, []
            for completion in batch:
                self._offer(completion)

    async def _save(self) -> None:
        while True:
            try:
                await self.writer.save_completions(self._saving)
            except OSError as e:
                if self._retry.failed(e):
                    log.error(
                        "cannot keep completions in the outbox: %s; holding them in memory, "
                        "unsent, until it can",
                        e,
                    )
                await self._retry.wait()
                # What was handed over meanwhile goes in the same write.
                self._saving += self._handed
                self._handed = []
                self._handed_event = trio.Event()
                continue
            if self._retry.over():
                log.info(
                    "the outbox can be written again; %d completion(s) kept", len(self._saving)
                )
            return

    def _offer(self, completion: Completion) -> None:
        self.undelivered[completion.job_id] = completion
        self.empty = trio.Event() if self.empty.is_set() else self.empty
        self._unsent.append(completion.job_id)
        self._more.set()

    async def deliver(self, send: Send) -> None:
        """Send for one session, until cancelled (the session's end)."""
        self._unsent = collections.deque(self.undelivered)
        awaiting = metrics.COMPLETIONS_AWAITING_RECEIPT
        try:
            while True:
                while self._unsent:
                    job_id = self._unsent.popleft()
                    completion = self.undelivered.get(job_id)
                    if completion is not None:
                        send(completion, partial(self._receipted, job_id))
                        awaiting.inc()
                self._more = trio.Event()
                await self._more.wait()
        finally:
            # The session is over: no receipt of it will come.
            awaiting.set(0)

    def _receipted(self, job_id: str) -> None:
        metrics.COMPLETIONS_AWAITING_RECEIPT.dec()
        if self.undelivered.pop(job_id, None) is None:
            return
        self.writer.remove_soon(job_id)
        with job_context(job_id):
            log.debug("completion receipted")
        self.on_delivered(job_id)
        if not len(self):
            self.empty.set()
