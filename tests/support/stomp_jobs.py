"""Helpers of the tests that drive plastrond stomp as a process: job URIs, polling, and what
a stopped daemon left in its message store."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from plastrond.jobs.store import MessageStore


def job_ids(prefix: str, n: int) -> list[str]:
    """*n* Archelon job URIs under *prefix*."""
    return [f"http://archelon.example/{prefix}/{i}" for i in range(n)]


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.05
) -> None:
    """Poll *predicate* (on the test's thread) until it holds; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll)


def stored(store_dir: Path) -> tuple[list[str], list[str]]:
    """Job ids with a request and with a completion left in a stopped daemon's message store."""
    store = MessageStore(store_dir)
    try:
        return (
            [r.job_id for r in store.load_requests()],
            [c.job_id for c in store.load_completions()],
        )
    finally:
        store.close()
