"""PostGIS answers geo-queries like the shapely evaluator (ETSI GS CIM 009 §4.10), and
through its GiST indexes rather than by testing every row."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from tests.postgres_support import fresh_schema

from cityos.ngsild.context import core_context
from cityos.ngsild.geo import matches_any, parse_geo_query
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery
from cityos.storage.postgres.binder import Binder
from cityos.storage.postgres.geo_sql import matching_entities
from cityos.storage.postgres.reads import where_clause
from cityos.storage.postgres.store import PostgresStore

CTX = core_context()
LOCATION = CTX.expand_term("location")
SHAPES: list[JsonObject] = [
    {"type": "Point", "coordinates": [136.30, 36.30]},
    {"type": "Point", "coordinates": [136.31, 36.30]},
    {"type": "Point", "coordinates": [136.35, 36.32]},
    {"type": "LineString", "coordinates": [[136.29, 36.29], [136.33, 36.31]]},
    {"type": "Polygon", "coordinates": [[[136.29, 36.29], [136.32, 36.29], [136.32, 36.31],
                                         [136.29, 36.31], [136.29, 36.29]]]},
    {"type": "Polygon", "coordinates": [[[136.305, 36.295], [136.315, 36.295],
                                         [136.315, 36.305], [136.305, 36.305],
                                         [136.305, 36.295]]]},
    {"type": "MultiPoint", "coordinates": [[136.40, 36.40], [136.30, 36.30]]},
]
QUERIES = [
    ("near;maxDistance==1000", "Point", "[136.30,36.30]"),
    ("near;maxDistance==5000", "Point", "[136.35,36.32]"),
    ("near;minDistance==2000", "Point", "[136.30,36.30]"),
    ("within", "Polygon", "[[[136.28,36.28],[136.32,36.28],[136.32,36.32],[136.28,36.32],"
                          "[136.28,36.28]]]"),
    ("contains", "Point", "[136.31,36.30]"),
    ("intersects", "LineString", "[[136.30,36.28],[136.30,36.33]]"),
    ("disjoint", "Point", "[136.30,36.30]"),
    ("equals", "Point", "[136.31,36.30]"),
    ("overlaps", "Polygon", "[[[136.31,36.30],[136.33,36.30],[136.33,36.32],[136.31,36.32],"
                            "[136.31,36.30]]]"),
]


def shelter(n: int, geometry: JsonObject) -> JsonObject:
    body = {"id": f"urn:ngsi-ld:Shelter:{n}", "type": "Shelter",
            "location": {"type": "GeoProperty", "value": geometry}}
    return stamp_new_entity(parse_entity(body, CTX), "2026-01-01T00:00:00.000000Z")


@pytest.fixture
async def store() -> AsyncIterator[PostgresStore]:
    with fresh_schema() as url:
        backend = PostgresStore(url)
        await backend.open()
        try:
            yield backend
        finally:
            await backend.close()


@pytest.mark.parametrize(("georel", "kind", "coordinates"), QUERIES)
async def test_geo_relations_match_shapely(store: PostgresStore, georel: str, kind: str,
                                           coordinates: str) -> None:
    entities = [shelter(n, g) for n, g in enumerate(SHAPES)]
    entities.append(stamp_new_entity(parse_entity(
        {"id": "urn:ngsi-ld:Shelter:none", "type": "Shelter"}, CTX), "2026-01-01T00:00:00Z"))
    await store.apply("t", [(e["id"], lambda old, e=e: e) for e in entities])
    geo = parse_geo_query(georel, kind, coordinates, None, CTX.expand_term)
    page = await store.query_entities("t", EntityQuery(geo=geo, limit=100, count=True))
    expected = {e["id"] for e in entities
                if matches_any(geo, [i["value"] for i in e["attrs"].get(LOCATION, [])])}
    assert {e["id"] for e in page.entities} == expected
    assert page.total == len(expected)


async def test_geo_queries_use_the_gist_indexes(store: PostgresStore) -> None:
    entities = [shelter(n, {"type": "Point", "coordinates": [136.0 + (n % 100) / 100,
                                                             36.0 + (n // 100) / 100]})
                for n in range(3000)]
    await store.apply("t", [(e["id"], lambda old, e=e: e) for e in entities])

    async def plan(georel: str, kind: str, coordinates: str) -> str:
        geo = parse_geo_query(georel, kind, coordinates, None, CTX.expand_term)
        bind = Binder()
        where = where_clause("t", EntityQuery(geo=geo), bind)
        sql = (f"EXPLAIN SELECT e.doc FROM ({matching_entities(geo, bind)}) h "
               f"JOIN entities e ON e.pk = h.pk WHERE {where}")

        async def explain(conn: Any) -> str:
            await conn.execute("ANALYZE")
            rows = await (await conn.execute(sql, bind.values)).fetchall()
            return "\n".join(row[0] for row in rows)
        return await store.read(explain)

    assert "geo_index_geog" in await plan("near;maxDistance==500", "Point", "[136.5,36.5]")
    assert "geo_index_geom" in await plan(
        "within", "Polygon", "[[[136.1,36.1],[136.2,36.1],[136.2,36.2],[136.1,36.1]]]")
