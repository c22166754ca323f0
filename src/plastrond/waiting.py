"""Ways of waiting trio does not offer as such: for the first of several events, for a batch
(all that a channel holds once something is in it). The waits between retries are
`plastrond.backoff`."""

from __future__ import annotations

from typing import TypeVar

import trio

__all__ = ["receive_batch", "wait_any"]

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
