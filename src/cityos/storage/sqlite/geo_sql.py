"""SQLite R*Tree support for NGSI-LD geo-queries (ETSI GS CIM 009 V1.8.1 §4.10).

Every instance of every GeoProperty of an entity gets one `geo_index` row (entity pk,
expanded attribute name, GeoJSON text) and one `geo_rtree` row (its lon/lat bounding box)
sharing the same `gid`. A geo-query is then answered in two steps:

1. prefilter: `compile_geo_prefilter` gives a WHERE fragment on the entities alias that keeps
   entities having an instance of the target GeoProperty whose box intersects
   `search_bbox(geo_query)` (nothing for ``disjoint`` / ``near;minDistance``);
2. exact test: `match_geo` reads the candidates' geometries and applies `matches` (shapely,
   WGS 84 distances), returning pk → distance for the final pk set and optional ordering.

§4.10 asks for no ordering of `near` results; `match_geo` returns distances so a caller can
order by them (as some brokers do). An entity matches when *any* instance of the target
GeoProperty matches; entities without it never match (§4.10), not even ``disjoint`` ones.

The R*Tree stores 32-bit floats rounded outwards, so stored boxes only ever grow: intersection
prefilters stay free of false negatives.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence

import orjson

from cityos.ngsild.geo import GeoQuery, bbox, distance_m, matches, search_bbox
from cityos.ngsild.types import JsonObject

__all__ = [
    "GEO_SCHEMA",
    "GeoIndexRow",
    "compile_geo_prefilter",
    "delete_entity_geo",
    "geo_candidates_sql",
    "index_rows",
    "match_geo",
    "reindex_entity_geo",
]

GEO_SCHEMA = """
CREATE VIRTUAL TABLE IF NOT EXISTS geo_rtree USING rtree(gid, min_x, max_x, min_y, max_y);
CREATE TABLE IF NOT EXISTS geo_index (
    gid INTEGER PRIMARY KEY,
    pk INTEGER NOT NULL,
    attr TEXT NOT NULL,
    geometry TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS geo_index_pk ON geo_index (pk);
CREATE INDEX IF NOT EXISTS geo_index_attr ON geo_index (attr);
"""
"""DDL for the geo index; run it with `Connection.executescript` next to the entities table."""

GeoIndexRow = tuple[int, str, str, float, float, float, float]
"""(pk, attr IRI, GeoJSON text, min_x, max_x, min_y, max_y) — one GeoProperty instance."""

_BOX_CONDITION = "r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ?"


def index_rows(
    pk: int, attr_iri: str, geometries: Iterable[JsonObject]
) -> list[GeoIndexRow]:
    """The rows `reindex_entity_geo` stores for one attribute's (validated) instance values."""
    rows: list[GeoIndexRow] = []
    for geometry in geometries:
        min_x, min_y, max_x, max_y = bbox(geometry)
        text = orjson.dumps(geometry).decode()
        rows.append((pk, attr_iri, text, min_x, max_x, min_y, max_y))
    return rows


def delete_entity_geo(conn: sqlite3.Connection, pk: int) -> None:
    """Remove every geo row of the entity `pk` (both tables)."""
    conn.execute("DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_index WHERE pk = ?)",
                 (pk,))
    conn.execute("DELETE FROM geo_index WHERE pk = ?", (pk,))


def reindex_entity_geo(
    conn: sqlite3.Connection, pk: int, geo_attrs: Mapping[str, Sequence[JsonObject]],
    *, had_rows: bool = True,
) -> int:
    """Replace the entity's geo rows: one per instance of each GeoProperty in `geo_attrs`.

    `geo_attrs` maps expanded attribute names to their validated instance geometries (see
    `cityos.ngsild.geo.geoproperty_values`). Runs inside the caller's transaction; returns the
    number of instances indexed. `had_rows=False` (a new entity) skips deleting old rows.
    """
    if had_rows:
        delete_entity_geo(conn, pk)
    count = 0
    for attr_iri, geometries in geo_attrs.items():
        for row in index_rows(pk, attr_iri, geometries):
            cursor = conn.execute(
                "INSERT INTO geo_index (pk, attr, geometry) VALUES (?, ?, ?)", row[:3]
            )
            conn.execute(
                "INSERT INTO geo_rtree (gid, min_x, max_x, min_y, max_y) VALUES (?, ?, ?, ?, ?)",
                (cursor.lastrowid, *row[3:]),
            )
            count += 1
    return count


def compile_geo_prefilter(geo_query: GeoQuery, alias: str = "e") -> tuple[str, list[object]] | None:
    """A WHERE fragment on the entities `alias` keeping the geo-query's R*Tree candidates.

    None when no box can prefilter (``disjoint``, ``near;minDistance``); then `match_geo`
    scans every instance of the target GeoProperty. `alias` must be a plain SQL identifier.
    """
    if not alias.isidentifier():
        raise ValueError(f"not an SQL identifier: {alias!r}")
    box = search_bbox(geo_query)
    if box is None:
        return None
    min_x, min_y, max_x, max_y = box
    sql = (
        f"{alias}.pk IN (SELECT g.pk FROM geo_index g JOIN geo_rtree r ON r.gid = g.gid "
        f"WHERE g.attr = ? AND {_BOX_CONDITION})"
    )
    return sql, [geo_query.geoproperty_iri, min_x, max_x, min_y, max_y]


def geo_candidates_sql(
    geo_query: GeoQuery, tenant: str | None = None, pks: Iterable[int] | None = None
) -> tuple[str, list[object]]:
    """SELECT of ``(pk, geometry)`` rows to test exactly: the target GeoProperty's instances,
    restricted by the R*Tree box when there is one, to `tenant` and to `pks` when given."""
    params: list[object] = [geo_query.geoproperty_iri]
    sql = "SELECT g.pk, g.geometry FROM geo_index g"
    where = ["g.attr = ?"]
    box = search_bbox(geo_query)
    if box is not None:
        sql += " JOIN geo_rtree r ON r.gid = g.gid"
        where.append(_BOX_CONDITION)
        min_x, min_y, max_x, max_y = box
        params += [min_x, max_x, min_y, max_y]
    if tenant is not None:
        sql += " JOIN entities e ON e.pk = g.pk"
        where.append("e.tenant = ?")
        params.append(tenant)
    if pks is not None:
        where.append("g.pk IN (SELECT value FROM json_each(?))")
        params.append(orjson.dumps(sorted(set(pks))).decode())
    return f"{sql} WHERE {' AND '.join(where)}", params


def match_geo(
    conn: sqlite3.Connection,
    geo_query: GeoQuery,
    tenant: str | None = None,
    pks: Iterable[int] | None = None,
) -> dict[int, float | None]:
    """The pks of entities matching the geo-query exactly, each with its `near` distance.

    Candidates come from `geo_candidates_sql` (R*Tree box, `tenant`, `pks`); each instance is
    tested with `matches`. For ``near`` the value is the smallest distance in metres over the
    entity's matching instances (sort by it for nearest-first output), otherwise None.
    """
    sql, params = geo_candidates_sql(geo_query, tenant, pks)
    near = geo_query.georel == "near"
    found: dict[int, float | None] = {}
    limit = geo_query.distance_m
    for pk, text in conn.execute(sql, params):
        geometry = orjson.loads(text)
        if not near:
            if pk not in found and matches(geo_query, geometry):
                found[pk] = None
            continue
        d = distance_m(geo_query, geometry)
        if limit is None:
            continue
        if d <= limit if geo_query.distance_op == "maxDistance" else d >= limit:
            best = found.get(pk)
            found[pk] = d if best is None else min(best, d)
    return found
