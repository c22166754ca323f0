"""Delays between reconnection attempts: exponential, capped, with jitter."""

from __future__ import annotations

import random

import attrs

__all__ = ["Backoff"]


@attrs.define
class Backoff:
    initial: float = 1.0
    maximum: float = 60.0
    factor: float = 2.0
    #: each delay is drawn from [delay * (1 - jitter), delay]
    jitter: float = 0.5
    attempts: int = 0
    rng: random.Random = attrs.field(factory=random.Random)

    def next_delay(self) -> float:
        base = self.initial
        # Grown step by step and stopped at the cap: `factor ** attempts` would overflow a
        # float after about a thousand attempts (some hours of a broker that stays down).
        for _ in range(min(self.attempts, 4096)):
            if base >= self.maximum:
                break
            base *= self.factor
        base = min(self.maximum, base)
        self.attempts += 1
        return base * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
