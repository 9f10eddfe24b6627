"""A broker core (store, bus, entity service, notification delivery) for delivery tests,
with a small matcher written here: every change notifies every listed subscription."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from cityos.broker.delivery.service import DeliveryConfig, NotificationDelivery
from cityos.broker.entities import EntityService
from cityos.broker.events import EntityEvent, InProcessBus
from cityos.broker.notification import (
    ChangeRecord,
    DeliveryOutcome,
    Endpoint,
    OutgoingNotification,
)
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.types import JsonObject
from cityos.storage.sqlite.delivery_log import SqliteDeliveryLog
from cityos.storage.sqlite.store import SqliteStore

CTX = core_context()
COUNT = CTX.expand_term("count")


def counter(entity_id: str, value: int) -> JsonObject:
    return parse_entity({"id": entity_id, "type": "Counter",
                         "count": {"type": "Property", "value": value}}, CTX)


@dataclass
class ListMatcher:
    """Notifies each subscription in `subscriptions` of every change, with the entity id
    and its count in the body (enough to check order and completeness)."""

    subscriptions: list[tuple[str, Endpoint]] = field(default_factory=list)
    seen: list[ChangeRecord] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)

    def exists(self, tenant: str, subscription_id: str) -> bool:
        return subscription_id not in self.deleted

    async def match(self, changes: Sequence[ChangeRecord]) -> list[OutgoingNotification]:
        self.seen.extend(changes)
        found = []
        for change in changes:
            count = None
            if change.after is not None:
                count = change.after["attrs"][COUNT][0]["value"]
            for subscription_id, endpoint in self.subscriptions:
                body = orjson.dumps({"id": f"urn:ngsi-ld:Notification:{change.seq}",
                                     "type": "Notification", "subscriptionId": subscription_id,
                                     "data": [{"id": change.entity_id, "count": count}]})
                found.append(OutgoingNotification(
                    change.tenant, subscription_id, endpoint, "application/json", body,
                    (("NGSILD-Tenant", change.tenant),) if change.tenant else (),
                    ordering_key=change.entity_id))
        return found


@dataclass
class RecordingStatus:
    """A DeliveryStatus that remembers every reported outcome."""

    delivered_to: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)

    batches: int = 0

    async def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        self.batches += 1
        for outcome in outcomes:
            assert outcome.at.endswith("Z")
            if outcome.failure is None:
                self.delivered_to.append(outcome.subscription_id)
            else:
                self.failures.append((outcome.subscription_id, outcome.failure))


@dataclass
class Broker:
    store: SqliteStore
    log: SqliteDeliveryLog
    bus: InProcessBus
    entities: EntityService
    delivery: NotificationDelivery
    matcher: ListMatcher
    status: RecordingStatus

    async def set_count(self, entity_id: str, value: int, tenant: str = "") -> None:
        """Create or overwrite the Counter entity, announcing the commit as the entity
        service does."""
        [result] = await self.store.apply(
            tenant, [(entity_id, lambda old: with_count(old, entity_id, value))])
        await self.bus.publish([EntityEvent("updated", tenant, entity_id, result.before,
                                            result.after)])


def with_count(old: JsonObject | None, entity_id: str, value: int) -> JsonObject:
    entity = stamp_new_entity(counter(entity_id, value), "2026-01-01T00:00:00.000Z")
    if old is not None:
        entity["createdAt"] = old["createdAt"]
    return entity


@contextlib.asynccontextmanager
async def running_broker(database: Path, config: DeliveryConfig | None = None,
                         subscriptions: list[tuple[str, Endpoint]] | None = None,
                         *, start: bool = True) -> AsyncIterator[Broker]:
    """A broker core on `database` with delivery started and the journal on."""
    store = SqliteStore(str(database))
    log = SqliteDeliveryLog(store)
    bus = InProcessBus()
    delivery = NotificationDelivery(log, config or DeliveryConfig())
    delivery.listen(bus)
    matcher = ListMatcher(list(subscriptions or []))
    status = RecordingStatus()
    await store.open()
    delivery.on_presence_changed(True)
    if start:
        await delivery.start(matcher, status, matcher.exists)
    try:
        yield Broker(store, log, bus, EntityService(store, bus), delivery, matcher, status)
    finally:
        await delivery.stop()
        await bus.close()
        await store.close()
