"""The storage contract every backend implements (SQLite embedded, PostgreSQL in production).

Backends hold entities in the internal form (see cityos.ngsild.model) and answer queries
compiled from the q / type / scopeQ / geo ASTs to parameterised SQL. Read-modify-write is
done by the backend inside one transaction: the broker hands over a pure `Mutator` per
entity, so concurrent writers never lose an update.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.types import JsonObject

# Given the stored entity (None if absent), return the entity to store, or None to delete.
# Raising NgsiLdError rejects the change for this entity only.
Mutator = Callable[[JsonObject | None], JsonObject | None]


@dataclass(frozen=True)
class EntityQuery:
    """A compiled-ready entity query (ETSI GS CIM 009 §5.7.2). ASTs come from ngsild.query
    and ngsild.geo; `attrs` keeps entities having at least one of these attribute IRIs."""

    ids: tuple[str, ...] = ()
    id_pattern: str | None = None
    types: Any = None
    q: Any = None
    scope_q: Any = None
    geo: Any = None
    attrs: frozenset[str] | None = None
    limit: int = 20
    offset: int = 0
    count: bool = False
    # V1.9 clause 4.23 ordering (cityos.ngsild.query.Ordering); None: insertion order
    # (geo-queries with `near`: by distance).
    order_by: Any = None


@dataclass
class QueryPage:
    entities: list[JsonObject]
    total: int | None = None


@dataclass
class MutationResult:
    entity_id: str
    before: JsonObject | None
    after: JsonObject | None
    error: NgsiLdError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class TypeSummary:
    """One entity type of a tenant: how many entities, which attributes of which kinds."""

    type_iri: str
    entity_count: int
    attributes: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class AttributeSummary:
    attribute_iri: str
    count: int
    kinds: set[str] = field(default_factory=set)
    types: set[str] = field(default_factory=set)


class EntityStore(Protocol):
    """The storage contract; `tests/storage/test_contract.py` runs against every backend."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def tenant_exists(self, tenant: str) -> bool: ...

    async def tenants(self) -> list[str]: ...

    async def get_entity(self, tenant: str, entity_id: str) -> JsonObject | None: ...

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryPage: ...

    async def apply(self, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]]) -> list[MutationResult]: ...

    async def expiring_entities(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        """(tenant, entity id) of up to `limit` entities in which something (the entity, an
        attribute instance, a sub-attribute) has an expiresAt at or before `now`
        (V1.9.1 §4.22), earliest first."""
        ...

    async def type_summaries(self, tenant: str) -> list[TypeSummary]: ...

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]: ...


class ContextRecords(Protocol):
    """Durable storage for the /jsonldContexts store: opaque JSON records by local id."""

    async def put_context_record(self, local_id: str, tenant: str,
                                 record: JsonObject) -> None: ...

    async def delete_context_record(self, local_id: str) -> None: ...

    async def context_records(self) -> list[JsonObject]: ...
