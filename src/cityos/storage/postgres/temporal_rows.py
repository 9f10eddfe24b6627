"""Rows of the temporal history on PostgreSQL: attribute keys and the one-statement append.

The row layout and its conversion to and from attribute instances are shared with the
SQLite store (cityos.storage.sqlite.temporal_rows): one row per instance, times as epoch
microseconds, a plain numeric Property's value in `num` with no JSON document.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import AsyncConnection

from cityos.ngsild.temporal.diff import HistoryRecord
from cityos.storage.sqlite.temporal_rows import instance_row

# Upserts the temporal entity (types: the union of all seen, first-seen order), its
# series, and appends the instances in record order, in ONE statement: an entity write
# pays one more statement for its history, and batches can pipeline it.
APPEND = """
WITH e AS (
    INSERT INTO temporal_entities (tenant, id, types, created, modified)
    VALUES (%(tenant)s, %(id)s, %(types)s::text[], %(now)s, %(now)s)
    ON CONFLICT (tenant, id) DO UPDATE SET
        -- unchanged types keep the update HOT (no index entry is written)
        types = CASE WHEN excluded.types <@ temporal_entities.types
                     THEN temporal_entities.types
                     ELSE ARRAY(SELECT t FROM unnest(temporal_entities.types || excluded.types)
                                WITH ORDINALITY AS u(t, n) GROUP BY t ORDER BY min(n)) END,
        modified = excluded.modified
    RETURNING ek, (xmax = 0) AS inserted
), x AS (
    SELECT * FROM unnest(%(ak)s::int[], %(observed)s::bigint[], %(created)s::bigint[],
                         %(modified)s::bigint[], %(deleted)s::bigint[], %(dataset)s::text[],
                         %(num)s::float8[], %(doc)s::text[])
        WITH ORDINALITY AS x(ak, observed, created, modified, deleted, dataset, num, doc, n)
), s AS (
    INSERT INTO temporal_series (ek, ak, dataset)
    SELECT DISTINCT e.ek, x.ak, coalesce(x.dataset, '') FROM e, x
    ON CONFLICT DO NOTHING
), i AS (
    INSERT INTO temporal_instances (ek, observed, created, modified, num, ak, deleted,
                                    dataset, doc)
    SELECT e.ek, x.observed, x.created, x.modified, x.num, x.ak, x.deleted, x.dataset, x.doc
    FROM e, x ORDER BY x.n
)
SELECT ek, inserted FROM e
"""
# APPEND for a whole batch of entities, its arrays sent in binary: `entity` numbers each
# instance's entity (1-based, in the order of `ids`); instances are appended in array
# order. Each id appears once (one ON CONFLICT DO UPDATE may not touch a row twice).
APPEND_BATCH = """
WITH r AS (
    SELECT * FROM unnest(%(ids)b::text[], %(types)b::text[]) WITH ORDINALITY AS r(id, types, n)
), e AS (
    INSERT INTO temporal_entities (tenant, id, types, created, modified)
    SELECT %(tenant)s, r.id, ARRAY(SELECT jsonb_array_elements_text(r.types::jsonb)),
           %(now)s, %(now)s FROM r ORDER BY r.n
    ON CONFLICT (tenant, id) DO UPDATE SET
        types = CASE WHEN excluded.types <@ temporal_entities.types
                     THEN temporal_entities.types
                     ELSE ARRAY(SELECT t FROM unnest(temporal_entities.types || excluded.types)
                                WITH ORDINALITY AS u(t, n) GROUP BY t ORDER BY min(n)) END,
        modified = excluded.modified
    RETURNING ek, id
), x AS (
    SELECT x.*, e.ek FROM unnest(%(entity)b::int8[], %(ak)b::int[], %(observed)b::bigint[],
                                 %(created)b::bigint[], %(modified)b::bigint[],
                                 %(deleted)b::bigint[], %(dataset)b::text[], %(num)b::float8[],
                                 %(doc)b::text[])
        WITH ORDINALITY AS x(entity, ak, observed, created, modified, deleted, dataset, num,
                             doc, n)
    JOIN r ON r.n = x.entity JOIN e ON e.id = r.id
), s AS (
    INSERT INTO temporal_series (ek, ak, dataset)
    SELECT DISTINCT x.ek, x.ak, coalesce(x.dataset, '') FROM x
    ON CONFLICT DO NOTHING
)
INSERT INTO temporal_instances (ek, observed, created, modified, num, ak, deleted, dataset, doc)
SELECT x.ek, x.observed, x.created, x.modified, x.num, x.ak, x.deleted, x.dataset, x.doc
FROM x ORDER BY x.n
"""
# Temporal API input (§5.6.11/§5.6.12): an instance sent for a series at an observedAt the
# series holds replaces the stored one.
REPLACE_SAME_TIME = """
DELETE FROM temporal_instances t USING unnest(%s::int[], %s::bigint[], %s::text[])
    AS r(ak, observed, dataset)
WHERE t.ek = %s AND t.ak = r.ak AND t.observed = r.observed
  AND t.dataset IS NOT DISTINCT FROM r.dataset
"""
_COLUMNS = ("ak", "observed", "created", "modified", "deleted", "dataset", "num", "doc")


def append_params(tenant: str, entity_id: str, types: list[str], now: int,
                  records: Sequence[HistoryRecord], keys: dict[str, int]) -> dict[str, Any]:
    """APPEND's parameters: the instance columns as parallel arrays."""
    rows = [instance_row(0, keys[r.attribute], r.instance) for r in records]
    params: dict[str, Any] = {"tenant": tenant, "id": entity_id, "types": types, "now": now}
    for position, name in enumerate(_COLUMNS, start=1):
        params[name] = [row[position] for row in rows]
    return params


def batch_append_params(tenant: str, now: int,
                        entities: dict[str, tuple[list[str], list[HistoryRecord]]],
                        keys: dict[str, int]) -> dict[str, Any]:
    """APPEND_BATCH's parameters from each entity's (types, records), in dict order."""
    params: dict[str, Any] = {"tenant": tenant, "now": now, "ids": list(entities),
                              "types": [orjson.dumps(t).decode() for t, _ in entities.values()],
                              "entity": []}
    for name in _COLUMNS:
        params[name] = []
    for number, (_, records) in enumerate(entities.values(), start=1):
        for record in records:
            row = instance_row(0, keys[record.attribute], record.instance)
            params["entity"].append(number)
            for position, name in enumerate(_COLUMNS, start=1):
                params[name].append(row[position])
    return params


class AttributeKeys:
    """Attribute IRI ↔ integer key, cached. A missing key is created on a connection of
    its own and committed at once (ON CONFLICT DO NOTHING, then read back), so that a
    cached key always exists whatever becomes of the entity transaction that needed it,
    and concurrent first uses of an IRI agree on one key."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._keys: dict[str, int] = {}
        self._iris: dict[int, str] = {}
        self._conn: AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()

    def _remember(self, iri: str, key: int) -> None:
        self._keys[iri] = key
        self._iris[key] = iri

    async def create(self, iris: Iterable[str]) -> dict[str, int]:
        """The keys of `iris`, created when missing (for writers)."""
        wanted = set(iris)
        missing = sorted(wanted - self._keys.keys())
        if missing:
            async with self._lock:
                if self._conn is None or self._conn.closed or self._conn.broken:
                    self._conn = await psycopg.AsyncConnection.connect(self._url,
                                                                       autocommit=True)
                await self._conn.execute(
                    "INSERT INTO temporal_attributes (iri) SELECT unnest(%s::text[]) "
                    "ON CONFLICT (iri) DO NOTHING", (missing,))
                cursor = await self._conn.execute(
                    "SELECT iri, ak FROM temporal_attributes WHERE iri = ANY(%s)", (missing,))
                for iri, key in await cursor.fetchall():
                    self._remember(iri, key)
        return {iri: self._keys[iri] for iri in wanted}

    async def key(self, conn: AsyncConnection[Any], iri: str) -> int | None:
        """The key of `iri`, None if no instance ever had it (for readers)."""
        if iri not in self._keys:
            row = await (await conn.execute(
                "SELECT ak FROM temporal_attributes WHERE iri = %s", (iri,))).fetchone()
            if row is None:
                return None
            self._remember(iri, row[0])
        return self._keys[iri]

    async def iri(self, conn: AsyncConnection[Any], key: int) -> str:
        if key not in self._iris:
            row = await (await conn.execute(
                "SELECT iri FROM temporal_attributes WHERE ak = %s", (key,))).fetchone()
            assert row is not None, f"unknown attribute key {key}"
            self._remember(row[0], key)
        return self._iris[key]

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        self._conn = None
