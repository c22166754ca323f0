"""Waiting for the first of several events (trio has no such primitive)."""

from __future__ import annotations

import trio

__all__ = ["wait_any"]


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
