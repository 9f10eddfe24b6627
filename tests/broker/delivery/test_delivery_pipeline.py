"""Journal → matcher → outbox → HTTP, with real receivers on 127.0.0.1: nothing lost across
restarts, order kept per entity, failures retried on schedule, one bad endpoint never
holding up the others."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from tests.delivery_support import ListMatcher, running_broker
from tests.notification_receiver import NotificationReceiver, Received

from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.service import DeliveryConfig
from cityos.broker.notification import ChangeRecord, Endpoint, OutgoingNotification

FAST = DeliveryConfig(retry=RetryPolicy(initial=0.05, cap=0.2, jitter=0.0),
                      poll_interval=0.2, drain_timeout=1.0)
SUB = "urn:ngsi-ld:Subscription:1"


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    server = await NotificationReceiver().start()
    yield server
    await server.stop()


def counts_by_entity(received: Sequence[Received]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    for r in received:
        [item] = r.body["data"]
        seen[item["id"]].append(item["count"])
    return dict(seen)


async def outbox_size(broker_log: object) -> int:
    _, outbox = await broker_log.backlog()  # type: ignore[attr-defined]
    return int(outbox)


async def test_committed_changes_reach_the_endpoint_with_their_headers(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    endpoint = Endpoint(receiver.url)
    async with running_broker(tmp_path / "db", FAST, [(SUB, endpoint)]) as broker:
        for value in range(5):
            await broker.set_count("urn:ngsi-ld:Counter:1", value, tenant="kaga")
        received = await receiver.wait_for(5)
        assert counts_by_entity(received) == {"urn:ngsi-ld:Counter:1": [0, 1, 2, 3, 4]}
        assert received[0].headers["content-type"] == "application/json"
        assert received[0].headers["ngsild-tenant"] == "kaga"
        assert received[0].path == "/notify"
        await asyncio.sleep(0.2)
        assert broker.status.delivered_to == [SUB] * 5
        assert await outbox_size(broker.log) == 0


async def test_matching_resumes_from_its_cursor_after_a_restart(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    subscription = [(SUB, Endpoint(receiver.url))]
    # Changes committed while no engine runs (as after a crash) wait in the journal.
    async with running_broker(tmp_path / "db", FAST, subscription, start=False) as broker:
        for value in range(4):
            await broker.set_count("urn:ngsi-ld:Counter:1", value)
    assert receiver.received == []
    async with running_broker(tmp_path / "db", FAST, subscription) as broker:
        await receiver.wait_for(4)
        await broker.set_count("urn:ngsi-ld:Counter:1", 4)
        await receiver.wait_for(5)
    async with running_broker(tmp_path / "db", FAST, subscription) as broker:
        await broker.delivery.catch_up()
        await asyncio.sleep(0.3)
        assert broker.matcher.seen == []  # nothing matched twice
    assert counts_by_entity(receiver.received) == {"urn:ngsi-ld:Counter:1": [0, 1, 2, 3, 4]}


async def test_undelivered_notifications_survive_a_restart_in_order(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    subscription = [(SUB, Endpoint(receiver.url))]
    receiver.status = 500
    async with running_broker(tmp_path / "db", FAST, subscription) as broker:
        for value in range(3):
            await broker.set_count("urn:ngsi-ld:Counter:1", value)
        while len(receiver.attempts) < 2:
            await asyncio.sleep(0.02)
    assert receiver.received == []
    receiver.status = 200
    async with running_broker(tmp_path / "db", FAST, subscription) as broker:
        await receiver.wait_for(3)
        await asyncio.sleep(0.2)
        assert await outbox_size(broker.log) == 0
    assert counts_by_entity(receiver.received) == {"urn:ngsi-ld:Counter:1": [0, 1, 2]}


async def test_a_later_notification_never_overtakes_an_earlier_one_for_an_entity(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    receiver.script = [500, 200, 503, 500, 200, 200, 500] * 4  # failures scattered about
    async with running_broker(tmp_path / "db", FAST, [(SUB, Endpoint(receiver.url))]) as broker:
        entities = [f"urn:ngsi-ld:Counter:{n}" for n in range(4)]
        for value in range(10):
            await asyncio.gather(*(broker.set_count(e, value) for e in entities))
        await receiver.wait_for(40, timeout=20)
    assert counts_by_entity(receiver.received) == {e: list(range(10)) for e in entities}


async def test_a_failing_or_slow_endpoint_does_not_delay_a_healthy_one(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    slow = await NotificationReceiver(delay=5.0).start()
    refused = Endpoint("http://127.0.0.1:9/notify")  # nothing listens on port 9
    subscriptions = [("urn:sub:slow", Endpoint(slow.url)), ("urn:sub:down", refused),
                     ("urn:sub:healthy", Endpoint(receiver.url))]
    try:
        config = DeliveryConfig(retry=RetryPolicy(0.05, 0.2, 0.0), drain_timeout=0.1)
        async with running_broker(tmp_path / "db", config, subscriptions) as broker:
            started = time.monotonic()
            for value in range(20):
                await broker.set_count(f"urn:ngsi-ld:Counter:{value % 10}", value)
            await receiver.wait_for(20, timeout=3)
            assert time.monotonic() - started < 2.0
            assert slow.received == []  # still stuck in its first answers
    finally:
        await slow.stop()


async def test_failed_attempts_back_off_exponentially_and_are_reported(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    receiver.status = 500
    config = DeliveryConfig(retry=RetryPolicy(initial=0.1, cap=0.4, jitter=0.0))
    async with running_broker(tmp_path / "db", config, [(SUB, Endpoint(receiver.url))]) as b:
        await b.set_count("urn:ngsi-ld:Counter:1", 1)
        while len(receiver.attempts) < 6:
            await asyncio.sleep(0.02)
        gaps = [later - earlier for earlier, later
                in zip(receiver.attempts, receiver.attempts[1:], strict=False)][:5]
        # Never earlier than the back-off says (the lower bounds show it grows); later
        # only by scheduling delays, with room for a busy machine.
        for gap, expected in zip(gaps, [0.1, 0.2, 0.4, 0.4, 0.4], strict=True):
            assert expected - 0.01 < gap < expected + 0.25, gaps
        assert b.status.failures[0] == (SUB, "endpoint answered HTTP 500")
        receiver.status = 200
        await receiver.wait_for(1)


async def test_an_unreachable_endpoint_is_probed_not_hammered(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    receiver.status = 503  # the whole endpoint is unavailable
    config = DeliveryConfig(retry=RetryPolicy(initial=0.2, cap=0.4, jitter=0.0))
    async with running_broker(tmp_path / "db", config, [(SUB, Endpoint(receiver.url))]) as b:
        await asyncio.gather(*(b.set_count(f"urn:ngsi-ld:Counter:{n}", n) for n in range(30)))
        await asyncio.sleep(1.2)
        # 30 entities: the first sends already under way (8 at a time to one endpoint),
        # then one probe per retry period rather than 30 requests each time.
        assert len(receiver.attempts) <= 14, len(receiver.attempts)
        receiver.status = 200
        await receiver.wait_for(30, timeout=5)


async def test_a_notification_that_cannot_be_delivered_is_given_up_in_the_end(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    receiver.status = 500
    config = DeliveryConfig(retry=RetryPolicy(0.05, 0.1, 0.0, give_up_after=0.4))
    async with running_broker(tmp_path / "db", config, [(SUB, Endpoint(receiver.url))]) as b:
        await b.set_count("urn:ngsi-ld:Counter:1", 1)
        await asyncio.sleep(1.0)
        assert await outbox_size(b.log) == 0
        assert "gave up" in b.status.failures[-1][1]
        attempts = len(receiver.attempts)
        await asyncio.sleep(0.3)
        assert len(receiver.attempts) == attempts


async def test_enqueued_notifications_are_stored_before_they_are_sent(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    down = OutgoingNotification("", SUB, Endpoint("http://127.0.0.1:9/"), "application/json",
                                b'{"type": "Notification", "data": []}')
    up = OutgoingNotification("", "urn:sub:2", Endpoint(receiver.url), "application/json",
                              b'{"type": "Notification", "data": [{"id": "x", "count": 1}]}')
    async with running_broker(tmp_path / "db", FAST, []) as broker:
        await broker.delivery.enqueue([down, up])
        await receiver.wait_for(1)
        await asyncio.sleep(0.1)
        [waiting] = await broker.log.pending(0, 10)
        assert waiting.record.endpoint["uri"] == "http://127.0.0.1:9/"
        assert waiting.attempts >= 1


async def test_a_change_the_matcher_cannot_handle_does_not_stop_the_others(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    class Picky(ListMatcher):
        async def match(self, changes: Sequence[ChangeRecord]) -> list[OutgoingNotification]:
            if any(c.entity_id.endswith(":bad") for c in changes):
                raise ValueError("cannot match this one")
            return await super().match(changes)

    async with running_broker(tmp_path / "db", FAST, start=False) as broker:
        for entity in ("urn:ngsi-ld:Counter:1", "urn:ngsi-ld:Counter:bad",
                       "urn:ngsi-ld:Counter:2"):
            await broker.set_count(entity, 7)
        await broker.delivery.start(Picky([(SUB, Endpoint(receiver.url))]))
        await receiver.wait_for(2)
    assert counts_by_entity(receiver.received) == {"urn:ngsi-ld:Counter:1": [7],
                                                   "urn:ngsi-ld:Counter:2": [7]}


async def test_changes_that_notify_nobody_are_not_matched_again_after_a_restart(
        tmp_path: Path) -> None:
    async with running_broker(tmp_path / "db", FAST, []) as broker:
        for value in range(5):
            await broker.set_count("urn:ngsi-ld:Counter:1", value)
        await broker.delivery.catch_up()
        assert len(broker.matcher.seen) == 5
    async with running_broker(tmp_path / "db", FAST, []) as broker:
        await broker.delivery.catch_up()
        assert broker.matcher.seen == []
        assert await broker.log.backlog() == (0, 0)  # consumed changes are pruned


async def test_notifications_of_a_deleted_subscription_are_dropped_not_retried(
        tmp_path: Path, receiver: NotificationReceiver) -> None:
    receiver.status = 500
    async with running_broker(tmp_path / "db", FAST, [(SUB, Endpoint(receiver.url))]) as broker:
        for value in range(3):
            await broker.set_count("urn:ngsi-ld:Counter:1", value)
        while not receiver.attempts:
            await asyncio.sleep(0.02)
        broker.matcher.deleted.add(SUB)  # the subscription is deleted while retries wait
        receiver.status = 200
        await asyncio.sleep(1.0)
        assert receiver.received == []
        assert await outbox_size(broker.log) == 0
