"""The SubscriptionStore contract, on SQLite and PostgreSQL
(cityos.storage.sqlite.subscriptions, cityos.storage.postgres.subscriptions)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.storage_support import new_store, open_subscription_store

from cityos.broker.notification import DeliveryOutcome
from cityos.broker.subscriptions.status import tally_outcomes
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


def outcome(at: str, failure: str | None = None, n: int = 1) -> DeliveryOutcome:
    return DeliveryOutcome("", f"urn:ngsi-ld:Subscription:{n}", at, failure)


async def test_counters_are_updated_without_touching_the_document(
        subscriptions: SubscriptionStore) -> None:
    await subscriptions.insert_subscription(record(1))
    await subscriptions.record_deliveries(tally_outcomes([outcome("T1")]))
    await subscriptions.record_deliveries(tally_outcomes([outcome("T2", "HTTP 500")]))
    await subscriptions.record_deliveries(tally_outcomes([outcome("T3", "HTTP 500")]))
    assert await subscriptions.replace_subscription(record(1, isActive=False))
    got = await subscriptions.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert got is not None and got.doc["isActive"] is False
    assert (got.times_sent, got.times_failed, got.consecutive_errors) == (3, 2, 2)
    assert (got.last_success, got.last_failure, got.last_notification) == ("T1", "T3", "T3")
    assert got.last_status == "failed"
    await subscriptions.record_deliveries(tally_outcomes([outcome("T4")]))
    got = await subscriptions.get_subscription("", "urn:ngsi-ld:Subscription:1")
    assert got is not None and got.consecutive_errors == 0 and got.last_status == "ok"


OUTCOME_SEQUENCES = [
    [None, "e", "e", None, "e"],
    ["e", "e", "e"],
    [None, None],
    ["e", None, "e", "e", None],
    ["e", "e", None, None, "e", "e"],
]


@pytest.mark.parametrize("sequence", OUTCOME_SEQUENCES)
async def test_folded_outcomes_count_exactly_as_one_by_one(
        subscriptions: SubscriptionStore, sequence: list[str | None]) -> None:
    """Any split of a history into batches leaves the same counters as counting each
    outcome alone (subscription 1: one outcome per batch; 2: a prefix of two, then the
    rest in one batch), after a history that already had an error."""
    for n in (1, 2):
        await subscriptions.insert_subscription(record(n))
        await subscriptions.record_deliveries(tally_outcomes([outcome("T0", "e", n)]))
    timed = [(f"T{i + 1}", failure) for i, failure in enumerate(sequence)]
    for at, failure in timed:
        await subscriptions.record_deliveries(tally_outcomes([outcome(at, failure, 1)]))
    for part in (timed[:2], timed[2:]):
        await subscriptions.record_deliveries(
            tally_outcomes([outcome(at, f, 2) for at, f in part]))
    one, two = [await subscriptions.get_subscription("", f"urn:ngsi-ld:Subscription:{n}")
                for n in (1, 2)]
    assert one is not None and two is not None
    counters = [(r.times_sent, r.times_failed, r.consecutive_errors, r.last_notification,
                 r.last_success, r.last_failure, r.last_status) for r in (one, two)]
    assert counters[0] == counters[1]
    failures = [f for f in sequence if f is not None]
    after_success = max((i + 1 for i, f in enumerate(sequence) if f is None), default=None)
    expected_errors = len(sequence) + 1 if after_success is None \
        else len(sequence) - after_success
    assert one.times_sent == len(sequence) + 1 and one.times_failed == len(failures) + 1
    assert one.consecutive_errors == expected_errors
    assert one.last_status == ("ok" if sequence[-1] is None else "failed")


async def test_outcomes_of_several_subscriptions_in_one_batch(
        subscriptions: SubscriptionStore) -> None:
    for n in (1, 2):
        await subscriptions.insert_subscription(record(n))
    batch = [outcome("T1", None, 1), outcome("T2", "e", 2), outcome("T3", None, 1),
             outcome("T4", None, 2), outcome("T5", None, 9)]  # 9 does not exist
    tallies = tally_outcomes(batch)
    assert [t.subscription_id[-1] for t in tallies] == ["1", "2", "9"]
    await subscriptions.record_deliveries(tallies)
    one, two = [await subscriptions.get_subscription("", f"urn:ngsi-ld:Subscription:{n}")
                for n in (1, 2)]
    assert one is not None and (one.times_sent, one.last_success, one.last_failure) == \
        (2, "T3", None)
    assert two is not None and (two.times_sent, two.times_failed, two.consecutive_errors,
                                two.last_success, two.last_failure, two.last_status) == \
        (2, 1, 0, "T4", "T2", "ok")
    await subscriptions.record_deliveries([])


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
