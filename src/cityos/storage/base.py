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


@dataclass
class SubscriptionRecord:
    """A stored Subscription (ETSI GS CIM 009 §5.2.12): its context-free document, the
    @context its notifications are compacted with, and the delivery counters (§5.2.14
    status members), which are kept apart so that updating them is cheap."""

    tenant: str
    doc: JsonObject
    context: Any = None
    times_sent: int = 0
    times_failed: int = 0
    consecutive_errors: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_status: str | None = None

    @property
    def id(self) -> str:
        subscription_id: str = self.doc["id"]
        return subscription_id


@dataclass(frozen=True)
class DeliveryTally:
    """Several consecutive delivery outcomes of one Subscription folded into one update of
    its counters: `sent` attempts of which `failed` failed; `trailing_failures` failed
    after the last success among them (all of them when none succeeded: the stored
    consecutiveErrors then grows by that many, otherwise it restarts from it); the last
    times and the status of the last attempt ("ok" or "failed")."""

    tenant: str
    subscription_id: str
    sent: int
    failed: int
    trailing_failures: int
    any_success: bool
    last_notification: str
    last_success: str | None
    last_failure: str | None
    last_status: str


class SubscriptionStore(Protocol):
    """Durable Subscriptions, per tenant, in creation order."""

    async def insert_subscription(self, record: SubscriptionRecord) -> bool:
        """False when the tenant already has a Subscription with this id."""
        ...

    async def replace_subscription(self, record: SubscriptionRecord) -> bool:
        """Store a new document and @context (counters untouched); False if absent."""
        ...

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool: ...

    async def get_subscription(self, tenant: str,
                               subscription_id: str) -> SubscriptionRecord | None: ...

    async def query_subscriptions(self, tenant: str, limit: int,
                                  offset: int) -> tuple[list[SubscriptionRecord], int]:
        """One page in creation order, and how many the tenant has."""
        ...

    async def all_subscriptions(self) -> list[SubscriptionRecord]: ...

    async def record_deliveries(self, tallies: Sequence[DeliveryTally]) -> None:
        """Count delivery outcomes, in one transaction (one small UPDATE per tally; the
        Subscription document is not rewritten). Unknown Subscriptions are ignored."""
        ...


@dataclass(frozen=True)
class TemporalSelection:
    """Which instances a temporal read selects (ETSI GS CIM 009 §4.11, §5.7.3): instants
    of `timeproperty` in [lower, upper) (None: unbounded), attributes (IRIs, None: all),
    datasetIds ("@none": the default instance), newest first when `descending`, and at
    most `per_attribute` instances per attribute."""

    timeproperty: str = "observedAt"
    lower: int | None = None
    upper: int | None = None
    attrs: frozenset[str] | None = None
    dataset_ids: frozenset[str] | None = None
    descending: bool = False
    per_attribute: int | None = None


@dataclass(frozen=True)
class AggregateRequest:
    """§4.5.19: methods over periods of `period` µs (None: one period) starting at
    `origin` (None: the first selected instant)."""

    selection: TemporalSelection
    methods: tuple[str, ...]
    period: int | None
    origin: int | None


@dataclass
class TemporalEntityRecord:
    """Selected instances of one entity by attribute IRI; `truncated` names attributes
    that had more instances than `per_attribute`."""

    attrs: dict[str, list[JsonObject]] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class TemporalEntityHead:
    entity_id: str
    types: list[str]
    created: int
    modified: int


@dataclass(frozen=True)
class TemporalWrite:
    """What a temporal API write did: whether it found (or, for an append, created) what
    it addresses, and the change of the current entity it made in the same transaction
    (None when it made none), for entity events."""

    found: bool
    created: bool = False
    change: MutationResult | None = None


# Given the instance a modify/delete touched (as it was) and its series' latest instance
# after the change (None when none is left): the mutator of the current entity, if any.
SeriesFollower = Callable[[JsonObject, JsonObject | None], Mutator | None]


class TemporalStore(Protocol):
    """The temporal history (Temporal Evolution of entities, §5.6.11–§5.6.18, §5.7.3,
    §5.7.4). `records` are cityos.ngsild.temporal.diff.HistoryRecord values; a `mutator`
    given with a write changes the current entity in the same transaction, seen by every
    other write observer (the change journal) but not recorded again in the history."""

    async def head(self, tenant: str, entity_id: str) -> TemporalEntityHead | None: ...

    async def append(self, tenant: str, entity_id: str, types: list[str],
                     records: Sequence[Any], mutator: Mutator | None) -> TemporalWrite:
        """Append instances; `created` when the temporal entity was created by this call."""
        ...

    async def delete_entity(self, tenant: str, entity_id: str,
                            mutator: Mutator | None) -> TemporalWrite: ...

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool,
                               mutator: Mutator | None = None) -> TemporalWrite:
        """`found` when at least one instance was deleted; the mutator runs only then."""
        ...

    async def update_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str, change: Callable[[JsonObject], JsonObject],
                              follow: SeriesFollower | None = None) -> TemporalWrite: ...

    async def delete_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str,
                              follow: SeriesFollower | None = None) -> TemporalWrite: ...

    async def candidates(self, tenant: str, ids: tuple[str, ...],
                         selection: TemporalSelection,
                         require_data: bool) -> list[TemporalEntityHead]: ...

    async def instances(self, tenant: str, entity_ids: Sequence[str],
                        selection: TemporalSelection) -> dict[str, TemporalEntityRecord]: ...

    async def aggregate(self, tenant: str, entity_ids: Sequence[str],
                        request: AggregateRequest) -> dict[str, dict[str, list[Any]]]: ...

    async def purge_before(self, tenant: str | None, types: frozenset[str] | None,
                           excluded_types: frozenset[str], cutoff: int,
                           batch: int) -> int:
        """Delete up to `batch` instances recorded before `cutoff` (µs) of entities of
        `types` (None: any type not in `excluded_types`); returns how many."""
        ...
