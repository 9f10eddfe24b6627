"""The storage contract: every backend must pass this module unchanged.

Backends are listed in `store` below: SQLite, and PostgreSQL on a fresh schema per test
(skipped without a server outside CI, see tests/postgres_support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from tests.postgres_support import fresh_schema

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import AlreadyExists, BadRequestData
from cityos.ngsild.geo import parse_geo_query
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.query import parse_q, parse_type_expression
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, EntityStore
from cityos.storage.postgres import reads as postgres_reads
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.sqlite.store import SqliteStore

CTX = core_context()
NOW = "2026-11-26T00:00:00.000000Z"


def entity(n: int, kind: str = "Shelter", **extra: object) -> JsonObject:
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:{kind}:{n}", "type": kind,
        "count": {"type": "Property", "value": n},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [136.30 + n * 0.01, 36.30]}},
    }
    body.update(extra)
    return stamp_new_entity(parse_entity(body, CTX), NOW)


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[EntityStore]:
    with ExitStack() as stack:
        backend: EntityStore
        if request.param == "sqlite":
            backend = SqliteStore(str(tmp_path / "contract.db"))
        else:
            backend = PostgresStore(stack.enter_context(fresh_schema()))
        await backend.open()
        try:
            yield backend
        finally:
            await backend.close()


def put(value: JsonObject):  # type: ignore[no-untyped-def]
    return lambda old: value


async def test_insert_get_roundtrip(store: EntityStore) -> None:
    [result] = await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(1)))])
    assert result.ok and result.before is None
    assert await store.get_entity("t", "urn:ngsi-ld:Shelter:1") == entity(1)
    assert await store.get_entity("other", "urn:ngsi-ld:Shelter:1") is None
    assert await store.tenant_exists("t") and not await store.tenant_exists("other")


async def test_failed_mutator_changes_nothing_and_others_proceed(store: EntityStore) -> None:
    def refuse(old: JsonObject | None) -> JsonObject:
        raise AlreadyExists("no")

    results = await store.apply("t", [("urn:ngsi-ld:Shelter:1", refuse),
                                      ("urn:ngsi-ld:Shelter:2", put(entity(2)))])
    assert isinstance(results[0].error, AlreadyExists) and results[1].ok
    assert await store.get_entity("t", "urn:ngsi-ld:Shelter:1") is None
    assert await store.get_entity("t", "urn:ngsi-ld:Shelter:2") is not None


async def test_concurrent_read_modify_write_loses_no_update(store: EntityStore) -> None:
    await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(0)))])

    def increment(old: JsonObject | None) -> JsonObject:
        assert old is not None
        old["attrs"][CTX.expand_term("count")][0]["value"] += 1
        return old

    await asyncio.gather(*(store.apply("t", [("urn:ngsi-ld:Shelter:1", increment)])
                           for _ in range(200)))
    stored = await store.get_entity("t", "urn:ngsi-ld:Shelter:1")
    assert stored is not None
    assert stored["attrs"][CTX.expand_term("count")][0]["value"] == 200


async def test_delete(store: EntityStore) -> None:
    await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(1)))])
    [result] = await store.apply("t", [("urn:ngsi-ld:Shelter:1", lambda old: None)])
    assert result.after is None and result.before is not None
    assert await store.get_entity("t", "urn:ngsi-ld:Shelter:1") is None
    page = await store.query_entities("t", EntityQuery(count=True))
    assert page.total == 0


async def test_query_filters_and_paging(store: EntityStore) -> None:
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n))) for n in range(10)])
    await store.apply("t", [("urn:ngsi-ld:Park:1", put(entity(1, "Park")))])
    types = parse_type_expression("Shelter", CTX.expand_term)
    q = parse_q("count>=5", CTX.expand_term)
    page = await store.query_entities("t", EntityQuery(types=types, q=q, count=True, limit=3))
    assert page.total == 5
    assert [e["id"] for e in page.entities] == [f"urn:ngsi-ld:Shelter:{n}" for n in (5, 6, 7)]
    page2 = await store.query_entities("t", EntityQuery(types=types, q=q, limit=3, offset=3))
    assert [e["id"] for e in page2.entities] == ["urn:ngsi-ld:Shelter:8", "urn:ngsi-ld:Shelter:9"]
    by_id = await store.query_entities("t", EntityQuery(ids=("urn:ngsi-ld:Park:1",)))
    assert [e["id"] for e in by_id.entities] == ["urn:ngsi-ld:Park:1"]
    pattern = await store.query_entities("t", EntityQuery(id_pattern=r"Shelter:[12]$",
                                                          count=True))
    assert pattern.total == 2


async def test_geo_query_is_exact(store: EntityStore) -> None:
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n))) for n in range(10)])
    geo = parse_geo_query("near;maxDistance==2000", "Point", "[136.30,36.30]", None,
                          CTX.expand_term)
    page = await store.query_entities("t", EntityQuery(geo=geo, count=True))
    # 0.01° of longitude at 36.3° N is about 897 m: entities 0, 1 and 2 are within 2 km.
    assert page.total == 3
    assert [e["id"][-1] for e in page.entities] == ["0", "1", "2"]


async def test_near_pages_keep_distance_order(store: EntityStore) -> None:
    # Entities 9 … 0 are written from far to near; 10 and 11 share 2's place (a tie,
    # broken by insertion order) and a Park shares 3's (not of the type asked for).
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n)))
                            for n in range(9, -1, -1)])
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(
        n, location={"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [136.30 + 2 * 0.01, 36.30]}})))
        for n in (10, 11)])
    await store.apply("t", [("urn:ngsi-ld:Park:3", put(entity(3, "Park")))])
    geo = parse_geo_query("near;maxDistance==6000", "Point", "[136.30,36.30]", None,
                          CTX.expand_term)
    types = parse_type_expression("Shelter", CTX.expand_term)
    pages = [await store.query_entities("t", EntityQuery(types=types, geo=geo, limit=3,
                                                         offset=offset, count=True))
             for offset in (0, 3, 6)]
    assert [p.total for p in pages] == [9, 9, 9]
    assert [e["id"].rsplit(":", 1)[1] for p in pages for e in p.entities] == \
        ["0", "1", "2", "10", "11", "3", "4", "5", "6"]


async def test_near_pages_past_many_nearer_entities_filtered_out(store: EntityStore) -> None:
    """Seventy Parks lie nearer than any Shelter, and only every third Shelter passes q:
    the nearest entities found first are all filtered out, yet the pages are exact."""
    def place(n: int, kind: str, metres: float) -> JsonObject:
        return entity(n, kind, location={"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": [136.30 + metres / 89_700, 36.30]}})
    await store.apply("t", [(f"urn:ngsi-ld:Park:{n}", put(place(n, "Park", 10 + n)))
                            for n in range(70)])
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(place(n, "Shelter", 500 + n)))
                            for n in range(30)])
    geo = parse_geo_query("near;maxDistance==2000", "Point", "[136.30,36.30]", None,
                          CTX.expand_term)
    types = parse_type_expression("Shelter", CTX.expand_term)
    q = parse_q("count<30", CTX.expand_term)
    shelters = [await store.query_entities("t", EntityQuery(types=types, geo=geo, limit=4,
                                                            offset=offset))
                for offset in (0, 4, 28)]
    assert [[e["id"].rsplit(":", 1)[1] for e in p.entities] for p in shelters] == \
        [["0", "1", "2", "3"], ["4", "5", "6", "7"], ["28", "29"]]
    every_third = parse_q("count==0,3,6,9,12", CTX.expand_term)
    page = await store.query_entities("t", EntityQuery(types=types, q=every_third, geo=geo,
                                                       limit=3, offset=1, count=True))
    assert [e["id"].rsplit(":", 1)[1] for e in page.entities] == ["3", "6", "9"]
    assert page.total == 5
    nearest = await store.query_entities("t", EntityQuery(q=q, geo=geo, limit=2))
    assert [e["id"] for e in nearest.entities] == ["urn:ngsi-ld:Park:0", "urn:ngsi-ld:Park:1"]


@pytest.mark.parametrize("walk_first", [64, 8])
async def test_broad_numeric_q_pages_past_many_matching_values_of_other_types(
        store: EntityStore, walk_first: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """700 Parks and another tenant's 300 Shelters satisfy `count>=5` before any of this
    tenant's Shelters do (in insertion order): the pages of Shelters are still exact, with
    array values (an entity with several matching values is listed once), an AND of
    numeric terms, offsets and a page past the end. (PostgreSQL walks the values in
    steps; with short steps it gives up on the walk and runs the whole query.)"""
    monkeypatch.setattr(postgres_reads, "WALK_FIRST", walk_first)
    def counting(n: int, value: object, kind: str = "Shelter") -> JsonObject:
        return entity(n, kind, count={"type": "Property", "value": value})
    await store.apply("t", [(f"urn:ngsi-ld:Park:{n}", put(counting(n, 1000 + n, "Park")))
                            for n in range(700)])
    await store.apply("u", [(f"urn:ngsi-ld:Shelter:{n}", put(counting(n, 2000 + n)))
                            for n in range(300)])
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(counting(
        n, [n, n + 5000] if n % 3 == 0 else n))) for n in range(40)])
    types = parse_type_expression("Shelter", CTX.expand_term)

    async def page(q: str, limit: int, offset: int = 0) -> list[str]:
        found = await store.query_entities("t", EntityQuery(
            types=types, q=parse_q(q, CTX.expand_term), limit=limit, offset=offset))
        return [e["id"].rsplit(":", 1)[1] for e in found.entities]

    every = [str(n) for n in range(40) if n >= 5 or n % 3 == 0]
    assert await page("count>=5", 10) == every[:10]
    assert await page("count>=5", 10, offset=10) == every[10:20]
    assert await page("count>=5", 10, offset=30) == every[30:]
    assert await page("count>=5", 10, offset=40) == []
    assert await page("count>=5;count<20", 5, offset=3) == \
        [str(n) for n in range(40) if 5 <= n < 20 or n % 3 == 0][3:8]
    assert await page("count>100000", 10) == []
    parks = await store.query_entities("t", EntityQuery(q=parse_q("count>=1690",
                                                                  CTX.expand_term), limit=3))
    assert [e["id"] for e in parks.entities] == [f"urn:ngsi-ld:Park:{n}"
                                                 for n in (690, 691, 692)]


async def test_within_pages_keep_insertion_order(store: EntityStore) -> None:
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n)))
                            for n in (5, 1, 7, 3, 9, 2)])
    geo = parse_geo_query("within", "Polygon",
                          "[[[136.305,36.29],[136.375,36.29],[136.375,36.31],"
                          "[136.305,36.31],[136.305,36.29]]]", None, CTX.expand_term)
    pages = [await store.query_entities("t", EntityQuery(geo=geo, limit=2, offset=offset,
                                                         count=True))
             for offset in (0, 2, 4)]
    assert [p.total for p in pages] == [5, 5, 5]  # 9 lies east of the polygon
    assert [e["id"].rsplit(":", 1)[1] for p in pages for e in p.entities] == \
        ["5", "1", "7", "3", "2"]


async def test_geo_index_follows_updates(store: EntityStore) -> None:
    await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(1)))])
    await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(50)))])
    near_old = parse_geo_query("near;maxDistance==100", "Point", "[136.31,36.30]", None,
                               CTX.expand_term)
    assert (await store.query_entities("t", EntityQuery(geo=near_old, count=True))).total == 0


async def test_summaries(store: EntityStore) -> None:
    await store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n))) for n in range(3)])
    [summary] = await store.type_summaries("t")
    assert summary.entity_count == 3
    assert summary.attributes[CTX.expand_term("location")] == {"GeoProperty"}
    attrs = {a.attribute_iri: a for a in await store.attribute_summaries("t")}
    assert attrs[CTX.expand_term("count")].count == 3


def test_bad_entity_is_rejected_before_storage() -> None:
    with pytest.raises(BadRequestData):
        parse_entity({"id": "urn:x:1", "type": "T", "a": {"type": "Relationship",
                                                          "object": "not a uri"}}, CTX)


async def test_unexpected_failure_of_one_write_spares_the_others(store: EntityStore) -> None:
    def broken(old: JsonObject | None) -> JsonObject:
        raise RuntimeError("a bug in one writer")

    writes = [store.apply("t", [(f"urn:ngsi-ld:Shelter:{n}", put(entity(n)))]) for n in range(20)]
    failing = store.apply("t", [("urn:ngsi-ld:Shelter:bad", broken)])
    results = await asyncio.gather(*writes, failing, return_exceptions=True)
    assert isinstance(results[-1], RuntimeError)
    assert all(isinstance(r, list) and r[0].ok for r in results[:-1])
    page = await store.query_entities("t", EntityQuery(count=True))
    assert page.total == 20


async def test_expiring_entities_lists_what_is_due_earliest_first(store: EntityStore) -> None:
    from datetime import UTC, datetime
    soon = entity(1, expiresAt="2030-01-01T00:00:00Z")
    sooner = entity(2, count={"type": "Property", "value": 2,
                              "expiresAt": "2029-01-01T00:00:00.5Z"})
    never = entity(3)
    await store.apply("t", [(e["id"], put(e)) for e in (soon, sooner, never)])
    await store.apply("u", [(soon["id"], put(soon))])
    due = await store.expiring_entities(datetime(2031, 1, 1, tzinfo=UTC), 10)
    assert due[0] == ("t", sooner["id"])
    assert sorted(due[1:]) == [("t", soon["id"]), ("u", soon["id"])]
    assert await store.expiring_entities(datetime(2029, 1, 1, tzinfo=UTC), 10) == []
    assert len(await store.expiring_entities(datetime(2031, 1, 1, tzinfo=UTC), 1)) == 1
    # Dropping the expiry or the entity takes it off the list.
    await store.apply("t", [(soon["id"], put(entity(1))), (sooner["id"], lambda old: None)])
    assert await store.expiring_entities(datetime(2031, 1, 1, tzinfo=UTC), 10) == \
        [("u", soon["id"])]


async def test_a_closed_store_opens_again_with_its_entities(store: EntityStore) -> None:
    # An app's lifespan may run more than once on the same store object.
    await store.apply("t", [("urn:ngsi-ld:Shelter:1", put(entity(1)))])
    await store.close()
    await store.open()
    assert await store.get_entity("t", "urn:ngsi-ld:Shelter:1") == entity(1)
