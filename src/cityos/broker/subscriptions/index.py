"""The in-memory view of every Subscription, indexed for matching (ETSI GS CIM 009 V1.8.1
§5.11).

A change must not be checked against every Subscription. Subscriptions with entity
selectors are filed under (tenant, entity type IRI) — every type name their type
expressions mention — and, within that, under each watched Attribute (or "*" when they
watch every Attribute). Subscriptions without entity selectors are filed under (tenant,
watched Attribute). A change to an entity then looks at the buckets of its types and of the
Attributes it touched; `MatchPlan` decides the candidates exactly. Periodic Subscriptions
(timeInterval) are not notified by changes and are not filed at all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cityos.broker.notification import Endpoint
from cityos.broker.subscriptions.caller import owner_principal
from cityos.ngsild.context import CompiledContext
from cityos.ngsild.subscription import (
    MatchPlan,
    NotificationView,
    compile_plan,
    notification_view,
)
from cityos.ngsild.types import JsonObject
from cityos.security.principal import Principal

Key = tuple[str, str]  # (tenant, subscription id)
ANY_ATTRIBUTE = "*"


def endpoint_of(doc: JsonObject) -> Endpoint:
    raw = doc["notification"]["endpoint"]
    return Endpoint(
        uri=raw["uri"], accept=raw.get("accept", "application/json"),
        receiver_info=tuple((p["key"], p["value"]) for p in raw.get("receiverInfo", ())),
        notifier_info=tuple((p["key"], p["value"]) for p in raw.get("notifierInfo", ())))


def to_millis(stamp: str) -> str:
    """A UTC timestamp as `YYYY-MM-DDTHH:MM:SS.mmm` (compared as text with the change
    journal's commit times); "" stays "" (no createdAt: every change counts)."""
    if not stamp:
        return ""
    head, _, fraction = stamp.rstrip("Z").partition(".")
    return f"{head[:19]}.{(fraction + '000')[:3]}"


@dataclass
class LiveSubscription:
    """A Subscription ready to match: stored form, compiled plan, rendering options."""

    tenant: str
    doc: JsonObject
    context: Any  # the @context reference notifications are compacted with
    context_url: str  # a URL naming it (Link header of application/json notifications)
    order: int = 0
    plan: MatchPlan = field(init=False)
    view: NotificationView = field(init=False)
    endpoint: Endpoint = field(init=False)
    compiled: CompiledContext | None = None  # resolved lazily, then kept
    last_notified: float | None = None  # monotonic seconds, for throttling
    next_due: float | None = None  # monotonic seconds, for timeInterval
    created_ms: str = field(init=False)  # createdAt to the millisecond, "…T14:50:00.123"
    owner: Principal | None = field(init=False)  # as recorded at creation (None: none)

    def __post_init__(self) -> None:
        self.created_ms = to_millis(str(self.doc.get("createdAt", "")))
        self.owner = owner_principal(self.doc)
        self.plan = compile_plan(self.doc)
        self.view = notification_view(self.doc)
        self.endpoint = endpoint_of(self.doc)

    @property
    def key(self) -> Key:
        return (self.tenant, self.doc["id"])

    @property
    def periodic(self) -> bool:
        return self.plan.time_interval is not None


class SubscriptionIndex:
    """Live Subscriptions by key, plus the matching buckets (see module docstring)."""

    def __init__(self) -> None:
        self._live: dict[Key, LiveSubscription] = {}
        self._by_type: dict[tuple[str, str], dict[str, set[Key]]] = {}
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def get(self, key: Key) -> LiveSubscription | None:
        return self._live.get(key)

    def all(self) -> list[LiveSubscription]:
        return list(self._live.values())

    def put(self, live: LiveSubscription) -> None:
        """Add or replace (an update keeps the Subscription's place and throttling)."""
        old = self._live.get(live.key)
        if old is not None:
            self.remove(live.key)
            live.order, live.last_notified = old.order, old.last_notified
        else:
            live.order = next(self._order)
        self._live[live.key] = live
        for bucket, attribute in self._buckets(live):
            bucket.setdefault(attribute, set()).add(live.key)

    def remove(self, key: Key) -> LiveSubscription | None:
        live = self._live.pop(key, None)
        if live is not None:
            for bucket, attribute in self._buckets(live):
                bucket.get(attribute, set()).discard(key)
        return live

    def _buckets(self, live: LiveSubscription) -> Iterable[tuple[dict[str, set[Key]], str]]:
        if live.periodic:
            return []
        watched = sorted(live.plan.watched) if live.plan.watched else [ANY_ATTRIBUTE]
        if not live.plan.selectors:
            return [(self._attribute_bucket(live.tenant), a) for a in watched]
        names = set().union(*(s.type_names for s in live.plan.selectors))
        return [(self._by_type.setdefault((live.tenant, name), {}), attribute)
                for name in sorted(names) for attribute in watched]

    def _attribute_bucket(self, tenant: str) -> dict[str, set[Key]]:
        # One dict per tenant keyed by attribute, shaped like the type buckets.
        return self._by_type.setdefault((tenant, ""), {})

    def candidates(self, tenant: str, types: Iterable[str],
                   attributes: Iterable[str]) -> list[LiveSubscription]:
        """Subscriptions that may match a change to an entity of `types` touching
        `attributes`, in creation order."""
        keys: set[Key] = set()
        wanted = [ANY_ATTRIBUTE, *attributes]
        for name in (*types, ""):
            bucket = self._by_type.get((tenant, name))
            if bucket:
                for attribute in wanted:
                    keys |= bucket.get(attribute, set())
        found = [self._live[k] for k in keys]
        found.sort(key=lambda live: live.order)
        return found
