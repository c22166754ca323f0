"""Ways of waiting trio does not offer as such: for the first of several events, for a batch
(all that a channel holds once something is in it), and between retries (growing delays)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

import trio

__all__ = ["growing_delays", "receive_batch", "wait_any"]

T = TypeVar("T")


async def wait_any(*events: trio.Event) -> None:
    """Return as soon as one of *events* is set."""
    if any(e.is_set() for e in events):
        return
    async with trio.open_nursery() as nursery:

        async def first(event: trio.Event) -> None:
            await event.wait()
            nursery.cancel_scope.cancel()

        for event in events:
            nursery.start_soon(first, event)


async def receive_batch(channel: trio.MemoryReceiveChannel[T]) -> list[T]:
    """Wait for an item, then take every item already queued behind it; [] once the channel
    is closed and empty."""
    try:
        batch = [await channel.receive()]
    except trio.EndOfChannel:
        return []
    while True:
        try:
            batch.append(channel.receive_nowait())
        except trio.WouldBlock:
            return batch
        except trio.EndOfChannel:
            return batch


def growing_delays(
    initial: float = 1.0, maximum: float = 30.0, factor: float = 2.0
) -> Iterator[float]:
    """Seconds to wait before each retry: *initial*, then *factor* times longer each time, never
    more than *maximum* (1, 2, 4, 8, 16, 30, 30, ... by default)."""
    delay = initial
    while True:
        yield min(delay, maximum)
        delay = min(maximum, delay * factor)
