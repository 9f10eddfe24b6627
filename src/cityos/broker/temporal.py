"""The temporal service: Temporal Evolution of entities (ETSI GS CIM 009 §5.6.11–§5.6.18,
§5.7.3, §5.7.4).

Choice (documented in docs/api.md): temporal API writes keep the current entity in step
with the history, as Stellio does — the current value of each attribute instance series
is its most recently observed instance unless the current entity holds a later
observation (rules: cityos.ngsild.temporal.current). The instances themselves are
recorded once, exactly as sent; one sent for a series (attribute + datasetId) at an
observedAt the series already holds replaces the stored instance.
Every change a temporal write makes to the current entity reaches the change journal (in
its transaction) and the event bus, as a core API write does, so subscriptions notify.
Deleting a Temporal Evolution deletes the current entity too; deleting an entity through
the core API keeps its history (recorded with deletedAt).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from cityos.broker.events import EntityEvent, EventBus, EventKind
from cityos.broker.temporal_filter import (
    TemporalFilter,
    descending_ids,
    head_matches,
    satisfies,
    valid_scopes,
    while_valid,
)
from cityos.ngsild.errors import BadRequestData, NonexistentTenant, ResourceNotFound
from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.temporal import current
from cityos.ngsild.temporal.body import SCOPE_HISTORY
from cityos.ngsild.temporal.diff import SCOPE_IRI, HistoryRecord
from cityos.ngsild.temporal.paging import TemporalRange, cut_instances
from cityos.ngsild.temporal.params import TemporalQuery
from cityos.ngsild.temporal.render import AggregatedSeries
from cityos.ngsild.temporal.scope_validity import ValidScope
from cityos.ngsild.types import JsonObject

if TYPE_CHECKING:
    from cityos.security.policy import Authorizer
from cityos.storage.base import (
    AggregateRequest,
    EntityQuery,
    EntityStore,
    Mutator,
    SeriesFollower,
    TemporalSelection,
    TemporalStore,
    TemporalWrite,
)


@dataclass
class TemporalPage:
    """Temporal entities (render input), the §6.3.10 range when instances were cut, and
    the §6.3.13 count of matching entities when asked."""

    entities: list[JsonObject]
    range: TemporalRange | None = None
    total: int | None = None
    more: bool = False


def _records(entity: JsonObject, now: str) -> list[HistoryRecord]:
    """The instances sent, stamped; a Scope sent in its temporal representation keeps
    the observedAt of each instance (the time it became valid, §4.18), a plain one is
    valid from now."""
    records = [HistoryRecord(iri, {**instance, "createdAt": now, "modifiedAt": now})
               for iri, instances in entity["attrs"].items() for instance in instances]
    if SCOPE_HISTORY in entity:
        records.extend(HistoryRecord(SCOPE_IRI, {"observedAt": now, **instance,
                                                 "createdAt": now, "modifiedAt": now})
                       for instance in entity[SCOPE_HISTORY])
    elif "scope" in entity:
        records.append(HistoryRecord(SCOPE_IRI, {"type": "Property", "value": entity["scope"],
                                                 "observedAt": now, "createdAt": now,
                                                 "modifiedAt": now}))
    return records


def _follower(attribute: str, now: str) -> SeriesFollower:
    """§5.6.14 / §5.6.15: the current entity follows the touched instance's series."""
    def follow(touched: JsonObject, latest: JsonObject | None) -> Mutator:
        return current.series_mutator(attribute, touched, latest, now)
    return follow


class TemporalService:
    """Temporal operations; `for_caller` gives the view limited to a caller's grants
    (as EntityService.for_caller)."""

    authz: Authorizer | None = None

    def __init__(self, entities: EntityStore, history: TemporalStore,
                 instance_limit: int, bus: EventBus | None = None) -> None:
        self.entities = entities
        self.history = history
        self.instance_limit = instance_limit
        self.bus = bus  # entity events of the current entity's changes

    async def _published(self, tenant: str, write: TemporalWrite,
                         kind: EventKind = "updated") -> TemporalWrite:
        """Publish the current entity's change a write made (after its commit)."""
        change = write.change
        if self.bus is not None and change is not None and change.before != change.after:
            if change.after is None:
                kind = "deleted"
            elif change.before is None:
                kind = "created"
            await self.bus.publish([EntityEvent(kind, tenant, change.entity_id,
                                                change.before, change.after)])
        return write

    def for_caller(self, authz: Authorizer) -> TemporalService:
        if authz.unrestricted:
            return self
        bound = copy.copy(self)
        bound.authz = authz
        return bound

    def _may_write(self, entity_id: str, types: list[str],
                   attrs: JsonObject | None = None) -> None:
        if self.authz is None:
            return
        self.authz.require_any("write")
        if attrs is None and not self.authz.may("write", entity_id, types):
            if not self.authz.may("read", entity_id, types):
                raise ResourceNotFound(f"no temporal evolution of entity {entity_id}")
            raise self.authz.denied("write", f"entity {entity_id}")
        self.authz.check_write(None, {"id": entity_id, "type": types, "attrs": attrs or {}})

    def _shown(self, page: TemporalPage) -> TemporalPage:
        if self.authz is not None:
            page.entities = [shown for entity in page.entities
                             if (shown := self.authz.readable(entity)) is not None]
        return page

    async def _require_tenant(self, tenant: str) -> None:
        if tenant and not await self.entities.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    async def _require(self, tenant: str, entity_id: str) -> list[str]:
        await self._require_tenant(tenant)
        head = await self.history.head(tenant, entity_id)
        if head is None:
            raise ResourceNotFound(f"no temporal evolution of entity {entity_id}")
        return head.types

    # -- writes (§5.6.11–§5.6.18) ------------------------------------------------------
    async def upsert(self, tenant: str, entity: JsonObject) -> bool:
        """§5.6.11: True when the Temporal Evolution was created (201), False (204)."""
        self._may_write(entity["id"], entity["type"], entity["attrs"])
        now = now_timestamp()
        write = await self.history.append(tenant, entity["id"], entity["type"],
                                          _records(entity, now),
                                          current.entity_mutator(entity, now))
        await self._published(tenant, write)
        return write.created

    async def append(self, tenant: str, entity_id: str, attrs: JsonObject) -> None:
        """§5.6.12: add instances to an existing Temporal Evolution."""
        types = await self._require(tenant, entity_id)
        self._may_write(entity_id, types, attrs)
        entity: JsonObject = {"id": entity_id, "type": types, "attrs": attrs}
        now = now_timestamp()
        await self._published(tenant, await self.history.append(
            tenant, entity_id, types, _records(entity, now),
            current.entity_mutator(entity, now)))

    async def delete(self, tenant: str, entity_id: str) -> None:
        """§5.6.16: the Temporal Evolution and the current entity."""
        if self.authz is not None:
            self._may_write(entity_id, await self._require(tenant, entity_id))
        await self._require_tenant(tenant)
        write = await self.history.delete_entity(tenant, entity_id, lambda old: None)
        if not write.found:
            raise ResourceNotFound(f"no temporal evolution of entity {entity_id}")
        await self._published(tenant, write)

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool) -> None:
        """§5.6.13: every instance of the attribute (one datasetId, or all); the series
        leave the current entity too."""
        self._may_write(entity_id, await self._require(tenant, entity_id), {attribute: []})
        mutator = current.removal_mutator(attribute, dataset_id, delete_all, now_timestamp())
        write = await self.history.delete_attribute(tenant, entity_id, attribute,
                                                    dataset_id, delete_all, mutator)
        if not write.found:
            raise ResourceNotFound(f"entity {entity_id} has no history of {attribute}")
        await self._published(tenant, write)

    async def update_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str, patch: JsonObject) -> None:
        """§5.6.14: members of one instance replaced; it keeps its instanceId and its
        series (datasetId)."""
        self._may_write(entity_id, await self._require(tenant, entity_id), {attribute: []})
        now = now_timestamp()

        def change(old: JsonObject) -> JsonObject:
            if patch.get("datasetId", old.get("datasetId")) != old.get("datasetId"):
                raise BadRequestData("an attribute instance cannot change its datasetId")
            new = {**old, **patch, "modifiedAt": now}
            if patch.get("type", old["type"]) != old["type"]:
                new = {**patch, "createdAt": old["createdAt"], "modifiedAt": now}
                if "datasetId" in old:
                    new["datasetId"] = old["datasetId"]
            return new

        write = await self.history.update_instance(tenant, entity_id, attribute, instance_id,
                                                   change, _follower(attribute, now))
        if not write.found:
            raise ResourceNotFound(f"instance {instance_id} of {attribute} does not exist")
        await self._published(tenant, write)

    async def delete_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str) -> None:
        """§5.6.15."""
        self._may_write(entity_id, await self._require(tenant, entity_id), {attribute: []})
        write = await self.history.delete_instance(tenant, entity_id, attribute, instance_id,
                                                   _follower(attribute, now_timestamp()))
        if not write.found:
            raise ResourceNotFound(f"instance {instance_id} of {attribute} does not exist")
        await self._published(tenant, write)

    # -- reads (§5.7.3, §5.7.4) --------------------------------------------------------
    def selection(self, query: TemporalQuery, attrs: frozenset[str] | None,
                  dataset_ids: frozenset[str] | None) -> TemporalSelection:
        cap = self.instance_limit
        if query.last_n is not None:
            cap = min(cap, query.last_n)
        return TemporalSelection(query.timeproperty, query.lower, query.upper, attrs,
                                 dataset_ids, query.descending, cap)

    async def retrieve(self, tenant: str, entity_id: str, query: TemporalQuery,
                       attrs: frozenset[str] | None,
                       dataset_ids: frozenset[str] | None) -> TemporalPage:
        if self.authz is not None:
            self.authz.require_any("read")
        types = await self._require(tenant, entity_id)
        if self.authz is not None and not self.authz.may("read", entity_id, types):
            raise ResourceNotFound(f"no temporal evolution of entity {entity_id}")
        selection = self.selection(query, attrs, dataset_ids)
        page = self._shown(await self._load(tenant, [(entity_id, types)], query, selection))
        empty = not any(e.get("attrs") or e.get("aggregates") for e in page.entities)
        if attrs is not None and empty and not await self.history.candidates(
                tenant, (entity_id,), replace(selection, lower=None, upper=None), True):
            raise ResourceNotFound(f"entity {entity_id} has none of the attributes")
        return page

    async def query(self, tenant: str, flt: TemporalFilter, query: TemporalQuery,
                    dataset_ids: frozenset[str] | None) -> TemporalPage:
        """§5.7.4: entities matching the filter within the window, paged."""
        entity_query = flt.query
        if self.authz is not None:
            from cityos.security.scoping import scoped_query
            entity_query = scoped_query(self.authz, entity_query)
        await self._require_tenant(tenant)
        selection = self.selection(query, entity_query.attrs, dataset_ids)
        windowed = query.timerel is not None or entity_query.attrs is not None
        heads = await self.history.candidates(tenant, entity_query.ids, selection, windowed)
        matching = [(h.entity_id, h.types) for h in heads
                    if head_matches(h.entity_id, h.types, entity_query)]
        scopes: dict[str, list[ValidScope]] | None = None
        if entity_query.q is not None or entity_query.geo is not None \
                or entity_query.scope_q is not None:
            matching, scopes = await self._judge(tenant, matching, entity_query, selection)
        if entity_query.order_by is not None and descending_ids(entity_query.order_by):
            matching.sort(key=lambda pair: pair[0], reverse=True)
        elif entity_query.order_by is not None:
            matching.sort(key=lambda pair: pair[0])
        chosen = matching[entity_query.offset:entity_query.offset + entity_query.limit]
        page = self._shown(await self._load(tenant, chosen, query, selection, scopes))
        page.total = len(matching) if entity_query.count else None
        page.more = entity_query.offset + len(chosen) < len(matching)
        return page

    async def _judge(self, tenant: str, candidates: list[tuple[str, list[str]]],
                     entity_query: EntityQuery, selection: TemporalSelection
                     ) -> tuple[list[tuple[str, list[str]]], dict[str, list[ValidScope]] | None]:
        """5.7.4.4 S2–S4: q and geo against every instance within the window; scopeQ
        against the Scopes valid within it (with them, for each kept entity)."""
        ids = [c[0] for c in candidates]
        window = replace(selection, attrs=None, per_attribute=None, descending=False,
                         dataset_ids=None)
        loaded = await self.history.instances(tenant, ids, window)
        scopes: dict[str, list[ValidScope]] | None = None
        if entity_query.scope_q is not None:
            scopes = {}
            every_scope = await self.history.instances(tenant, ids, replace(
                window, lower=None, upper=None, attrs=frozenset({SCOPE_IRI})))
        kept = []
        for entity_id, types in candidates:
            attrs = loaded[entity_id].attrs if entity_id in loaded else {}
            if not satisfies(entity_id, types, attrs, entity_query):
                continue
            if scopes is not None:
                history = every_scope[entity_id].attrs.get(SCOPE_IRI, []) \
                    if entity_id in every_scope else []
                scopes[entity_id] = valid_scopes(history, entity_query, selection)
                if not scopes[entity_id]:
                    continue
            kept.append((entity_id, types))
        return kept, scopes

    async def _load(self, tenant: str, heads: Sequence[tuple[str, list[str]]],
                    query: TemporalQuery, selection: TemporalSelection,
                    scopes: dict[str, list[ValidScope]] | None = None) -> TemporalPage:
        """The page's instances; with `scopes` (scopeQ), only those of the instants where
        a matching Scope was valid, shown with those Scopes."""
        ids = [h[0] for h in heads]
        if query.aggregation_methods:
            return await self._aggregated(tenant, heads, query, selection)
        records = await self.history.instances(tenant, ids, selection)
        attrs = {i: records[i].attrs if i in records else {} for i in ids}
        if scopes is not None:
            attrs = {i: while_valid(found, scopes.get(i, []), selection.timeproperty)
                     for i, found in attrs.items()}
        truncated = {i: records[i].truncated for i in ids
                     if i in records and records[i].truncated
                     and (query.last_n is None or query.last_n > self.instance_limit)}
        kinds = {i: {name: items[0]["type"] for name, items in found.items() if items}
                 for i, found in attrs.items()}
        window = cut_instances(attrs, truncated, query)
        entities = []
        for entity_id, types in heads:
            found = attrs[entity_id]
            if query.descending:
                found = {name: list(reversed(items)) for name, items in found.items()}
            entities.append({"id": entity_id, "type": types, "attrs": found,
                             "kinds": kinds[entity_id]})
        return TemporalPage(entities, window)

    async def _aggregated(self, tenant: str, heads: Sequence[tuple[str, list[str]]],
                          query: TemporalQuery, selection: TemporalSelection) -> TemporalPage:
        request = AggregateRequest(replace(selection, per_attribute=None, descending=False),
                                   query.aggregation_methods, query.period, query.lower)
        found = await self.history.aggregate(tenant, [h[0] for h in heads], request)
        entities = []
        for entity_id, types in heads:
            aggregates = {iri: [AggregatedSeries(kind, dataset_id, values)
                                for kind, dataset_id, values in series]
                          for iri, series in found.get(entity_id, {}).items()}
            entities.append({"id": entity_id, "type": types, "attrs": {},
                             "aggregates": aggregates})
        return TemporalPage(entities)
