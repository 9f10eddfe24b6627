"""The row changes of a batch, gathered per table and written set-based: one statement per
table and kind of change (`unnest` of parallel arrays), whatever the batch size.

Arrays of keys, texts and numbers go in binary (`%b`): no array-literal quoting, no text
parsing of each element on the server. The documents go as `text[]` and are cast to
`jsonb` once per row, as the single-entity statements do.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.model.expiry import next_expiry
from cityos.ngsild.types import JsonObject
from cityos.storage.postgres.geo_sql import GEOMETRY, geo_delta
from cityos.storage.postgres.value_index import KeyedRow, value_delta

# The types array is read from the document itself (its "type" member is what the
# single-entity statements bind), so that ragged text[] arrays need not be sent.
_TYPES = "ARRAY(SELECT jsonb_array_elements_text(r.doc::jsonb -> 'type'))"
DELETE_ENTITIES = "DELETE FROM entities WHERE pk = ANY(%b::int8[])"  # index rows cascade
INSERT_ENTITIES = (
    "INSERT INTO entities (pk, tenant, id, types, doc, created_at, modified_at, expires_at) "
    f"OVERRIDING SYSTEM VALUE SELECT r.pk, %b, r.id, {_TYPES}, r.doc::jsonb, r.created, "
    "r.modified, r.expires FROM unnest(%b::int8[], %b::text[], %b::text[], %b::text[], "
    "%b::text[], %s::timestamptz[]) AS r(pk, id, doc, created, modified, expires)")
UPDATE_ENTITIES = (
    f"UPDATE entities e SET types = {_TYPES}, doc = r.doc::jsonb, modified_at = r.modified, "
    "expires_at = r.expires FROM unnest(%b::int8[], %b::text[], %b::text[], "
    "%s::timestamptz[]) AS r(pk, doc, modified, expires) WHERE e.pk = r.pk")
DELETE_VALUES = ("DELETE FROM attr_values v USING unnest(%b::int8[], %b::text[]) AS r(pk, attr) "
                 "WHERE v.pk = r.pk AND v.attr = r.attr")
INSERT_VALUES = ("INSERT INTO attr_values (pk, attr, num, txt) "
                 "SELECT * FROM unnest(%b::int8[], %b::text[], %b::numeric[], %b::text[])")
DELETE_GEO = "DELETE FROM geo_index WHERE pk = ANY(%b::int8[])"
INSERT_GEO = ("INSERT INTO geo_index (pk, attr, geom) SELECT r.pk, r.attr, "
              + GEOMETRY.format("r.geometry")
              + " FROM unnest(%b::int8[], %b::text[], %b::text[]) AS r(pk, attr, geometry)")


def columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Parallel arrays (one per column) of `rows`."""
    return [[row[i] for row in rows] for i in range(width)]


@dataclass
class RowChanges:
    """Everything a batch writes to entities, attr_values and geo_index."""

    deleted: list[int] = field(default_factory=list)
    inserted: list[tuple[int, str, str, str, str, datetime | None]] = field(
        default_factory=list)
    updated: list[tuple[int, str, str, datetime | None]] = field(default_factory=list)
    stale_values: list[tuple[int, str]] = field(default_factory=list)
    values: list[KeyedRow] = field(default_factory=list)
    stale_geo: list[int] = field(default_factory=list)
    geo: list[tuple[int, str, str]] = field(default_factory=list)

    def delete(self, pk: int) -> None:
        self.deleted.append(pk)

    def insert(self, pk: int, entity: JsonObject, doc: str, created_at: str) -> None:
        self.inserted.append((pk, entity["id"], doc, created_at,
                              entity["modifiedAt"], next_expiry(entity)))
        self._index(pk, None, entity)

    def update(self, pk: int, stored: JsonObject, entity: JsonObject, doc: str) -> None:
        self.updated.append((pk, doc, entity["modifiedAt"], next_expiry(entity)))
        self._index(pk, stored, entity)

    def _index(self, pk: int, before: JsonObject | None, after: JsonObject) -> None:
        stale_geo, geo = geo_delta(pk, before, after)
        if stale_geo:
            self.stale_geo.append(pk)
        self.geo += geo
        if before is None or before["attrs"] != after["attrs"]:
            stale, rows = value_delta(pk, before, after)
            self.stale_values += stale
            self.values += rows

    async def write(self, conn: AsyncConnection[Any], tenant: str) -> None:
        """Send the statements (inside the caller's pipeline): deletions first, so that
        an entity deleted and created again in the batch frees its (tenant, id)."""
        if self.deleted:
            await conn.execute(DELETE_ENTITIES, (self.deleted,))
        if self.inserted:
            await conn.execute(INSERT_ENTITIES, (tenant, *columns(self.inserted, 6)))
        if self.updated:
            await conn.execute(UPDATE_ENTITIES, columns(self.updated, 4))
        if self.stale_values:
            await conn.execute(DELETE_VALUES, columns(self.stale_values, 2))
        if self.values:
            await conn.execute(INSERT_VALUES, columns(self.values, 4))
        if self.stale_geo:
            await conn.execute(DELETE_GEO, (self.stale_geo,))
        if self.geo:
            await conn.execute(INSERT_GEO, columns(self.geo, 3))
