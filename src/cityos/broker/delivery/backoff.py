"""When to try a failed notification again: exponential backoff with jitter and a cap."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """`initial` seconds after the first failure, doubling per failure up to `cap`, each
    wait spread by ±`jitter` (a fraction) so subscribers of one endpoint that failed
    together do not retry together. After `give_up_after` seconds (0 = never) a
    notification that still could not be delivered is dropped."""

    initial: float = 1.0
    cap: float = 60.0
    jitter: float = 0.2
    give_up_after: float = 86400.0

    def __post_init__(self) -> None:
        if self.initial <= 0 or self.cap < self.initial:
            raise ValueError("retry waits must be positive and the cap at least the first")
        if not 0 <= self.jitter < 1:
            raise ValueError("retry jitter must be a fraction in [0, 1)")

    def delay(self, failures: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `failures`-th consecutive failure (1, 2, …)."""
        base = min(self.cap, self.initial * 2.0 ** min(max(failures - 1, 0), 62))
        spread = (rng or random).uniform(-self.jitter, self.jitter)
        return min(self.cap, base * (1 + spread)) if self.jitter else base

    def expired(self, created_at: float, now: float) -> bool:
        return self.give_up_after > 0 and now - created_at > self.give_up_after
