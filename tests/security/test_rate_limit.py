"""Token buckets: burst, refill rate, the wait announced, and forgetting full buckets."""

from __future__ import annotations

import pytest

from cityos.security import rate_limit
from cityos.security.rate_limit import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=2.0, burst=3, clock=clock)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a") == 0.5  # one token takes 1/rate seconds
    clock.now += 0.25
    assert buckets.take("a") == 0.25
    clock.now += 0.25
    assert buckets.take("a") == 0.0
    assert buckets.take("b") == 0.0  # buckets are per key


def test_a_bucket_never_holds_more_than_its_burst() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=2, clock=clock)
    buckets.take("a")
    clock.now += 1000
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 1.0]


def test_full_buckets_are_forgotten_when_the_table_is_full(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=1, clock=clock)
    monkeypatch.setattr(rate_limit, "MAX_BUCKETS", 2)
    buckets.take("a")
    buckets.take("b")
    clock.now += 5  # both refilled
    assert buckets.take("c") == 0.0
    assert set(buckets._buckets) == {"c"}
