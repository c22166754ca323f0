"""Ways of waiting trio does not offer as such: for the first of several events, for the first
of several tasks to end (the broker session's reader, writer and heart-beats; the job client's
session and exchange), for a batch (all that a channel holds once something is in it). The
waits between retries are `plastrond.backoff`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import trio

__all__ = ["first_to_end", "receive_batch", "wait_any"]

T = TypeVar("T")
E = TypeVar("E", bound=BaseException)


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


async def first_to_end(*tasks: Callable[[], Awaitable[object]], expected: type[E]) -> E | None:
    """Run *tasks* side by side until the first of them ends, by returning or by raising
    *expected*, and cancel the others. Returns the *expected* exception raised first (the
    others were only cancelled; what they raise on their way out is not reported), or None
    when no task raised it. Any other exception propagates as trio raises it."""
    ended: list[E] = []

    async def guarded(task: Callable[[], Awaitable[object]]) -> None:
        try:
            await task()
        except expected as e:
            ended.append(e)
        nursery.cancel_scope.cancel()

    async with trio.open_nursery() as nursery:
        for task in tasks:
            nursery.start_soon(guarded, task)
    return ended[0] if ended else None


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
