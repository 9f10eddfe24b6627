"""SQLite R*Tree prefilter for geo-queries (ETSI GS CIM 009 §4.10)."""

from __future__ import annotations

import json
import math
import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import cityos
from cityos.ngsild.geo import GeoQuery, matches_any, parse_geo_query
from cityos.storage.sqlite.geo_sql import (
    GEO_SCHEMA,
    compile_geo_prefilter,
    delete_entity_geo,
    geo_candidates_sql,
    index_rows,
    match_geo,
    reindex_entity_geo,
)

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
SPACE = "https://example.org/kaga/observationSpace"
HALL = (136.3147, 36.3028)
ENTITIES_DDL = """
CREATE TABLE entities (pk INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,
    doc TEXT NOT NULL, created_at TEXT NOT NULL, modified_at TEXT NOT NULL,
    UNIQUE (tenant, id));
"""


def expand(term: str) -> str:
    return LOCATION if term == "location" else "https://example.org/kaga/" + term


def q(georel: str, geometry: str, coordinates: Any, geoproperty: str | None = None) -> GeoQuery:
    parsed = parse_geo_query(georel, geometry, coordinates, geoproperty, expand)
    assert parsed is not None
    return parsed


def pt(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


@pytest.fixture
def conn() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.executescript(ENTITIES_DDL)
    connection.executescript(GEO_SCHEMA)
    connection.executescript(GEO_SCHEMA)  # idempotent
    yield connection
    connection.close()


def add_entity(conn: sqlite3.Connection, tenant: str, eid: str,
               geo: dict[str, list[dict[str, Any]]]) -> int:
    cursor = conn.execute(
        "INSERT INTO entities (tenant, id, doc, created_at, modified_at) VALUES (?, ?, '{}', "
        "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", (tenant, eid))
    pk = cursor.lastrowid
    assert pk is not None
    reindex_entity_geo(conn, pk, geo)
    return pk


def prefiltered(conn: sqlite3.Connection, query: GeoQuery) -> set[int]:
    compiled = compile_geo_prefilter(query)
    if compiled is None:
        return {pk for (pk,) in conn.execute("SELECT pk FROM entities e")}
    sql, params = compiled
    assert "?" in sql and str(query.geoproperty_iri) not in sql
    return {pk for (pk,) in conn.execute(f"SELECT e.pk FROM entities e WHERE {sql}", params)}


def test_index_rows_and_reindexing(conn: sqlite3.Connection) -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [2, 0], [2, 1], [0, 1], [0, 0]]]}
    assert index_rows(7, LOCATION, [pt(1, 2), square]) == [
        (7, LOCATION, '{"type":"Point","coordinates":[1,2]}', 1, 1, 2, 2),
        (7, LOCATION, json.dumps(square, separators=(",", ":")), 0, 2, 0, 1),
    ]
    pk = add_entity(conn, "t", "urn:a", {LOCATION: [pt(*HALL)], SPACE: [pt(1, 1), pt(2, 2)]})
    assert conn.execute("SELECT COUNT(*) FROM geo_index").fetchone() == (3,)
    assert conn.execute("SELECT COUNT(*) FROM geo_rtree").fetchone() == (3,)
    assert reindex_entity_geo(conn, pk, {LOCATION: [pt(5, 5)]}) == 1
    assert conn.execute("SELECT attr, geometry FROM geo_index").fetchall() == [
        (LOCATION, '{"type":"Point","coordinates":[5,5]}')]
    assert conn.execute("SELECT COUNT(*) FROM geo_rtree").fetchone() == (1,)
    delete_entity_geo(conn, pk)
    assert conn.execute("SELECT COUNT(*) FROM geo_index").fetchone() == (0,)
    assert conn.execute("SELECT COUNT(*) FROM geo_rtree").fetchone() == (0,)


def test_no_prefilter_for_disjoint_and_min_distance() -> None:
    assert compile_geo_prefilter(q("disjoint", "Point", list(HALL))) is None
    assert compile_geo_prefilter(q("near;minDistance==5", "Point", list(HALL))) is None
    sql, params = compile_geo_prefilter(q("within", "Point", list(HALL)), alias="x") or ("", [])
    assert sql.startswith("x.pk IN (SELECT g.pk FROM geo_index g JOIN geo_rtree r")
    assert params == [LOCATION, HALL[0], HALL[0], HALL[1], HALL[1]]
    with pytest.raises(ValueError):
        compile_geo_prefilter(q("within", "Point", list(HALL)), alias="e; DROP TABLE x")


def test_match_geo_with_tenants_pks_and_distances(conn: sqlite3.Connection) -> None:
    hall = add_entity(conn, "kaga", "urn:hall", {LOCATION: [pt(*HALL)]})
    moving = add_entity(conn, "kaga", "urn:bus", {LOCATION: [pt(136.40, 36.40), pt(136.3150,
                                                                                36.3030)]})
    other = add_entity(conn, "other", "urn:hall", {LOCATION: [pt(*HALL)]})
    only_space = add_entity(conn, "kaga", "urn:sensor", {SPACE: [pt(*HALL)]})
    near = q("near;maxDistance==1000", "Point", list(HALL))
    found = match_geo(conn, near)
    assert set(found) == {hall, moving, other}
    assert found[hall] == 0.0
    assert found[moving] == pytest.approx(34.9, abs=0.5)  # the closer instance counts
    assert set(match_geo(conn, near, tenant="kaga")) == {hall, moving}
    assert set(match_geo(conn, near, tenant="kaga", pks=[moving, only_space])) == {moving}
    assert match_geo(conn, near, pks=[]) == {}
    assert set(match_geo(conn, q("near;maxDistance==1000", "Point", list(HALL),
                                 "observationSpace"))) == {only_space}
    # Entities without the target GeoProperty never match, not even `disjoint` (§4.10).
    disjoint = match_geo(conn, q("disjoint", "Point", "[0,0]"))
    assert set(disjoint) == {hall, moving, other} and set(disjoint.values()) == {None}
    far = match_geo(conn, q("near;minDistance==5000", "Point", list(HALL)))
    assert set(far) == {moving} and (far[moving] or 0.0) > 5000
    sql, params = geo_candidates_sql(q("disjoint", "Point", "[0,0]"))
    assert "geo_rtree" not in sql and params == [LOCATION]


def random_geometry(rng: random.Random) -> dict[str, Any]:
    lon = HALL[0] + rng.uniform(-0.08, 0.08)
    lat = HALL[1] + rng.uniform(-0.06, 0.06)
    kind = rng.random()
    if kind < 0.7:
        return pt(lon, lat)
    if kind < 0.85:
        return {"type": "LineString",
                "coordinates": [[lon, lat], [lon + rng.uniform(-0.01, 0.01),
                                             lat + rng.uniform(-0.01, 0.01)]]}
    w, h = rng.uniform(0.0005, 0.01), rng.uniform(0.0005, 0.01)
    return {"type": "Polygon", "coordinates": [[[lon, lat], [lon + w, lat], [lon + w, lat + h],
                                                [lon, lat + h], [lon, lat]]]}


CENTRE = [[[136.306, 36.297], [136.324, 36.297], [136.324, 36.308], [136.306, 36.308],
           [136.306, 36.297]]]
QUERIES = [
    ("near;maxDistance==1000", "Point", list(HALL)),
    ("near;maxDistance==2500", "Point", [136.35, 36.28]),
    ("near;maxDistance==300", "LineString", [[136.30, 36.30], [136.33, 36.31]]),
    ("near;minDistance==3000", "Point", list(HALL)),
    ("within", "Polygon", CENTRE),
    ("contains", "Point", list(HALL)),
    ("intersects", "Polygon", CENTRE),
    ("overlaps", "Polygon", CENTRE),
    ("disjoint", "Polygon", CENTRE),
    ("equals", "Point", list(HALL)),
]


@pytest.mark.parametrize(("georel", "geometry", "coordinates"), QUERIES,
                         ids=[f"{g}-{t}" for g, t, _ in QUERIES])
def test_rtree_prefilter_agrees_with_brute_force(
    conn: sqlite3.Connection, georel: str, geometry: str, coordinates: Any
) -> None:
    rng = random.Random(20260101)
    by_pk: dict[int, list[dict[str, Any]]] = {}
    for i in range(3000):
        geometries = [random_geometry(rng) for _ in range(1 if rng.random() < 0.9 else 2)]
        if i == 0:
            geometries = [pt(*HALL)]  # an exact `equals` / `contains` hit
        by_pk[add_entity(conn, "kaga", f"urn:e:{i}", {LOCATION: geometries})] = geometries
    query = q(georel, geometry, coordinates)
    expected = {pk for pk, geometries in by_pk.items() if matches_any(query, geometries)}
    candidates = prefiltered(conn, query)
    assert expected <= candidates
    assert set(match_geo(conn, query, tenant="kaga")) == expected
    assert set(match_geo(conn, query, pks=candidates)) == expected
    if compile_geo_prefilter(query) is not None:
        assert len(candidates) < len(by_pk)  # the box actually prunes


def test_real_kaga_shelters_near_city_hall(conn: sqlite3.Connection) -> None:
    data = Path(cityos.__file__).parent / "data" / "kaga" / "gsi_designated_shelters_172065.geojson"
    shelters = json.loads(data.read_text(encoding="utf-8"))["features"]
    pks = {add_entity(conn, "kaga", f"urn:shelter:{i}", {LOCATION: [f["geometry"]]}): f
           for i, f in enumerate(shelters)}
    query = q("near;maxDistance==1500", "Point", list(HALL))
    found = match_geo(conn, query)
    assert found  # the city centre has designated shelters within 1.5 km
    for pk, feature in pks.items():
        lon, lat = feature["geometry"]["coordinates"][:2]
        # Independent check on the sphere: haversine differs from WGS 84 by < 0.5 %.
        p1, p2 = math.radians(HALL[1]), math.radians(lat)
        h = (math.sin((p2 - p1) / 2) ** 2
             + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon - HALL[0]) / 2) ** 2)
        approx = 2 * 6371008.8 * math.asin(math.sqrt(h))
        if approx < 1500 * 0.995:
            assert pk in found
        elif approx > 1500 * 1.005:
            assert pk not in found
    distances = [d for d in found.values() if d is not None]
    assert len(distances) == len(found) and all(0 < d <= 1500 for d in distances)
