"""Fixtures of the unit tests."""

from __future__ import annotations

import pytest
import trio
import trio.testing


@pytest.fixture
def clock() -> trio.testing.MockClock:
    """A MockClock (pytest-trio runs a test that takes it on it) that jumps only once the run
    has been idle for 20 ms of real time: the message stores write in worker threads, which
    trio's clock cannot see."""
    return trio.testing.MockClock(autojump_threshold=0.02)
