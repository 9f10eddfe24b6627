"""The subscription status counters under real delivery, on both backends: outcomes are
counted in batches (one counter update per subscription and batch, not per notification),
and the stored counters are exact after the broker stops and the database is reopened."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import pytest
from tests.delivery_support import ListMatcher, with_count
from tests.notification_receiver import NotificationReceiver
from tests.storage_support import new_store, open_delivery_log, open_subscription_store

from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.service import DeliveryConfig, NotificationDelivery
from cityos.broker.events import EntityEvent, InProcessBus
from cityos.broker.notification import DeliveryOutcome, Endpoint
from cityos.broker.subscriptions.status import StoredDeliveryStatus
from cityos.storage.base import SubscriptionRecord, SubscriptionStore

SUB = "urn:ngsi-ld:Subscription:status"
FAST = DeliveryConfig(retry=RetryPolicy(initial=0.05, cap=0.1, jitter=0.0),
                      poll_interval=0.2, drain_timeout=2.0)


@dataclass
class CountingStatus:
    """The stored status, counting how many batches it was handed."""

    stored: StoredDeliveryStatus
    batches: list[int] = field(default_factory=list)

    async def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        self.batches.append(len(outcomes))
        await self.stored.record(outcomes)


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    server = await NotificationReceiver().start()
    yield server
    await server.stop()


@contextlib.asynccontextmanager
async def broker(database_url: str, endpoint: Endpoint
                 ) -> AsyncIterator[tuple[SubscriptionStore, CountingStatus, InProcessBus,
                                          object]]:
    store = new_store(database_url)
    subscriptions = open_subscription_store(store)
    delivery = NotificationDelivery(open_delivery_log(store), FAST)
    bus = InProcessBus()
    delivery.listen(bus)
    await store.open()
    await subscriptions.insert_subscription(
        SubscriptionRecord("", {"id": SUB, "type": "Subscription"}))
    delivery.on_presence_changed(True)
    matcher = ListMatcher([(SUB, endpoint)])
    status = CountingStatus(StoredDeliveryStatus(subscriptions))
    await delivery.start(matcher, status, matcher.exists)
    try:
        yield subscriptions, status, bus, store
    finally:
        await delivery.stop()
        await bus.close()
        await store.close()


async def write_counts(store: object, bus: InProcessBus, n: int) -> None:
    for value in range(n):
        entity_id = f"urn:ngsi-ld:Counter:{value % 5}"
        [result] = await store.apply(  # type: ignore[attr-defined]
            "", [(entity_id, lambda old, i=entity_id, v=value: with_count(old, i, v))])
        await bus.publish([EntityEvent("updated", "", entity_id, result.before,
                                       result.after)])


async def stored_record(database_url: str) -> SubscriptionRecord:
    store = new_store(database_url)
    subscriptions = open_subscription_store(store)
    open_delivery_log(store)
    await store.open()
    try:
        got = await subscriptions.get_subscription("", SUB)
    finally:
        await store.close()
    assert got is not None
    return got


async def test_counters_are_batched_and_exact_after_a_restart(
        database_url: str, receiver: NotificationReceiver) -> None:
    async with broker(database_url, Endpoint(receiver.url)) as (_, status, bus, store):
        await write_counts(store, bus, 200)
        await receiver.wait_for(200)
    # Stopped (outcomes still queued are reported on the way out), database reopened.
    got = await stored_record(database_url)
    assert (got.times_sent, got.times_failed, got.consecutive_errors) == (200, 0, 0)
    assert got.last_status == "ok" and got.last_failure is None
    assert got.last_success is not None and got.last_success == got.last_notification
    assert sum(status.batches) == 200
    assert len(status.batches) < 200 / 4  # counted in batches, not one write each


async def test_failures_then_recovery_are_counted_exactly(
        database_url: str, receiver: NotificationReceiver) -> None:
    receiver.script = [500, 500, 500]
    async with broker(database_url, Endpoint(receiver.url)) as (_, status, bus, store):
        await write_counts(store, bus, 1)
        await receiver.wait_for(1)
        await asyncio.sleep(0.3)
        receiver.status = 503
        await write_counts(store, bus, 1)
        while len(receiver.attempts) < 6:
            await asyncio.sleep(0.05)
    got = await stored_record(database_url)
    attempts = sum(status.batches)
    # Three 500s, one success, then only failures (503) until the broker stopped.
    assert got.times_sent == attempts >= 6
    assert got.times_failed == attempts - 1
    assert got.consecutive_errors == attempts - 4
    assert got.last_status == "failed"
    assert got.last_success is not None and got.last_failure == got.last_notification
    assert got.last_success < got.last_failure
