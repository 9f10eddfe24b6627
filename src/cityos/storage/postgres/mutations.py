"""Read-modify-write of entities inside one PostgreSQL transaction.

The stored row is read `FOR UPDATE`, so concurrent writers of one entity queue behind each
other and none loses an update; the broker's pure mutator computes the new document.
Batches take the pipelined path of batch.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model.expiry import next_expiry
from cityos.ngsild.types import JsonObject
from cityos.storage.base import MutationResult, Mutator
from cityos.storage.postgres.batch import apply_batch
from cityos.storage.postgres.entity_rows import WriteObserver, document_text
from cityos.storage.postgres.geo_sql import reindex_geo
from cityos.storage.postgres.value_index import reindex_values

_SELECT = "SELECT pk, doc FROM entities WHERE tenant = %s AND id = %s FOR UPDATE"
_INSERT = ("INSERT INTO entities (tenant, id, types, doc, created_at, modified_at, "
           "expires_at) VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s) "
           "ON CONFLICT (tenant, id) DO NOTHING RETURNING pk")
_UPDATE = ("UPDATE entities SET types = %s, doc = %s::jsonb, modified_at = %s, "
           "expires_at = %s WHERE pk = %s")
_DELETE = "DELETE FROM entities WHERE pk = %s"



class _ConcurrentInsert(Exception):
    """Another transaction created the entity between our read and our insert."""


async def apply_mutations(conn: AsyncConnection[Any], tenant: str,
                          mutations: Sequence[tuple[str, Mutator]],
                          observers: Sequence[WriteObserver] = ()) -> list[MutationResult]:
    """Run every mutator against the stored entity inside the caller's transaction; each
    entity succeeds or fails alone."""
    if len(mutations) == 1:
        [(entity_id, mutator)] = mutations
        return [await _apply_with_retry(conn, tenant, entity_id, mutator, observers)]
    return await apply_batch(conn, tenant, mutations, observers)


async def _apply_with_retry(conn: AsyncConnection[Any], tenant: str, entity_id: str,
                            mutator: Mutator,
                            observers: Sequence[WriteObserver]) -> MutationResult:
    # A concurrent first insert of the same id is seen at most once: afterwards the row
    # exists and FOR UPDATE waits for it.
    for _ in range(3):
        try:
            result = await _apply_one(conn, tenant, entity_id, mutator)
        except NgsiLdError as error:
            return MutationResult(entity_id, None, None, error)
        except _ConcurrentInsert:
            continue
        if result.before is not None or result.after is not None:
            for observe in observers:
                await observe(conn, tenant, entity_id, result.before, result.after)
        return result
    raise RuntimeError(f"entity {entity_id!r} kept being created concurrently")


async def _apply_one(conn: AsyncConnection[Any], tenant: str, entity_id: str,
                     mutator: Mutator) -> MutationResult:
    row = await (await conn.execute(_SELECT, (tenant, entity_id))).fetchone()
    before: JsonObject | None = row[1] if row else None
    after = mutator(before)
    if after is None:
        if row is not None:
            await conn.execute(_DELETE, (row[0],))  # index rows go by cascade
        return MutationResult(entity_id, before, None)
    doc = document_text(tenant, after)
    if row is None:
        inserted = await (await conn.execute(_INSERT, (
            tenant, entity_id, after["type"], doc, after["createdAt"],
            after["modifiedAt"], next_expiry(after)))).fetchone()
        if inserted is None:
            raise _ConcurrentInsert(entity_id)
        pk = inserted[0]
    else:
        pk = row[0]
        await conn.execute(_UPDATE, (after["type"], doc, after["modifiedAt"],
                                     next_expiry(after), pk))
    await reindex_geo(conn, pk, before, after)
    if before is None or before["attrs"] != after["attrs"]:
        await reindex_values(conn, pk, before, after)
    return MutationResult(entity_id, before, after)
