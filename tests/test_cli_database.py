"""`cityos export` / `cityos import` move a tenant between backends losslessly, and
`cityos db migrate` prepares a PostgreSQL database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import psycopg
from click.testing import CliRunner

from cityos.cli import main
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity, parse_fragment
from cityos.ngsild.model.changes import stamp_new_entity, update_attributes
from cityos.ngsild.types import JsonObject
from cityos.storage.sqlite.store import SqliteStore
from tests.postgres_support import fresh_schema

CTX = core_context()
TENANT = "kaga"


def rich_entity(n: int) -> JsonObject:
    """An entity using every attribute kind, datasetIds, sub-attributes, scope, names
    inside and outside the core @context, and differing timestamps."""
    body = {
        "id": f"urn:ngsi-ld:EvacuationShelter:{n}", "type": ["EvacuationShelter", "Building"],
        "scope": ["/Kaga/Daishoji", "/Kaga"],
        "name": {"type": "LanguageProperty", "languageMap": {"ja": "大聖寺小学校",
                                                             "en": "Daishoji School"}},
        "capacity": [{"type": "Property", "value": 85 + n, "unitCode": "C62",
                      "observedAt": "2026-05-01T08:00:00.000000Z",
                      "reliability": {"type": "Property", "value": 0.9,
                                      "source": {"type": "Relationship",
                                                 "object": "urn:ngsi-ld:Survey:1"}}},
                     {"type": "Property", "value": 90,
                      "datasetId": "urn:ngsi-ld:Dataset:survey"}],
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [136.3 + n / 1000, 36.3]}},
        "operator": {"type": "Relationship", "object": "urn:ngsi-ld:Organization:kaga",
                     "objectType": "Organization"},
        "category": {"type": "VocabProperty", "vocab": "school"},
        "config": {"type": "JsonProperty", "json": {"heating": True, "rooms": [1, 2]}},
        "readings": {"type": "ListProperty", "valueList": [1, 2.5, "x"]},
        "staff": {"type": "ListRelationship",
                  "objectList": [{"object": "urn:ngsi-ld:Person:1"}]},
        "http://example.org/ns#note": {"type": "Property", "value": "outside the context"},
    }
    entity = stamp_new_entity(parse_entity(body, CTX), "2026-01-01T00:00:00.000000Z")
    change = parse_fragment({"capacity": {"type": "Property", "value": 70}}, CTX)
    updated, _ = update_attributes(entity, change, "2026-02-01T12:30:00.500000Z")
    return updated


async def _fill(path: Path, entities: list[JsonObject]) -> None:
    store = SqliteStore(str(path))
    await store.open()
    await store.apply(TENANT, [(e["id"], lambda old, e=e: e) for e in entities])
    await store.close()


async def _stored(path: Path) -> list[JsonObject]:
    store = SqliteStore(str(path))
    await store.open()
    from cityos.storage.base import EntityQuery
    page = await store.query_entities(TENANT, EntityQuery(limit=1000))
    await store.close()
    return page.entities


def run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_round_trip_sqlite_postgresql_sqlite(tmp_path: Path) -> None:
    originals = [rich_entity(n) for n in range(30)]
    source, target = tmp_path / "source.db", tmp_path / "target.db"
    asyncio.run(_fill(source, originals))
    files = [tmp_path / f"export{n}.jsonl" for n in range(3)]
    with fresh_schema() as postgres:
        assert "30 entities" in run("export", "--tenant", TENANT, "--database",
                                    f"sqlite:///{source}", str(files[0]))
        assert "imported 30" in run("import", "--tenant", TENANT, "--database", postgres,
                                    str(files[0]))
        run("export", "--tenant", TENANT, "--database", postgres, str(files[1]))
    run("import", "--tenant", TENANT, "--database", f"sqlite:///{target}", str(files[1]))
    run("export", "--tenant", TENANT, "--database", f"sqlite:///{target}", str(files[2]))
    # Same entities, line by line (JSONB keeps object members in its own order, and JSON
    # objects are unordered, so bytes may differ).
    exported = [[orjson.loads(line) for line in f.read_bytes().splitlines()] for f in files]
    assert exported[0] == exported[1] == exported[2] and len(exported[0]) == 30
    assert asyncio.run(_stored(target)) == originals


def test_import_reports_lines_that_are_no_entity(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "urn:ngsi-ld:X:1", "type": "X"}\n{"type": "X"}\n\n')
    result = CliRunner().invoke(main, ["import", "--database",
                                       f"sqlite:///{tmp_path / 'x.db'}", str(bad)])
    assert result.exit_code == 1
    assert "imported 1 entities" in result.output and "1 refused" in result.output
    assert "line 2" in result.output


def test_db_migrate_creates_the_schema_once() -> None:
    with fresh_schema() as postgres:
        first = run("db", "migrate", "--database", postgres)
        assert "applied 0001_entities" in first
        assert "up to date" in run("db", "migrate", "--database", postgres)
        with psycopg.connect(postgres) as conn:
            assert conn.execute("SELECT count(*) FROM entities").fetchone() == (0,)
