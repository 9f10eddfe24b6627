"""Set-based batch writes on PostgreSQL (cityos.storage.postgres.batch / batch_rows): a
batch leaves every table (entities, value index, geo index, temporal history, change
journal) exactly as the same changes applied one entity at a time do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, ExitStack
from typing import Any

import psycopg
import pytest
from tests.postgres_support import fresh_schema

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, Mutator
from cityos.storage.postgres.delivery_log import PostgresDeliveryLog
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.postgres.temporal import PostgresTemporalStore

CTX = core_context()
NOW = "2026-11-26T00:00:00.000000Z"
LATER = "2026-11-26T01:00:00.000000Z"


def sensor(n: int, *, value: object = None, lon: float | None = None,
           kind: str = "Sensor", stamp: str = NOW, **extra: object) -> JsonObject:
    body: dict[str, object] = {"id": f"urn:ngsi-ld:Sensor:{n}", "type": kind, **extra}
    if value is not None:
        body["count"] = {"type": "Property", "value": value}
    if lon is not None:
        body["location"] = {"type": "GeoProperty",
                            "value": {"type": "Point", "coordinates": [lon, 36.3]}}
    return stamp_new_entity(parse_entity(body, CTX), stamp)


def put(value: JsonObject) -> Mutator:
    return lambda old: value


def delete(old: JsonObject | None) -> JsonObject | None:
    return None


def refuse(old: JsonObject | None) -> JsonObject | None:
    raise BadRequestData("refused by the test")


class Backend:
    """A PostgresStore with its temporal history and an active change journal."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.store = PostgresStore(url)
        self.history = PostgresTemporalStore(self.store)
        self.journal = PostgresDeliveryLog(self.store)
        self.journal.set_journal_active(True)

    def tables(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every table a write fills, keyed by entity id instead of internal keys."""
        queries = {
            "entities": "SELECT id, types, doc, created_at, modified_at, expires_at "
                        "FROM entities ORDER BY pk",
            "attr_values": "SELECT e.id, v.attr, v.num, v.txt FROM attr_values v "
                           "JOIN entities e USING (pk) ORDER BY 1, 2, 3, 4",
            "geo_index": "SELECT e.id, g.attr, ST_AsText(g.geom) FROM geo_index g "
                         "JOIN entities e USING (pk) ORDER BY 1, 2, 3",
            "temporal_entities": "SELECT id, types FROM temporal_entities ORDER BY id",
            "temporal_series": "SELECT e.id, a.iri, s.dataset FROM temporal_series s "
                               "JOIN temporal_entities e USING (ek) "
                               "JOIN temporal_attributes a USING (ak) ORDER BY 1, 2, 3",
            # a deletion is stamped with the time it was recorded
            "temporal_instances": "SELECT e.id, a.iri, i.observed, i.deleted IS NULL, "
                                  "CASE WHEN i.deleted IS NULL THEN i.created END, "
                                  "CASE WHEN i.deleted IS NULL THEN i.modified END, "
                                  "i.dataset, i.num, i.doc "
                                  "FROM temporal_instances i JOIN temporal_entities e USING (ek) "
                                  "JOIN temporal_attributes a USING (ak) ORDER BY i.ik",
            # as jsonb: a document read back from the database has jsonb's key order
            "change_journal": "SELECT entity_id, before::jsonb, after::jsonb "
                              "FROM change_journal ORDER BY seq",
        }
        with psycopg.connect(self.url) as conn:
            return {name: conn.execute(sql).fetchall() for name, sql in queries.items()}


@pytest.fixture
async def backends() -> AsyncIterator[tuple[Backend, Backend]]:
    """(batched, one at a time): two fresh schemas."""
    with ExitStack() as schemas:
        pair = (Backend(schemas.enter_context(fresh_schema())),
                Backend(schemas.enter_context(fresh_schema())))
        async with AsyncExitStack() as opened:
            for backend in pair:
                await backend.store.open()
                opened.push_async_callback(backend.store.close)
            yield pair


async def apply_both(pair: tuple[Backend, Backend],
                     mutations: Sequence[tuple[str, Mutator]]) -> None:
    batched, single = pair
    results = await batched.store.apply("t", mutations)
    expected = [(await single.store.apply("t", [m]))[0] for m in mutations]
    assert [(r.entity_id, r.before, r.after, type(r.error)) for r in results] == \
        [(r.entity_id, r.before, r.after, type(r.error)) for r in expected]


def ids(n: int) -> str:
    return f"urn:ngsi-ld:Sensor:{n}"


async def test_a_mixed_batch_writes_what_single_writes_write(
        backends: tuple[Backend, Backend]) -> None:
    await apply_both(backends, [(ids(n), put(sensor(n, value=n, lon=136.3 + n / 100)))
                                for n in range(1, 5)])
    await apply_both(backends, [
        (ids(1), put(sensor(1, value=10, lon=136.5, stamp=LATER))),  # value and place
        (ids(2), put(sensor(2, value=2.5, lon=136.32, stamp=LATER))),  # value only
        (ids(3), delete),  # gone, rows by cascade
        (ids(3), put(sensor(3, value=30, lon=136.6, kind="Pump"))),  # back: a new entity
        (ids(4), delete),
        (ids(5), put(sensor(5, value=5, lon=136.7))),  # created …
        (ids(5), put(sensor(5, value=6, kind="Pump", stamp=LATER))),  # … changed, no place
        (ids(6), put(sensor(6, value=6))),  # created …
        (ids(6), delete),  # … and deleted in the same batch: nothing stays
        (ids(7), refuse),  # refused alone
        (ids(8), put(sensor(8, value="eight", lon=136.8))),
    ])
    batched, single = backends
    for name, rows in batched.tables().items():
        assert rows == single.tables()[name], name
    page = await batched.store.query_entities("t", EntityQuery(limit=10))
    assert [e["id"] for e in page.entities] == [ids(1), ids(2), ids(3), ids(5), ids(8)]


async def test_a_batch_without_numbers_nor_places_writes_null_columns(
        backends: tuple[Backend, Backend]) -> None:
    await apply_both(backends, [(ids(n), put(sensor(n, value=f"v{n}"))) for n in range(3)])
    await apply_both(backends, [(ids(n), put(sensor(n, value=[True, f"w{n}"], stamp=LATER)))
                                for n in range(3)])
    await apply_both(backends, [(ids(0), delete), (ids(1), delete)])
    batched, single = backends
    assert batched.tables() == single.tables()
    assert [row[0] for row in batched.tables()["entities"]] == [ids(2)]


async def test_an_unchanged_batch_writes_no_history(backends: tuple[Backend, Backend]) -> None:
    entities = [sensor(n, value=n, lon=136.3) for n in range(3)]
    await apply_both(backends, [(e["id"], put(e)) for e in entities])
    before = backends[0].tables()
    await apply_both(backends, [(e["id"], put(e)) for e in entities])
    after = backends[0].tables()
    assert after["temporal_instances"] == before["temporal_instances"]
    assert after == backends[1].tables()
