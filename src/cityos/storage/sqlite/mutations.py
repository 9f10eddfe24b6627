"""Write jobs run on the writer thread: read-modify-write of entities in one transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime

import orjson

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model.expiry import next_expiry
from cityos.ngsild.model.index_terms import geo_attributes
from cityos.ngsild.types import JsonObject
from cityos.storage.base import MutationResult, Mutator
from cityos.storage.sqlite.geo_sql import delete_entity_geo, reindex_entity_geo
from cityos.storage.sqlite.value_index import reindex_values

_SELECT = "SELECT pk, doc FROM entities WHERE tenant = ? AND id = ?"
_INSERT = ("INSERT INTO entities (tenant, id, doc, created_at, modified_at) "
           "VALUES (?, ?, ?, ?, ?)")
_UPDATE = "UPDATE entities SET doc = ?, modified_at = ? WHERE pk = ?"
_DELETE = "DELETE FROM entities WHERE pk = ?"
_DELETE_TYPES = "DELETE FROM entity_types WHERE pk = ?"
_INSERT_TYPE = "INSERT OR IGNORE INTO entity_types (pk, tenant, type) VALUES (?, ?, ?)"
_INSERT_TENANT = "INSERT OR IGNORE INTO tenants (name) VALUES (?)"

# Called inside the write transaction after each entity change that was written
# (conn, tenant, entity id, before, after; after is None for a deletion). Whatever an
# observer writes (temporal history, the change journal) commits or rolls back together
# with the entity itself.
WriteObserver = Callable[[sqlite3.Connection, str, str, JsonObject | None,
                          JsonObject | None], None]


def apply_mutations(conn: sqlite3.Connection, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]],
                    observers: Sequence[WriteObserver] = ()) -> list[MutationResult]:
    """Run every mutator against the stored entity; each entity succeeds or fails alone."""
    conn.execute(_INSERT_TENANT, (tenant,))
    results = []
    for entity_id, mutator in mutations:
        # Mutators are pure and run before anything is written for their entity, so a
        # rejected entity leaves nothing to undo: no per-entity SAVEPOINT is needed (and
        # SAVEPOINT/RELEASE around R*Tree writes is costly on large databases).
        try:
            result = _apply_one(conn, tenant, entity_id, mutator)
        except NgsiLdError as error:
            result = MutationResult(entity_id, None, None, error)
        if result.ok and (result.before is not None or result.after is not None):
            for observe in observers:
                observe(conn, tenant, entity_id, result.before, result.after)
        results.append(result)
    return results


def _apply_one(conn: sqlite3.Connection, tenant: str, entity_id: str,
               mutator: Mutator) -> MutationResult:
    row = conn.execute(_SELECT, (tenant, entity_id)).fetchone()
    before: JsonObject | None = orjson.loads(row[1]) if row else None
    after = mutator(before)
    if after is None:
        if row is not None:
            _delete(conn, row[0])
        return MutationResult(entity_id, before, None)
    doc = orjson.dumps(after).decode()  # TEXT, so SQLite's json functions read it as JSON
    if row is None:
        cursor = conn.execute(_INSERT, (tenant, entity_id, doc, after["createdAt"],
                                        after["modifiedAt"]))
        pk = cursor.lastrowid
        assert pk is not None
    else:
        pk = row[0]
        conn.execute(_UPDATE, (doc, after["modifiedAt"], pk))
    if before is None or before["type"] != after["type"]:
        conn.execute(_DELETE_TYPES, (pk,))
        conn.executemany(_INSERT_TYPE, [(pk, tenant, t) for t in after["type"]])
    _index_geo(conn, pk, before, after)
    _index_expiry(conn, pk, before, after)
    if before is None or before["attrs"] != after["attrs"]:
        reindex_values(conn, pk, before, after)
    return MutationResult(entity_id, before, after)


def _index_geo(conn: sqlite3.Connection, pk: int, before: JsonObject | None,
               after: JsonObject) -> None:
    old, new = geo_attributes(before), geo_attributes(after)
    if old != new:
        reindex_entity_geo(conn, pk, new, had_rows=bool(old))


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
