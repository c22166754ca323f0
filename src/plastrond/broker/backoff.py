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
        base = min(self.maximum, self.initial * self.factor**self.attempts)
        self.attempts += 1
        return base * (1 - self.jitter * self.rng.random())

    def reset(self) -> None:
        self.attempts = 0
