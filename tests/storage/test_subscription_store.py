"""The SubscriptionStore contract, on SQLite and PostgreSQL
(cityos.storage.sqlite.subscriptions, cityos.storage.postgres.subscriptions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.storage_support import new_store, open_subscription_store

from cityos.storage.base import SubscriptionRecord, SubscriptionStore


def record(n: int, tenant: str = "", **doc: Any) -> SubscriptionRecord:
    return SubscriptionRecord(tenant, {"id": f"urn:ngsi-ld:Subscription:{n}",
                                       "type": "Subscription", **doc},
                              context=["https://kaga.example/ctx.jsonld"])


@pytest.fixture
async def subscriptions(database_url: str) -> AsyncIterator[SubscriptionStore]:
    store = new_store(database_url)
    subs = open_subscription_store(store)
    await store.open()
    yield subs
    await store.close()


async def test_insert_get_and_duplicate(subscriptions: SubscriptionStore) -> None:
    assert await subscriptions.insert_subscription(record(1, q="a>1"))
    assert not await subscriptions.insert_subscription(record(1))
    got = await subscriptions.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert got is not None and got.doc["q"] == "a>1"
    assert got.context == ["https://kaga.example/ctx.jsonld"]
    assert await subscriptions.get_subscription("other", "urn:ngsi-ld:Subscription:1") is None


async def test_tenants_are_separate_and_pages_keep_creation_order(
        subscriptions: SubscriptionStore) -> None:
    for n in (3, 1, 2):
        await subscriptions.insert_subscription(record(n))
    await subscriptions.insert_subscription(record(1, tenant="t2"))
    page, total = await subscriptions.query_subscriptions("", limit=2, offset=1)
    assert [r.id for r in page] == ["urn:ngsi-ld:Subscription:1", "urn:ngsi-ld:Subscription:2"]
    assert total == 3
    assert len(await subscriptions.all_subscriptions()) == 4


async def test_counters_are_updated_without_touching_the_document(
        subscriptions: SubscriptionStore) -> None:
    await subscriptions.insert_subscription(record(1))
    await subscriptions.record_delivery("", "urn:ngsi-ld:Subscription:1", "T1", ok=True)
    await subscriptions.record_delivery("", "urn:ngsi-ld:Subscription:1", "T2", ok=False)
    await subscriptions.record_delivery("", "urn:ngsi-ld:Subscription:1", "T3", ok=False)
    assert await subscriptions.replace_subscription(record(1, isActive=False))
    got = await subscriptions.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert got is not None and got.doc["isActive"] is False
    assert (got.times_sent, got.times_failed, got.consecutive_errors) == (3, 2, 2)
    assert (got.last_success, got.last_failure, got.last_notification) == ("T1", "T3", "T3")
    assert got.last_status == "failed"
    await subscriptions.record_delivery("", "urn:ngsi-ld:Subscription:1", "T4", ok=True)
    got = await subscriptions.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert got is not None and got.consecutive_errors == 0 and got.last_status == "ok"


async def test_delete_and_replace_of_missing(subscriptions: SubscriptionStore) -> None:
    await subscriptions.insert_subscription(record(1))
    assert await subscriptions.delete_subscription("", "urn:ngsi-ld:Subscription:1")
    assert not await subscriptions.delete_subscription("", "urn:ngsi-ld:Subscription:1")
    assert not await subscriptions.replace_subscription(record(1))


async def test_subscriptions_survive_a_restart(database_url: str) -> None:
    store = new_store(database_url)
    subs = open_subscription_store(store)
    await store.open()
    await subs.insert_subscription(record(1))
    await store.close()
    store = new_store(database_url)
    subs = open_subscription_store(store)
    await store.open()
    assert [r.id for r in await subs.all_subscriptions()] == ["urn:ngsi-ld:Subscription:1"]
    await store.close()
