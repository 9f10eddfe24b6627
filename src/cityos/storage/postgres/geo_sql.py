"""PostGIS for NGSI-LD geo-queries (ETSI GS CIM 009 V1.8.1 §4.10).

Every instance of every GeoProperty gets one `geo_index` row (entity pk, expanded
attribute name, 2D geometry in EPSG:4326). A geo-query becomes a condition on those rows
that PostgreSQL answers with the GiST indexes:

* ``near;maxDistance`` → `ST_DWithin` on `geography` (metres on the WGS 84 spheroid),
  ``near;minDistance`` → `ST_Distance(geography) >=`, and results ordered by distance;
* within / contains / intersects / overlaps / equals / disjoint → the planar DE-9IM
  predicates on `geometry`, entity geometry first (as cityos.ngsild.geo.relate).

An entity matches when any instance of the target GeoProperty matches; entities without
it never match (§4.10), not even ``disjoint`` ones. Differences from the shapely
evaluator: for lines and polygons PostGIS measures distances along great circles, not
straight lon/lat segments (centimetres at city scale).
"""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.ngsild.geo import GeoQuery
from cityos.ngsild.model.index_terms import geo_attributes
from cityos.ngsild.types import JsonObject
from cityos.storage.postgres.binder import Binder

_PREDICATES = {"within": "ST_Within", "contains": "ST_Contains",
               "intersects": "ST_Intersects", "disjoint": "ST_Disjoint",
               "equals": "ST_Equals", "overlaps": "ST_Overlaps"}
GEOMETRY = "ST_Force2D(ST_GeomFromGeoJSON({}))"


def geo_delta(pk: int, before: JsonObject | None, after: JsonObject | None
              ) -> tuple[bool, list[tuple[int, str, str]]]:
    """Whether entity `pk`'s geo rows go, and the (pk, attribute, GeoJSON) rows that
    replace them; (False, []) when its GeoProperties did not change."""
    old, new = geo_attributes(before), geo_attributes(after)
    if old == new:
        return False, []
    return bool(old), [(pk, attr, orjson.dumps(geometry).decode())
                       for attr, geometries in new.items() for geometry in geometries]


async def reindex_geo(conn: AsyncConnection[Any], pk: int, before: JsonObject | None,
                      after: JsonObject) -> None:
    """Replace the entity's geo rows when its GeoProperties changed."""
    stale, rows = geo_delta(pk, before, after)
    if stale:
        await conn.execute("DELETE FROM geo_index WHERE pk = %s", (pk,))
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO geo_index (pk, attr, geom) VALUES (%s, %s, "
                + GEOMETRY.format("%s") + ")", rows)


def reference(geo: GeoQuery, bind: Binder) -> str:
    """SQL of the query's reference geometry (planar, EPSG:4326). A Point is built from
    its coordinates: parsing GeoJSON costs more, and a prepared statement's generic plan
    may do it again for every row it compares."""
    geometry = geo.geometry
    if geometry.get("type") == "Point":
        lon, lat = geometry["coordinates"][:2]
        return (f"ST_SetSRID(ST_MakePoint({bind(float(lon), 'float8')}, "
                f"{bind(float(lat), 'float8')}), 4326)")
    return GEOMETRY.format(bind(orjson.dumps(geometry).decode(), "text"))


def instance_condition(geo: GeoQuery, bind: Binder, ref: str | None = None) -> str:
    """Condition on a `geo_index g` row: this instance satisfies the geo-query. For
    `near`, `ref` names the reference as geography when the caller computed it once."""
    if geo.georel != "near":
        return f"{_PREDICATES[geo.georel]}(g.geom, {reference(geo, bind)})"
    distance = bind(geo.distance_m if geo.distance_m is not None else 0.0, "float8")
    ref = ref or f"{reference(geo, bind)}::geography"
    if geo.distance_op == "maxDistance":
        return f"ST_DWithin(g.geom::geography, {ref}, {distance})"
    return f"ST_Distance(g.geom::geography, {ref}) >= {distance}"


def matching_entities(geo: GeoQuery, bind: Binder) -> str:
    """SELECT of `(pk, dist)`: entities with a matching instance of the target
    GeoProperty, and for `near` the smallest distance in metres of a matching instance
    (0 otherwise). The `near` reference is computed once, in a one-row subquery."""
    attr = bind(geo.geoproperty_iri, "text")
    if geo.georel != "near":
        return (f"SELECT DISTINCT g.pk, 0.0::float8 AS dist FROM geo_index g "
                f"WHERE g.attr = {attr} AND {instance_condition(geo, bind)}")
    origin = f"(SELECT {reference(geo, bind)}::geography AS geog) r"
    return (f"SELECT g.pk, min(ST_Distance(g.geom::geography, r.geog)) AS dist "
            f"FROM geo_index g, {origin} WHERE g.attr = {attr} AND "
            f"{instance_condition(geo, bind, 'r.geog')} GROUP BY g.pk")


def nearest_candidates(geo: GeoQuery, bind: Binder, count: int) -> str:
    """SELECT of the `count` entities nearest to a `near` reference, `(pk, dist)` in
    (distance, pk) order, before any other filter."""
    return (f"SELECT h.pk, h.dist FROM ({matching_entities(geo, bind)}) h "
            f"ORDER BY h.dist, h.pk LIMIT {bind(count, 'int8')}")


def distance_expression(geo: GeoQuery, attr: str, bind: Binder) -> str:
    """Smallest distance in metres from the reference geometry to entity `e`'s instances
    of GeoProperty `attr` (NULL without it), for orderBy `dist-asc` / `dist-desc`."""
    ref = f"{reference(geo, bind)}::geography"
    return (f"(SELECT min(ST_Distance(g.geom::geography, {ref})) FROM geo_index g "
            f"WHERE g.pk = e.pk AND g.attr = {bind(attr, 'text')})")
