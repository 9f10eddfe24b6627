"""Write jobs run on the writer thread: read-modify-write of entities in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model.expiry import next_expiry
from cityos.ngsild.model.index_terms import geo_attributes
from cityos.ngsild.types import JsonObject
from cityos.storage.base import MutationResult, Mutator
from cityos.storage.sqlite.entity_writes import BatchObserver, Change, EntityWrites
from cityos.storage.sqlite.geo_sql import delete_entity_geo
from cityos.storage.sqlite.value_index import reindex_values
from cityos.storage.sqlite.writer import JoinableJob

_SELECT = "SELECT pk, doc FROM entities WHERE tenant = ? AND id = ?"
_SELECT_MANY = ("SELECT id, pk, doc FROM entities WHERE tenant = ? "
                "AND id IN (SELECT value FROM json_each(?))")
_DELETE = "DELETE FROM entities WHERE pk = ?"
_DELETE_TYPES = "DELETE FROM entity_types WHERE pk = ?"
_INSERT_TENANT = "INSERT OR IGNORE INTO tenants (name) VALUES (?)"

# Called inside the write transaction after each entity change that was written
# (conn, tenant, entity id, before, after; after is None for a deletion). Whatever an
# observer writes (temporal history, the change journal) commits or rolls back together
# with the entity itself.
WriteObserver = Callable[[sqlite3.Connection, str, str, JsonObject | None,
                          JsonObject | None], None]


JOIN_LIMIT = 1000  # mutations that jobs run together may hold in all


class MutationJob(JoinableJob):
    """A write job applying mutations to one tenant's entities. Jobs of one tenant and the
    same observers that wait together are run as one (`run_together`): a group commit of
    32 single-entity PATCHes then reads, writes and records history with a few statements
    per table instead of a few per PATCH. Each job still gets its own results, and a
    group that fails as a whole is run again job by job (writer.WriterThread)."""

    __slots__ = ("mutations", "observers", "tenant")

    def __init__(self, tenant: str, mutations: Sequence[tuple[str, Mutator]],
                 observers: Sequence[WriteObserver]) -> None:
        self.tenant = tenant
        self.mutations = mutations
        self.observers = observers

    def __call__(self, conn: sqlite3.Connection) -> list[MutationResult]:
        return apply_mutations(conn, self.tenant, self.mutations, self.observers)

    def joins(self, run: list[Any], other: object) -> bool:
        """Can `other` run in the same apply_mutations call as this job and the run so
        far? Same tenant and observers, and at most JOIN_LIMIT mutations in all (the rows
        of a call are held in memory until it writes them)."""
        return isinstance(other, MutationJob) and other.tenant == self.tenant \
            and other.observers is self.observers \
            and sum(len(job.mutations) for job in run) + len(other.mutations) <= JOIN_LIMIT

    def run_together(self, conn: sqlite3.Connection,
                     jobs: list[Any]) -> list[Any]:
        """One apply_mutations for all the jobs (in order: an entity changed by two jobs
        is read again between them); the results split back per job."""
        combined = [m for job in jobs for m in job.mutations]
        results = apply_mutations(conn, self.tenant, combined, self.observers)
        split, start = [], 0
        for job in jobs:
            split.append(results[start:start + len(job.mutations)])
            start += len(job.mutations)
        return split


def apply_mutations(conn: sqlite3.Connection, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]],
                    observers: Sequence[WriteObserver] = ()) -> list[MutationResult]:
    """Run every mutator against the stored entity; each entity succeeds or fails alone.
    The rows of the whole job are written per table (entity_writes.EntityWrites)."""
    conn.execute(_INSERT_TENANT, (tenant,))
    writes = EntityWrites(conn, tenant, lambda changes: _notify(conn, tenant, observers,
                                                                 changes))
    stored = _stored_rows(conn, tenant, [entity_id for entity_id, _ in mutations])
    results = []
    seen: set[str] = set()
    for entity_id, mutator in mutations:
        writes.touch(entity_id)
        row = _select_row(conn, tenant, entity_id) if entity_id in seen \
            else stored.get(entity_id)
        seen.add(entity_id)
        # Mutators are pure and run before anything is written for their entity, so a
        # rejected entity leaves nothing to undo: no per-entity SAVEPOINT is needed (and
        # SAVEPOINT/RELEASE around R*Tree writes is costly on large databases).
        try:
            result = _apply_one(conn, writes, entity_id, row, mutator)
        except NgsiLdError as error:
            result = MutationResult(entity_id, None, None, error)
        if result.ok and (result.before is not None or result.after is not None):
            writes.changed((entity_id, result.before, result.after))
        results.append(result)
    writes.flush()
    return results


StoredRow = tuple[int, str]  # pk, doc


def _select_row(conn: sqlite3.Connection, tenant: str, entity_id: str) -> StoredRow | None:
    row = conn.execute(_SELECT, (tenant, entity_id)).fetchone()
    return (row[0], row[1]) if row else None


def _stored_rows(conn: sqlite3.Connection, tenant: str,
                 entity_ids: list[str]) -> dict[str, StoredRow]:
    """The stored rows of the job's entities, read in one statement."""
    if len(entity_ids) == 1:
        row = _select_row(conn, tenant, entity_ids[0])
        return {entity_ids[0]: row} if row else {}
    return {entity_id: (pk, doc) for entity_id, pk, doc in conn.execute(
        _SELECT_MANY, (tenant, orjson.dumps(entity_ids).decode()))}


def _notify(conn: sqlite3.Connection, tenant: str, observers: Sequence[WriteObserver],
            changes: Sequence[Change]) -> None:
    """Hand the written changes to the observers: all at once to those that take a batch
    (`observe_batch`), one by one to the others."""
    for observer in observers:
        batch: BatchObserver | None = getattr(observer, "observe_batch", None)
        if batch is not None:
            batch(conn, tenant, changes)
            continue
        for entity_id, before, after in changes:
            observer(conn, tenant, entity_id, before, after)


def _apply_one(conn: sqlite3.Connection, writes: EntityWrites, entity_id: str,
               row: StoredRow | None, mutator: Mutator) -> MutationResult:
    before: JsonObject | None = orjson.loads(row[1]) if row else None
    after = mutator(before)
    if after is None:
        if row is not None:
            _delete(conn, row[0])
        return MutationResult(entity_id, before, None)
    pk = writes.new_pk() if row is None else row[0]
    writes.entity(pk, entity_id, before, after, new=row is None)
    if before is None or before["type"] != after["type"]:
        writes.types(pk, after["type"], had_rows=row is not None)
    old_geo, new_geo = geo_attributes(before), geo_attributes(after)
    if old_geo != new_geo:
        writes.geo(pk, new_geo, had_rows=bool(old_geo))
    _index_expiry(conn, pk, before, after)
    if before is None or before["attrs"] != after["attrs"]:
        writes.values(pk, before, after)
    return MutationResult(entity_id, before, after)


def _index_expiry(conn: sqlite3.Connection, pk: int, before: JsonObject | None,
                  after: JsonObject) -> None:
    old, new = next_expiry(before), next_expiry(after)
    if old == new:
        return
    if new is None:
        conn.execute("DELETE FROM entity_expiry WHERE pk = ?", (pk,))
    else:
        conn.execute("INSERT OR REPLACE INTO entity_expiry (pk, at) VALUES (?, ?)",
                      (pk, epoch_micros(new)))


def epoch_micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


def _delete(conn: sqlite3.Connection, pk: int) -> None:
    conn.execute(_DELETE, (pk,))
    conn.execute("DELETE FROM entity_expiry WHERE pk = ?", (pk,))
    reindex_values(conn, pk, None, None)
    conn.execute(_DELETE_TYPES, (pk,))
    delete_entity_geo(conn, pk)
