"""Subscription matching: committed entity changes → notifications (ETSI GS CIM 009 V1.8.1
§5.11 "Subscription notification behaviour", §5.2.12).

For each change the matcher looks only at the Subscriptions filed under the entity's types
and the Attributes the change touched (see index.py), then decides exactly: status (active,
not expired), notificationTrigger against the before/after diff, entity selectors, q /
scopeQ / geoQ with the pure evaluators (Linked Entity q terms through the store), and
throttling. Each match becomes one Notification about one entity.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.notification import ChangeRecord, OutgoingNotification
from cityos.broker.subscriptions.compose import (
    compiled_context,
    flat_linked,
    linked_for,
    outgoing,
)
from cityos.broker.subscriptions.index import LiveSubscription, SubscriptionIndex
from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.subscription import (
    ChangeSummary,
    fired,
    notified_entity,
    subscription_status,
    summarize,
)
from cityos.ngsild.subscription.plan import FilterKey
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, EntityStore

if TYPE_CHECKING:
    from cityos.security.policy import Authorizer

# What a Subscription's owner may read (None: no owner recorded, nothing to narrow).
OwnerRights = Callable[[LiveSubscription], "Authorizer | None"]


def owner_view(rights: Authorizer | None, change: ChangeRecord) -> ChangeRecord | None:
    """The change as the owner may see it: entities it may not read vanish, attributes
    it may not read are left out (None: it may see nothing of it)."""
    if rights is None:
        return change
    before = rights.readable(change.before) if change.before is not None else None
    after = rights.readable(change.after) if change.after is not None else None
    if before is None and after is None:
        return None
    return replace(change, before=before, after=after)


class _OwnerViews:
    """One change as each owner sees it, computed once per owner (authorizers are shared
    by the Subscriptions of one principal), with the filter verdicts given on that view.
    The authorizers are held here, so the ids used as keys stay theirs."""

    def __init__(self, change: ChangeRecord, summary: ChangeSummary) -> None:
        self._full: tuple[ChangeRecord, ChangeSummary] = (change, summary)
        self._views: dict[int, tuple[Authorizer, tuple[ChangeRecord, ChangeSummary] | None]] \
            = {}
        self._verdicts: dict[int | None, dict[FilterKey, bool]] = {}
        self._fired: dict[tuple[int | None, frozenset[str], frozenset[str] | None],
                          frozenset[str]] = {}

    def owner(self, rights: Authorizer | None) -> tuple[ChangeRecord, ChangeSummary] | None:
        if rights is None:
            return self._full
        known = self._views.get(id(rights))
        if known is None:
            seen = owner_view(rights, self._full[0])
            view = None
            if seen is not None:
                summary = summarize(seen.before, seen.after)
                view = (seen, summary) if summary.entity is not None else None
            known = self._views[id(rights)] = (rights, view)
        return known[1]

    def fired(self, rights: Authorizer | None, summary: ChangeSummary,
              triggers: frozenset[str], watched: frozenset[str] | None) -> frozenset[str]:
        """The triggers the owner's view of the change fires, once per trigger set."""
        key = (None if rights is None else id(rights), triggers, watched)
        hits = self._fired.get(key)
        if hits is None:
            hits = self._fired[key] = fired(summary, triggers, watched)
        return hits

    def verdicts(self, rights: Authorizer | None) -> dict[FilterKey, bool]:
        return self._verdicts.setdefault(None if rights is None else id(rights), {})


def readable_linked(rights: Authorizer | None,
                    linked: dict[str, JsonObject]) -> dict[str, JsonObject]:
    if rights is None:
        return linked
    return {i: shown for i, entity in linked.items()
            if (shown := rights.readable(entity)) is not None}


class SubscriptionMatcher:
    """`NotificationMatcher` over the live Subscription index."""

    def __init__(self, index: SubscriptionIndex, resolver: ContextResolver,
                 entities: EntityStore, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._index = index
        self._resolver = resolver
        self._entities = entities
        self._clock = clock
        self._monotonic = monotonic
        self.checks = 0  # candidate Subscriptions examined (for tests and metrics)
        self.owner_rights: OwnerRights | None = None

    async def match(self, changes: Sequence[ChangeRecord]) -> list[OutgoingNotification]:
        """The notifications these changes cause, in change order."""
        out: list[OutgoingNotification] = []
        notified_at = now_timestamp()  # one pass, one notifiedAt
        for change in changes:
            out.extend(await self._match_one(change, notified_at))
        return out

    async def _match_one(self, change: ChangeRecord,
                         notified_at: str) -> list[OutgoingNotification]:
        full_summary = summarize(change.before, change.after)
        if full_summary.entity is None:
            return []
        types = {*(change.before or {}).get("type", ()), *(change.after or {}).get("type", ())}
        now = self._clock()
        notifications = []
        seen_by = _OwnerViews(change, full_summary)
        committed_ms = change.committed_at[:23]
        for live in self._index.candidates(change.tenant, types, full_summary.attributes):
            self.checks += 1
            if committed_ms < live.created_ms:
                continue  # committed before the Subscription existed
            rights = self.owner_rights(live) if self.owner_rights is not None else None
            view = seen_by.owner(rights)
            if view is None:
                continue
            seen, summary = view
            target = seen.after if seen.after is not None else seen.before
            assert target is not None
            hits = seen_by.fired(rights, summary, live.plan.triggers, live.plan.watched)
            if not hits or subscription_status(live.doc, now) != "active":
                continue
            if not await self._selected(live, seen, target, seen_by.verdicts(rights)):
                continue
            if self._throttled(live):
                continue
            notifications.append(await self._notification(live, seen, summary, hits,
                                                          notified_at, rights))
        return notifications

    async def _selected(self, live: LiveSubscription, change: ChangeRecord,
                        target: JsonObject, verdicts: dict[FilterKey, bool]) -> bool:
        """Entity selectors, q, scopeQ and geoQ. Subscriptions with equal selectors and
        filters get one verdict per change and owner view (many subscribers often ask the
        same question); Linked Entity q terms are always asked of the store."""
        plan = live.plan
        if plan.needs_linked:
            return plan.selects(target) and await self._filters(live, change, target)
        key = plan.filter_key
        verdict = verdicts.get(key)
        if verdict is None:
            verdict = verdicts[key] = plan.selects(target) and plan.filters(target)
        return verdict

    async def _filters(self, live: LiveSubscription, change: ChangeRecord,
                       target: JsonObject) -> bool:
        plan = live.plan
        if not plan.needs_linked:
            return plan.filters(target)
        if change.after is None or plan.q is None:
            return False  # a deleted entity links to nothing any more
        if not replace(plan, q=None).filters(target):
            return False
        page = await self._entities.query_entities(
            change.tenant, EntityQuery(ids=(target["id"],), q=plan.q, limit=1))
        return bool(page.entities)

    def _throttled(self, live: LiveSubscription) -> bool:
        """§5.2.12 throttling: at most one notification per `throttling` seconds."""
        throttling = live.doc.get("throttling")
        now = self._monotonic()
        if throttling and live.last_notified is not None \
                and now - live.last_notified < float(throttling):
            return True
        live.last_notified = now
        return False

    async def _notification(self, live: LiveSubscription, change: ChangeRecord,
                            summary: ChangeSummary,
                            hits: frozenset[str], notified_at: str,
                            rights: Authorizer | None = None) -> OutgoingNotification:
        ctx = await compiled_context(live, self._resolver)
        shown = deleted_shown(live, summary, hits)
        linked = readable_linked(rights, await linked_for(live, self._entities, change.after)) \
            if change.after is not None else {}
        entity = notified_entity(change.before, change.after, summary, shown, live.view, ctx,
                                 change.committed_at, linked)
        data = [entity, *flat_linked(live, change.after, linked, ctx)]
        return outgoing(live, data, notified_at, ordering_key=change.entity_id)


def deleted_shown(live: LiveSubscription, summary: ChangeSummary,
                  hits: frozenset[str]) -> frozenset[str]:
    """Deleted Attributes a notification shows: with showChanges all of them; for an
    attributeDeleted trigger the (watched) deleted ones; otherwise none."""
    if live.view.show_changes:
        return summary.deleted
    if "attributeDeleted" not in hits:
        return frozenset()
    watched = live.plan.watched
    return summary.deleted & watched if watched else summary.deleted
