"""Delivery outcomes → the Subscription's status members (ETSI GS CIM 009 V1.8.1 §5.2.14:
timesSent, lastNotification, lastSuccess, lastFailure, status; consecutiveErrors and
timesFailed count failures).

Outcomes arrive in batches; the outcomes of one Subscription in a batch are folded into one
`DeliveryTally`, so a thousand notifications to one endpoint cost one counter update, not a
thousand, and the counters come out exactly as if each outcome had been counted alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cityos.broker.notification import DeliveryOutcome
from cityos.storage.base import DeliveryTally, SubscriptionStore


@dataclass
class _Fold:
    sent: int = 0
    failed: int = 0
    trailing_failures: int = 0
    any_success: bool = False
    last_notification: str = ""
    last_success: str | None = None
    last_failure: str | None = None

    def add(self, outcome: DeliveryOutcome) -> None:
        self.sent += 1
        self.last_notification = outcome.at
        if outcome.failure is None:
            self.any_success = True
            self.trailing_failures = 0
            self.last_success = outcome.at
        else:
            self.failed += 1
            self.trailing_failures += 1
            self.last_failure = outcome.at


def tally_outcomes(outcomes: Sequence[DeliveryOutcome]) -> list[DeliveryTally]:
    """One tally per (tenant, Subscription), in order of first appearance."""
    folds: dict[tuple[str, str], _Fold] = {}
    for outcome in outcomes:
        key = (outcome.tenant, outcome.subscription_id)
        fold = folds.get(key)
        if fold is None:
            fold = folds[key] = _Fold()
        fold.add(outcome)
    return [DeliveryTally(tenant, subscription_id, f.sent, f.failed, f.trailing_failures,
                          f.any_success, f.last_notification, f.last_success,
                          f.last_failure, "failed" if f.trailing_failures else "ok")
            for (tenant, subscription_id), f in folds.items()]


class StoredDeliveryStatus:
    """`DeliveryStatus` that counts each batch of outcomes in the Subscription store."""

    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        await self._store.record_deliveries(tally_outcomes(outcomes))
