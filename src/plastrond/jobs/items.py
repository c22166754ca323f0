"""The item loop every command that works item by item shares: its counts, its progress body
(with the percent), its concurrency slots and its per-item failures.

    items = Items(ItemCounts(("exported", "errors"), total=len(uris)), report)
    items.tell()                                  # the first progress report
    await items.for_each(uris, work, concurrency=4)
    # work(uri) counts what became of its item: items.counts.add("exported"), or
    # items.fail(uri, reason); each item's report follows as soon as it returns

Each command keeps its per-item work and its completion; what the counts are called, which of
them make up the items finished, and what the result says are the command's (protocol.md).

What is settled here, the same for every command:

- the percent is the items finished (whatever became of them) out of the items planned,
  rounded down: 100 only once every item is finished; absent when the total is not known;
- a progress body is `{"time": {"started", "now", "elapsed"}, "count": {"total", ...},
  "progress"}` and whatever the item just finished adds (publish names the resource);
- at most `concurrency` items run at once, and no task is started for an item before a slot
  is free (a job of 20,000 items holds `concurrency` tasks, not 20,000);
- a progress report goes out after each item that returns (the runner keeps only the newest);
  an item that raises ends the loop, as a failure of the job.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

import attrs
import trio

from ..errors import one_line
from .protocol import Progress, Report

__all__ = ["ItemCounts", "Items", "percent"]

T = TypeVar("T")


def percent(done: int, total: int | None) -> int | None:
    """Percent done, 0-100, rounded down (100 only when all is done); None when *total* is
    not known (or 0)."""
    if not total:
        return None
    return max(0, min(100, 100 * done // total))


@attrs.define(eq=False)
class ItemCounts:
    """A job's counters as protocol.md names them: `total` (None when not known in advance)
    and integer counts, reported in the order of *keys*."""

    keys: tuple[str, ...]
    total: int | None = None
    #: the keys whose sum is the number of items finished: what the percent counts
    done: tuple[str, ...] = ()
    #: the items this run finishes, the percent's 100 (`total` when None)
    planned: int | None = None
    _values: dict[str, int] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._values = dict.fromkeys(self.keys, 0)

    def add(self, key: str, n: int = 1) -> None:
        """Count *n* more of *key* (KeyError for a key this job does not report)."""
        self._values[key] += n

    def __getitem__(self, key: str) -> int:
        return self._values[key]

    @property
    def finished(self) -> int:
        return sum(self._values[key] for key in self.done)

    def percent(self) -> int | None:
        return percent(self.finished, self.total if self.planned is None else self.planned)

    def as_dict(self) -> dict[str, int | None]:
        return {"total": self.total, **self._values}


@attrs.define(eq=False)
class Items:
    """The items of one job: their counts, their failures, their progress reports, and the
    loop that runs them."""

    counts: ItemCounts = attrs.field(factory=lambda: ItemCounts(()))
    #: where the progress goes (`JobContext`'s report); None: nowhere
    report: Report | None = None
    started: float = attrs.field(factory=time.time)
    #: why each failed item failed, by item (`fail`)
    errors: dict[str, str] = attrs.field(factory=dict)
    #: items added while the loop runs (`add`)
    _added: deque[Any] = attrs.field(factory=deque, init=False)
    _wake: trio.Event | None = attrs.field(default=None, init=False)

    def progress(self, extra: Mapping[str, Any] | None = None) -> Progress:
        """The progress body: the time, the counts, the percent (when the total is known),
        and *extra*."""
        now = time.time()
        body: Progress = {
            "time": {"started": self.started, "now": now, "elapsed": round(now - self.started, 3)},
            "count": self.counts.as_dict(),
        }
        reached = self.counts.percent()
        if reached is not None:
            body["progress"] = reached
        if extra:
            body.update(extra)
        return body

    def tell(self, extra: Mapping[str, Any] | None = None) -> None:
        """Report the progress now."""
        if self.report is not None:
            self.report(self.progress(extra))

    def fail(self, key: str, reason: str, count: str = "errors") -> str:
        """Item *key* failed: count it in *count* and keep its *reason* (one line, returned)."""
        line = one_line(reason)
        self.errors[key] = line
        self.counts.add(count)
        return line

    def add(self, item: object) -> None:
        """One more item for the loop that runs now (update's related resources)."""
        self._added.append(item)
        if self._wake is not None:
            self._wake.set()

    async def for_each(
        self,
        items: Iterable[T],
        work: Callable[[T], Awaitable[Mapping[str, Any] | None]],
        concurrency: int,
        *,
        report: bool = True,
    ) -> None:
        """Run `work(item)` for each of *items* (and those `add`ed meanwhile, after them), at
        most *concurrency* at once; after each item that returns, report the progress with
        what *work* returned added (unless not *report*). An item that raises ends the loop
        (the others are cancelled) with its exception."""
        slots = trio.Semaphore(max(1, concurrency))
        source = iter(items)
        self._added.clear()
        running = 0

        async def one(item: T) -> None:
            nonlocal running
            try:
                extra = await work(item)
            finally:
                running -= 1
                slots.release()
                if self._wake is not None:
                    self._wake.set()
            if report:
                self.tell(extra)

        async with trio.open_nursery() as nursery:
            while True:
                await slots.acquire()
                item = self._next(source)
                if item is _NONE:
                    slots.release()
                    if not running:
                        break
                    self._wake = trio.Event()
                    await self._wake.wait()  # an item ends, or one is added
                    self._wake = None
                    continue
                running += 1
                nursery.start_soon(one, item)
        self._added.clear()

    def _next(self, source: Iterator[T]) -> Any:
        """The next item: from *source*, then from those added."""
        item = next(source, _NONE)
        if item is _NONE and self._added:
            return self._added.popleft()
        return item


_NONE: Any = object()
