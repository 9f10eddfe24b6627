"""Batches (several entities in one `apply`): every row read and locked in one query, the
mutators run in Python, then all writes sent in one pipeline, without a round trip per
statement. Nothing is written for an entity its mutator refuses, and what PostgreSQL
could refuse is checked beforehand (`document_text`), so each entity succeeds or fails
alone without a SAVEPOINT per entity.

New entities get their primary keys from the identity sequence up front, so that index
rows can be written without waiting for `RETURNING`. Two transactions creating the same
id at once: the later one fails on the unique key and the store runs it again, when the
row is visible and locked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model.expiry import next_expiry
from cityos.ngsild.types import JsonObject
from cityos.storage.base import MutationResult, Mutator
from cityos.storage.postgres.entity_rows import WriteObserver, document_text
from cityos.storage.postgres.geo_sql import reindex_geo
from cityos.storage.postgres.value_index import reindex_values

_LOCK = ("SELECT id, pk, doc FROM entities WHERE tenant = %s AND id = ANY(%s) "
         "ORDER BY id FOR UPDATE")
_NEW_KEYS = "SELECT nextval(pg_get_serial_sequence('entities', 'pk')) FROM generate_series(1, %s)"
_INSERT = ("INSERT INTO entities (pk, tenant, id, types, doc, created_at, modified_at, "
           "expires_at) OVERRIDING SYSTEM VALUE VALUES (%s, %s, %s, %s, %s::jsonb, %s, %s, %s)")
_UPDATE = ("UPDATE entities SET types = %s, doc = %s::jsonb, modified_at = %s, "
           "expires_at = %s WHERE pk = %s")
_DELETE = "DELETE FROM entities WHERE pk = %s"


@dataclass
class _Write:
    entity_id: str
    pk: int | None  # None: a new entity, its key is assigned before writing
    before: JsonObject | None
    stored_before: JsonObject | None  # the row's document (None if there was no row)
    after: JsonObject | None
    doc: str | None


async def apply_batch(conn: AsyncConnection[Any], tenant: str,
                      mutations: Sequence[tuple[str, Mutator]],
                      observers: Sequence[WriteObserver]) -> list[MutationResult]:
    ids = list(dict.fromkeys(entity_id for entity_id, _ in mutations))
    rows = await (await conn.execute(_LOCK, (tenant, ids))).fetchall()
    current: dict[str, tuple[int | None, JsonObject | None]] = {
        entity_id: (pk, doc) for entity_id, pk, doc in rows}
    results: list[MutationResult] = []
    writes: list[_Write] = []
    for entity_id, mutator in mutations:
        pk, before = current.get(entity_id, (None, None))
        try:
            after = mutator(before)
            doc = document_text(tenant, after) if after is not None else None
        except NgsiLdError as error:
            results.append(MutationResult(entity_id, None, None, error))
            continue
        results.append(MutationResult(entity_id, before, after))
        if before is None and after is None:
            continue
        writes.append(_Write(entity_id, pk, before, before, after, doc))
        current[entity_id] = (None if after is None else pk, after)
    await _assign_keys(conn, writes)
    async with conn.pipeline():
        for write in writes:
            await _write(conn, tenant, write)
            for observe in observers:
                await observe(conn, tenant, write.entity_id, write.before, write.after)
    return results


async def _assign_keys(conn: AsyncConnection[Any], writes: list[_Write]) -> None:
    """Give each new entity a key; later writes of the same entity in the batch reuse it
    (a deletion ends it: a re-creation after it is a new entity)."""
    fresh = [w for w in writes if w.pk is None and w.before is None]
    if not fresh:
        return
    cursor = await conn.execute(_NEW_KEYS, (len(fresh),))
    keys = iter([row[0] for row in await cursor.fetchall()])
    live: dict[str, int] = {}
    for write in writes:
        if write.pk is None and write.before is None:
            write.pk = next(keys)
        elif write.pk is None:
            write.pk = live[write.entity_id]
        if write.after is None:
            live.pop(write.entity_id, None)
        else:
            live[write.entity_id] = write.pk


async def _write(conn: AsyncConnection[Any], tenant: str, write: _Write) -> None:
    after, pk = write.after, write.pk
    assert pk is not None
    if after is None:
        await conn.execute(_DELETE, (pk,))  # index rows go by cascade
        return
    expires = next_expiry(after)
    if write.before is None:
        await conn.execute(_INSERT, (pk, tenant, write.entity_id, after["type"], write.doc,
                                     after["createdAt"], after["modifiedAt"], expires))
    else:
        await conn.execute(_UPDATE, (after["type"], write.doc, after["modifiedAt"],
                                     expires, pk))
    await reindex_geo(conn, pk, write.before, after)
    if write.before is None or write.before["attrs"] != after["attrs"]:
        await reindex_values(conn, pk, write.before, after)
