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


def test_shared_buckets_count_what_they_take_and_adopt_the_shared_level() -> None:
    clock = Clock()
    buckets = TokenBuckets(rate=1.0, burst=5, clock=clock, shared=True)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    buckets.take("b")
    assert buckets.usage() == {"a": 3, "b": 1}
    assert buckets.usage() == {"a": 0, "b": 0}  # asked for recently: still exchanged
    buckets.take("a")  # taken while the exchange is under way
    buckets.adopt({"a": 0.5})  # another process spent the rest
    assert buckets.take("a") == 1.5  # 0.5 − the 1 taken meanwhile = −0.5: 1.5 s to wait
    clock.now += rate_limit.RECENT_SECONDS + 1
    assert buckets.usage() == {"a": 1}  # the take counted for the next exchange
    assert buckets.usage() == {}  # nothing asked for recently: nothing to exchange


def test_usage_of_a_failed_exchange_is_charged_with_the_next() -> None:
    buckets = TokenBuckets(rate=1.0, burst=5, clock=Clock(), shared=True)
    buckets.take("a")
    usage = buckets.usage()
    buckets.take("a")
    buckets.give_back(usage)
    assert buckets.usage() == {"a": 2}


def test_per_process_buckets_keep_no_usage() -> None:
    buckets = TokenBuckets(rate=1.0, burst=5, clock=Clock())
    buckets.take("a")
    assert buckets.usage() == {}
