"""Retry waits: doubling from the first wait up to the cap, spread by the jitter."""

from __future__ import annotations

import random

import pytest

from cityos.broker.delivery.backoff import RetryPolicy


def test_waits_double_up_to_the_cap() -> None:
    policy = RetryPolicy(initial=1.0, cap=30.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]
    assert policy.delay(10_000) == 30  # no overflow after very long outages


def test_jitter_spreads_waits_within_its_fraction_and_below_the_cap() -> None:
    policy = RetryPolicy(initial=1.0, cap=10.0, jitter=0.2)
    rng = random.Random(7)
    thirds = [policy.delay(3, rng) for _ in range(500)]
    assert all(3.2 <= d <= 4.8 for d in thirds)
    assert max(thirds) - min(thirds) > 1.0  # actually spread, not constant
    assert all(d <= 10.0 for d in (policy.delay(9, rng) for _ in range(200)))


def test_give_up_after_age() -> None:
    policy = RetryPolicy(give_up_after=60.0)
    assert not policy.expired(created_at=1000.0, now=1059.0)
    assert policy.expired(created_at=1000.0, now=1061.0)
    assert not RetryPolicy(give_up_after=0).expired(created_at=0.0, now=1e12)


@pytest.mark.parametrize(("initial", "cap", "jitter"), [(0, 1, 0), (2, 1, 0), (1, 2, 1.5)])
def test_unworkable_policies_are_refused(initial: float, cap: float, jitter: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(initial, cap, jitter)
