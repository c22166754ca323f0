"""Waits between tries, in one place: every retry loop of plastrond draws its delays here.

A `Backoff` is a policy (frozen): the wait before retry *n* (0 first) is *initial* grown by
*factor* per retry up to *maximum*, then drawn from [wait * (1 - jitter), wait] when *jitter*
is set (so that replicas that failed together do not try again together). The named policies
live beside the loops they pace:

- broker reconnection: `MESSAGE_BROKER.RECONNECT_*` (the daemon), jitter 0.5;
- the message store's writes: `jobs.writer.STORE_RETRY` (1, 2, 4 ... 30 s);
- a repository request: `repository.RetryPolicy` (0.5 s ... 8 s, jitter 0.5);
- Fedora 4.7's races and an item tried again: `repository._races.RACE_BACKOFF` (0.5, 1, 2, 4 s);
- a read from the handle service: `handles.READ_DELAYS` (0.5 s, then 2 s).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator

import attrs

__all__ = ["Backoff"]

_RNG = random.Random()


@attrs.frozen
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    #: each wait is drawn from [wait * (1 - jitter), wait]
    jitter: float = 0.0

    def delay(self, retry: int, rng: random.Random = _RNG) -> float:
        """Seconds to wait before retry *retry* (0 first)."""
        base = self.initial
        # Grown step by step and stopped at the cap: `factor ** retry` would overflow a float
        # after about a thousand retries (some hours of a broker that stays down).
        for _ in range(min(retry, 4096)):
            if base >= self.maximum:
                break
            base *= self.factor
        base = min(self.maximum, base)
        if not self.jitter:
            return base
        return base * (1 - self.jitter * rng.random())

    def delays(self, rng: random.Random = _RNG) -> Iterator[float]:
        """The waits before each retry, without end."""
        return (self.delay(retry, rng) for retry in itertools.count())
