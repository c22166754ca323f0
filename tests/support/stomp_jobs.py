"""Helpers of the tests that drive plastrond stomp as a process: job URIs and polling."""

from __future__ import annotations

import time
from collections.abc import Callable


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
