"""The entity service: NGSI-LD entity operations over a store (ETSI GS CIM 009 §5.6, §5.7).

Handlers parse requests into the internal form and call this service; the service turns
each operation into pure mutators, lets the store apply them atomically, and publishes
one event per changed entity.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cityos.broker.events import EntityEvent, EventBus, EventKind
from cityos.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    NgsiLdError,
    NonexistentTenant,
    ResourceNotFound,
)
from cityos.ngsild.model import changes
from cityos.ngsild.model.attributes import NULL_MARKER
from cityos.ngsild.model.expiry import without_expired
from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.query import evaluate_types
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, EntityStore, MutationResult, Mutator, QueryPage

if TYPE_CHECKING:
    from cityos.security.policy import Authorizer


@dataclass
class BatchResult:
    """§5.2.16 BatchOperationResult."""

    success: list[str] = field(default_factory=list)
    errors: list[tuple[str, NgsiLdError]] = field(default_factory=list)


@dataclass(frozen=True)
class EntityMembers:
    """Entity-level members an attribute operation may also carry: types are always added
    (§4.16); scope is replaced, or joined when `join_scope` (append with noOverwrite)."""

    types: list[str] | None = None
    scope: list[str] | None = None
    join_scope: bool = False
    expires_at: str | None = None  # V1.9.1 §4.22: set (or moved) by any update

    @classmethod
    def of(cls, entity: JsonObject) -> EntityMembers:
        """The members a batch entry carries."""
        return cls(entity.get("type"), entity.get("scope"),
                   expires_at=entity.get("expiresAt"))

    def apply(self, entity: JsonObject) -> None:
        if self.types:
            entity["type"] = list(dict.fromkeys([*entity["type"], *self.types]))
        if self.scope is not None:
            old = entity.get("scope", []) if self.join_scope else []
            entity["scope"] = list(dict.fromkeys([*old, *self.scope]))
        if self.expires_at == NULL_MARKER:  # §4.6.5: an NGSI-LD Null removes the expiry
            entity.pop("expiresAt", None)
        elif self.expires_at is not None:
            entity["expiresAt"] = self.expires_at


NO_MEMBERS = EntityMembers()


def _require(entity: JsonObject | None, entity_id: str, gate: Any = None) -> JsonObject:
    """The stored entity, which must exist and, given a type selector (§4.17, the `type`
    parameter of single-entity operations), match it."""
    if entity is None or (gate is not None and not evaluate_types(gate, entity["type"])):
        raise ResourceNotFound(f"entity {entity_id} does not exist")
    return entity


class EntityService:
    """Entity operations. The service the platform holds acts with full rights; handlers
    act through `for_caller(authorizer)`, a view that applies the caller's grants to every
    read (what it may see, down to attributes) and every write (checked inside the
    store's transaction, on the entity as it stands)."""

    authz: Authorizer | None = None

    def __init__(self, store: EntityStore, bus: EventBus) -> None:
        self.store = store
        self.bus = bus

    def for_caller(self, authz: Authorizer) -> EntityService:
        """This service limited to what `authz` allows (itself when unrestricted)."""
        if authz.unrestricted:
            return self
        bound = copy.copy(self)
        bound.authz = authz
        return bound

    # -- reads -------------------------------------------------------------------------
    async def require_tenant(self, tenant: str) -> None:
        """§4.14: reading from a tenant that was never written to is NonexistentTenant."""
        if tenant and not await self.store.tenant_exists(tenant):
            raise NonexistentTenant(f"tenant {tenant!r} does not exist")

    async def retrieve(self, tenant: str, entity_id: str, gate: Any = None) -> JsonObject:
        if self.authz is not None:
            self.authz.require_any("read")
        await self.require_tenant(tenant)
        entity = _require(_live(await self.store.get_entity(tenant, entity_id)), entity_id, gate)
        if self.authz is None:
            return entity
        shown = self.authz.readable(entity)
        if shown is None:  # never reveal that an entity one may not read exists
            raise ResourceNotFound(f"entity {entity_id} does not exist")
        return shown

    async def query(self, tenant: str, query: EntityQuery) -> QueryPage:
        """Expired entities and instances (V1.9.1 §4.22) are hidden from the moment they
        expire; the sweeper removes them from storage (and from counts) shortly after."""
        if self.authz is not None:
            from cityos.security.scoping import scoped_query
            query = scoped_query(self.authz, query)
        await self.require_tenant(tenant)
        page = await self.store.query_entities(tenant, query)
        now = datetime.now(UTC)
        page.entities = [live for entity in page.entities
                         if (live := without_expired(entity, now)) is not None]
        if self.authz is not None:
            page.entities = [shown for entity in page.entities
                             if (shown := self.authz.readable(entity)) is not None]
        return page

    async def sweep_expired(self, limit: int = 500) -> int:
        """Delete expired entities and expired attribute instances from storage, through
        the ordinary write path (so deletions reach events, subscriptions and history).
        Returns how many entities were touched."""
        due = await self.store.expiring_entities(datetime.now(UTC), limit)
        by_tenant: dict[str, list[str]] = {}
        for tenant, entity_id in due:
            by_tenant.setdefault(tenant, []).append(entity_id)
        for tenant, entity_ids in by_tenant.items():
            await self._run(tenant, [(i, _sweep) for i in entity_ids], "updated")
        return len(due)

    # -- single-entity writes ----------------------------------------------------------
    async def _one(self, tenant: str, entity_id: str, mutator: Mutator,
                   kind: EventKind) -> MutationResult:
        [result] = await self._run(tenant, [(entity_id, mutator)], kind)
        if result.error is not None:
            raise result.error
        return result

    async def _run(self, tenant: str, mutations: Sequence[tuple[str, Mutator]],
                   kind: EventKind) -> list[MutationResult]:
        if self.authz is not None:
            self.authz.require_any("write")
            mutations = [(i, _guarded(self.authz, m)) for i, m in mutations]
        # Every operation sees the entity as it stands now: what has expired is absent.
        results = await self.store.apply(tenant, [(entity_id, _on_live(mutator))
                                                  for entity_id, mutator in mutations])
        events = [EntityEvent(_event_kind(kind, r), tenant, r.entity_id, r.before, r.after)
                  for r in results if r.ok and r.before != r.after]
        await self.bus.publish(events)
        return results

    async def create(self, tenant: str, entity: JsonObject) -> None:
        await self._one(tenant, entity["id"], _create_mutator(entity, now_timestamp()),
                        "created")

    async def replace(self, tenant: str, entity: JsonObject) -> None:
        now = now_timestamp()

        def mutate(old: JsonObject | None) -> JsonObject:
            return changes.replace_entity(_require(old, entity["id"]), entity, now)

        await self._one(tenant, entity["id"], mutate, "replaced")

    async def merge(self, tenant: str, entity_id: str, fragment: JsonObject,
                    members: EntityMembers = NO_MEMBERS, gate: Any = None) -> None:
        now = now_timestamp()

        def mutate(old: JsonObject | None) -> JsonObject:
            merged = changes.merge_entity(_require(old, entity_id, gate), fragment, now)
            members.apply(merged)
            return merged

        await self._one(tenant, entity_id, mutate, "updated")

    async def append(self, tenant: str, entity_id: str, fragment: JsonObject, *,
                     overwrite: bool, members: EntityMembers = NO_MEMBERS,
                     gate: Any = None) -> changes.AttributeReport:
        now = now_timestamp()
        reports: list[changes.AttributeReport] = []

        def mutate(old: JsonObject | None) -> JsonObject:
            new, report = changes.append_attributes(_require(old, entity_id, gate), fragment,
                                                    now, overwrite=overwrite)
            members.apply(new)
            reports.append(report)
            return new

        await self._one(tenant, entity_id, mutate, "updated")
        return reports[-1]

    async def update_attributes(self, tenant: str, entity_id: str, fragment: JsonObject,
                                members: EntityMembers = NO_MEMBERS,
                                gate: Any = None) -> changes.AttributeReport:
        """§5.6.2: attributes are written (instances matched by datasetId, new ones added);
        a scope is only replaced where the entity already has one."""
        now = now_timestamp()
        reports: list[changes.AttributeReport] = []

        def mutate(old: JsonObject | None) -> JsonObject:
            current = _require(old, entity_id, gate)
            new, report = changes.append_attributes(current, fragment, now, overwrite=True)
            if members.scope is not None and "scope" not in current:
                report.not_updated.append(("scope", "the entity has no scope to update"))
                EntityMembers(members.types, expires_at=members.expires_at).apply(new)
            else:
                members.apply(new)
            reports.append(report)
            return new

        await self._one(tenant, entity_id, mutate, "updated")
        return reports[-1]

    async def partial_update(self, tenant: str, entity_id: str, attribute: str,
                             patch: JsonObject, gate: Any = None) -> None:
        now = now_timestamp()
        await self._one(tenant, entity_id, lambda old: changes.partial_update_attribute(
            _require(old, entity_id, gate), attribute, patch, now), "updated")

    async def replace_attribute(self, tenant: str, entity_id: str, attribute: str,
                                instances: list[JsonObject], gate: Any = None) -> None:
        now = now_timestamp()
        await self._one(tenant, entity_id, lambda old: changes.replace_attribute(
            _require(old, entity_id, gate), attribute, instances, now), "updated")

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool,
                               gate: Any = None) -> None:
        now = now_timestamp()
        await self.require_tenant(tenant)
        await self._one(tenant, entity_id, lambda old: changes.delete_attribute(
            _require(old, entity_id, gate), attribute, dataset_id, delete_all, now),
            "updated")

    async def delete_scope(self, tenant: str, entity_id: str, gate: Any = None) -> None:
        now = now_timestamp()
        await self.require_tenant(tenant)
        await self._one(tenant, entity_id, lambda old: changes.delete_scope(
            _require(old, entity_id, gate), now), "updated")

    async def delete(self, tenant: str, entity_id: str, gate: Any = None) -> None:
        await self.require_tenant(tenant)

        def mutate(old: JsonObject | None) -> None:
            _require(old, entity_id, gate)

        await self._one(tenant, entity_id, mutate, "deleted")

    # -- batch operations (§5.6.7–§5.6.10, §5.6.20) ------------------------------------
    async def batch(self, tenant: str, mutations: Sequence[tuple[str, Mutator]],
                    kind: EventKind) -> BatchResult:
        outcome = BatchResult()
        for result in await self._run(tenant, mutations, kind):
            if result.error is None:
                outcome.success.append(result.entity_id)
            else:
                outcome.errors.append((result.entity_id, result.error))
        return outcome

    async def batch_create(self, tenant: str, entities: list[JsonObject]) -> BatchResult:
        now = now_timestamp()
        return await self.batch(tenant, [(e["id"], _create_mutator(e, now)) for e in entities],
                                "created")

    async def batch_upsert(self, tenant: str, entities: list[JsonObject], *,
                           replace: bool) -> tuple[BatchResult, list[str]]:
        """Returns the outcome and the ids that were newly created (for 201 vs 204)."""
        now = now_timestamp()
        created: list[str] = []

        def upsert(entity: JsonObject) -> Mutator:
            def mutate(old: JsonObject | None) -> JsonObject:
                if old is None:
                    created.append(entity["id"])
                    return changes.stamp_new_entity(dict(entity), now)
                if replace:
                    return changes.replace_entity(old, dict(entity), now)
                new, _ = changes.append_attributes(old, entity["attrs"], now, overwrite=True)
                EntityMembers.of(entity).apply(new)
                return new
            return mutate

        outcome = await self.batch(tenant, [(e["id"], upsert(e)) for e in entities], "updated")
        return outcome, list(dict.fromkeys(created))  # a retried job may report twice

    async def batch_update(self, tenant: str, entities: list[JsonObject], *,
                           overwrite: bool) -> BatchResult:
        """§5.6.9: attributes that could not be written (noOverwrite) make that entity an
        error of the result; the attributes that were written stay written."""
        now = now_timestamp()
        skipped: dict[str, list[str]] = {}

        def update(entity: JsonObject) -> Mutator:
            def mutate(old: JsonObject | None) -> JsonObject:
                new, report = changes.append_attributes(
                    _require(old, entity["id"]), entity["attrs"], now, overwrite=overwrite)
                EntityMembers.of(entity).apply(new)
                skipped[entity["id"]] = [name for name, _ in report.not_updated]
                return new
            return mutate

        outcome = await self.batch(tenant, [(e["id"], update(e)) for e in entities], "updated")
        for entity_id in [i for i in outcome.success if skipped.get(i)]:
            outcome.success.remove(entity_id)
            outcome.errors.append((entity_id, BadRequestData(
                "attributes not overwritten (noOverwrite): " + ", ".join(skipped[entity_id]))))
        return outcome

    async def batch_merge(self, tenant: str, entities: list[JsonObject]) -> BatchResult:
        now = now_timestamp()

        def merge(entity: JsonObject) -> Mutator:
            def mutate(old: JsonObject | None) -> JsonObject:
                merged = changes.merge_entity(_require(old, entity["id"]), entity["attrs"], now)
                EntityMembers.of(entity).apply(merged)
                return merged
            return mutate

        return await self.batch(tenant, [(e["id"], merge(e)) for e in entities], "updated")

    async def batch_delete(self, tenant: str, entity_ids: list[str]) -> BatchResult:
        def delete(entity_id: str) -> Mutator:
            def mutate(old: JsonObject | None) -> None:
                _require(old, entity_id)
            return mutate

        return await self.batch(tenant, [(i, delete(i)) for i in entity_ids], "deleted")


    async def purge(self, tenant: str, entity_ids: list[str], *,
                    keep: frozenset[str] | None = None,
                    drop: frozenset[str] | None = None) -> BatchResult:
        """V1.9 §5.6.21: delete the entities, or only the `drop` attributes, or all but the
        `keep` attributes."""
        now = now_timestamp()

        def purge_one(entity_id: str) -> Mutator:
            def mutate(old: JsonObject | None) -> JsonObject | None:
                if old is None or (keep is None and drop is None):
                    return None
                kept = {name: instances for name, instances in old["attrs"].items()
                        if (keep is not None and name in keep)
                        or (drop is not None and name not in drop)}
                if kept != old["attrs"]:
                    old = {**old, "attrs": kept, "modifiedAt": now}
                return old
            return mutate

        kind: EventKind = "deleted" if keep is None and drop is None else "updated"
        return await self.batch(tenant, [(i, purge_one(i)) for i in entity_ids], kind)


def _live(entity: JsonObject | None) -> JsonObject | None:
    return None if entity is None else without_expired(entity, datetime.now(UTC))


def _on_live(mutator: Mutator) -> Mutator:
    return lambda old: mutator(_live(old))


def _guarded(authz: Authorizer, mutator: Mutator) -> Mutator:
    """The mutation, allowed only if the caller may write the entity as it is, as it
    becomes, and every attribute it changes. An entity it may not even read is reported
    as absent."""
    def mutate(old: JsonObject | None) -> JsonObject | None:
        if old is not None and not authz.may("write", old["id"], old["type"]):
            if authz.readable(old) is None:
                raise ResourceNotFound(f"entity {old['id']} does not exist")
            raise authz.denied("write", f"entity {old['id']}")
        new = mutator(old)
        authz.check_write(old, new)
        return new
    return mutate


def _sweep(live: JsonObject | None) -> JsonObject | None:
    # `_on_live` already removed what has expired; writing the result back (or deleting
    # the entity when it came back None) is the whole sweep.
    return live


def _create_mutator(entity: JsonObject, now: str) -> Mutator:
    def mutate(old: JsonObject | None) -> JsonObject:
        if old is not None:
            raise AlreadyExists(f"entity {entity['id']} already exists")
        return changes.stamp_new_entity(dict(entity), now)
    return mutate


def _event_kind(kind: EventKind, result: MutationResult) -> EventKind:
    if result.after is None:
        return "deleted"
    if result.before is None:
        return "created"
    return kind

