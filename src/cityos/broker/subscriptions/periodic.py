"""Periodic notifications (ETSI GS CIM 009 V1.8.1 §5.2.12 timeInterval, §5.11): every
`timeInterval` seconds an active Subscription is sent the entities that currently match
it, through the delivery side's outbox. The first one goes out one interval after the
Subscription is created or changed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.notification import Outbox, OutgoingNotification
from cityos.broker.subscriptions.compose import compiled_context, outgoing
from cityos.broker.subscriptions.index import LiveSubscription, SubscriptionIndex
from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.model.render import render_entity
from cityos.ngsild.subscription import subscription_status
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, EntityStore

log = logging.getLogger(__name__)
MAX_ENTITIES = 1000  # per periodic notification, as for one page of a query (§6.3.10)


class PeriodicNotifier:
    """A timer task that sends the due periodic notifications."""

    def __init__(self, index: SubscriptionIndex, resolver: ContextResolver,
                 entities: EntityStore, *, tick: float = 0.5,
                 monotonic: Callable[[], float] = time.monotonic,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._index, self._resolver, self._entities = index, resolver, entities
        self._tick, self._monotonic, self._clock = tick, monotonic, clock
        self.outbox: Outbox | None = None
        self._task: asyncio.Task[None] | None = None
        self.owner_rights: Callable[[LiveSubscription], Any] | None = None
        # Several processes on one database: only the matching one sends (else one
        # periodic notification per process and interval).
        self.sends_here: Callable[[], bool] = lambda: True

    def schedule(self, live: LiveSubscription) -> None:
        if live.plan.time_interval is not None:
            live.next_due = self._monotonic() + live.plan.time_interval

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            # Not awaited: a lifespan may be shut down from another event loop than the
            # one it started on, and a sleeping timer holds nothing worth waiting for.
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._tick)
            try:
                await self.send_due()
            except Exception:  # the timer must survive one bad Subscription
                log.exception("periodic notifications failed")

    async def send_due(self) -> int:
        """Send every due periodic notification; how many were enqueued."""
        if self.outbox is None or not self.sends_here():
            return 0
        now, wall = self._monotonic(), self._clock()
        due: list[OutgoingNotification] = []
        for live in self._index.all():
            if live.next_due is None or live.next_due > now:
                continue
            assert live.plan.time_interval is not None
            live.next_due = now + live.plan.time_interval
            if subscription_status(live.doc, wall) != "active":
                continue
            notification = await self.notification(live)
            if notification is not None:
                due.append(notification)
        if due:
            await self.outbox.enqueue(due)
        return len(due)

    async def notification(self, live: LiveSubscription) -> OutgoingNotification | None:
        """The current matching entities as one Notification (None when nothing matches)."""
        entities = await self.matching_entities(live)
        rights = self.owner_rights(live) if self.owner_rights is not None else None
        if rights is not None:
            entities = [shown for entity in entities
                        if (shown := rights.readable(entity)) is not None]
        if not entities:
            return None
        ctx = await compiled_context(live, self._resolver)
        data = [render_entity(e, ctx, live.view.opts) for e in entities]
        return outgoing(live, data, now_timestamp())

    async def matching_entities(self, live: LiveSubscription) -> list[JsonObject]:
        plan = live.plan
        found: dict[str, JsonObject] = {}
        for selector in plan.selectors:
            query = EntityQuery(
                ids=(selector.entity_id,) if selector.entity_id else (),
                id_pattern=selector.id_pattern.pattern if selector.id_pattern else None,
                types=selector.types, q=plan.q, scope_q=plan.scope_q, geo=plan.geo,
                limit=MAX_ENTITIES)
            page = await self._entities.query_entities(live.tenant, query)
            for entity in page.entities:
                found.setdefault(entity["id"], entity)
        return list(found.values())[:MAX_ENTITIES]
