"""Two broker processes on one PostgreSQL database: the notifications one of them stored
and could not deliver before it ended are taken over and delivered by the other, in
order (tests/storage/test_postgres_delivery_log.py: while both live, each claims only
its own)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass

import pytest
from tests.delivery_support import ListMatcher, RecordingStatus, with_count
from tests.notification_receiver import NotificationReceiver
from tests.postgres_support import fresh_schema

from cityos.broker.delivery import service
from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.service import DeliveryConfig, NotificationDelivery
from cityos.broker.events import EntityEvent, InProcessBus
from cityos.broker.notification import Endpoint
from cityos.storage.postgres.delivery_log import PostgresDeliveryLog
from cityos.storage.postgres.store import PostgresStore

SUB = "urn:ngsi-ld:Subscription:takeover"
ID = "urn:ngsi-ld:Counter:1"


@dataclass
class Node:
    store: PostgresStore
    bus: InProcessBus
    delivery: NotificationDelivery

    async def set_count(self, value: int) -> None:
        [result] = await self.store.apply("", [(ID, lambda old: with_count(old, ID, value))])
        await self.bus.publish([EntityEvent("updated", "", ID, result.before, result.after)])


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as schema_url:
        yield schema_url


@contextlib.asynccontextmanager
async def node(url: str, receiver: NotificationReceiver) -> AsyncIterator[Node]:
    store = PostgresStore(url, pool_min=1, pool_max=3)
    bus = InProcessBus()
    config = DeliveryConfig(retry=RetryPolicy(0.2, 0.5, 0.0), poll_interval=0.2,
                            drain_timeout=0.0)
    delivery = NotificationDelivery(PostgresDeliveryLog(store), config)
    delivery.listen(bus)
    matcher = ListMatcher([(SUB, Endpoint(receiver.url))])
    await store.open()
    delivery.on_presence_changed(True)
    await delivery.start(matcher, RecordingStatus(), matcher.exists)
    try:
        yield Node(store, bus, delivery)
    finally:
        await delivery.stop()
        await bus.close()
        await store.close()


async def test_notifications_of_an_ended_process_are_delivered_by_another(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "RECLAIM_INTERVAL", 0.3)
    receiver = await NotificationReceiver(status=500).start()
    first_process, second_process = contextlib.AsyncExitStack(), contextlib.AsyncExitStack()
    try:
        # Started first, the first process is the one that matches changes.
        first = await first_process.enter_async_context(node(url, receiver))
        survivor = await second_process.enter_async_context(node(url, receiver))
        for value in range(5):
            await first.set_count(value)
        await _until(lambda: len(receiver.attempts) >= 3)  # the first keeps trying
        assert (await _backlog(survivor))[1] == 5
        await first_process.aclose()  # the first process ends
        receiver.status = 200
        received = await receiver.wait_for(5, timeout=30)
        assert [n.body["data"][0]["count"] for n in received] == list(range(5))
        await _until(lambda: False, survivor)
    finally:
        await first_process.aclose()
        await second_process.aclose()
        await receiver.stop()


async def _until(condition: Callable[[], bool], drained: Node | None = None) -> None:
    """Poll until `condition` holds (or, with `drained`, its outbox is empty)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not (condition() or (drained is not None and (await _backlog(drained))[1] == 0)):
        assert loop.time() < deadline, "condition not reached in 30 s"
        await asyncio.sleep(0.05)


async def _backlog(target: Node) -> tuple[int, int]:
    stats = await target.delivery.stats()
    return stats["journal_backlog"], stats["outbox_backlog"]
