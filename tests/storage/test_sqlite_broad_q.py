"""Broad numeric q on SQLite: the page walked in pk order through the value index
(reads._query_broad) and the count read from the type and value indexes alone
(reads.index_count_sql) must answer exactly what a full scan and the pure q evaluator
answer, on mixed data: several instances (datasetIds), arrays, non-numeric values
(strings, booleans, numeric strings), entities of several types, and two tenants."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.query import evaluate_q, parse_q, parse_type_expression
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery
from cityos.storage.sqlite import reads
from cityos.storage.sqlite.query_sql import compile_q, compile_types
from cityos.storage.sqlite.store import SqliteStore

CTX = core_context()
NOW = "2026-11-26T00:00:00.000000Z"
TENANTS = ("", "other")
QUERIES = ["n>5", "n>=2", "n<3", "n<=0", "n==1..4", "n==1,3,7", "n==2.5", "n>2;n<8",
           "n>3;m>=1", "n>5;label==\"b\"", "m>0", "n>100"]
TYPES = [None, "Thing", "Thing,Other", "Other"]


def _value(rnd: random.Random) -> object:
    return rnd.choice([rnd.randint(0, 9), round(rnd.uniform(0, 9), 1), True, "3", "x",
                       [1, 5, "x"], [7, 7], 3])


def _random_entity(rnd: random.Random, i: int) -> JsonObject:
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:Thing:{i}",
        "type": rnd.choice(["Thing", "Other", ["Thing", "Other"], "Third"]),
        "label": {"type": "Property", "value": rnd.choice(["a", "b"])},
    }
    roll = rnd.random()
    if roll < 0.3:  # several instances, one per datasetId
        body["n"] = [{"type": "Property", "value": _value(rnd)},
                     {"type": "Property", "value": _value(rnd), "datasetId": "urn:d:2"},
                     {"type": "Property", "value": rnd.randint(0, 9), "datasetId": "urn:d:3"}]
    elif roll < 0.85:
        body["n"] = {"type": "Property", "value": _value(rnd)}
    if rnd.random() < 0.5:
        body["m"] = {"type": "Property", "value": rnd.randint(-2, 3)}
    return stamp_new_entity(parse_entity(body, CTX), NOW)


@pytest.fixture(scope="module")
def data() -> dict[str, list[JsonObject]]:
    rnd = random.Random(2611)
    return {tenant: [_random_entity(rnd, i) for i in range(300)] for tenant in TENANTS}


@pytest.fixture
async def store(tmp_path: Path, data: dict[str, list[JsonObject]]) -> SqliteStore:
    store = SqliteStore(str(tmp_path / "broad.db"))
    await store.open()
    for tenant, entities in data.items():
        await store.apply(tenant, [(e["id"], lambda old, e=e: e) for e in entities])
    return store


def _expected(entities: list[JsonObject], q_text: str, types: str | None) -> list[str]:
    q = parse_q(q_text, CTX.expand_term)
    wanted = None if types is None else {CTX.expand_term(t) for t in types.split(",")}
    return [e["id"] for e in entities
            if evaluate_q(q, e) and (wanted is None or wanted & set(e["type"]))]


def _query(q_text: str, types: str | None, **page: int | bool) -> EntityQuery:
    return EntityQuery(q=parse_q(q_text, CTX.expand_term),
                       types=None if types is None else
                       parse_type_expression(types, CTX.expand_term), **page)  # type: ignore[arg-type]


@pytest.mark.parametrize("broad_rows", [1, reads.BROAD_ROWS])
@pytest.mark.parametrize("types", TYPES)
@pytest.mark.parametrize("q_text", QUERIES)
async def test_page_and_count_agree_with_the_evaluator(
        store: SqliteStore, data: dict[str, list[JsonObject]], q_text: str,
        types: str | None, broad_rows: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """broad_rows=1 sends every numeric q down the pk-ordered walk."""
    monkeypatch.setattr(reads, "BROAD_ROWS", broad_rows)
    for tenant in TENANTS:
        expected = _expected(data[tenant], q_text, types)
        for limit, offset in ((20, 0), (7, 5), (1000, 0)):
            page = await store.query_entities(tenant, _query(q_text, types, limit=limit,
                                                             offset=offset, count=True))
            assert [e["id"] for e in page.entities] == expected[offset:offset + limit]
            assert page.total == len(expected)
    await store.close()


@pytest.mark.parametrize("types", ["Thing", "Thing,Other", "Other"])
@pytest.mark.parametrize("q_text", QUERIES)
async def test_index_count_equals_a_full_scan_count(store: SqliteStore, q_text: str,
                                                    types: str) -> None:
    query = _query(q_text, types)
    indexed = reads.index_count_sql("", query)
    q_sql, q_params = compile_q(query.q)  # the JSON predicate alone, no value index
    type_sql, type_params = compile_types(query.types)
    scan = ("SELECT count(*) FROM entities e WHERE e.tenant = ? AND " + type_sql + " AND "
            + q_sql, ["", *type_params, *q_params])

    def work(conn):  # type: ignore[no-untyped-def]
        full = conn.execute(*scan).fetchone()[0]
        return full, None if indexed is None else conn.execute(*indexed).fetchone()[0]
    full, from_index = await store.read(work)
    if indexed is None:  # a q the index does not decide exactly (string equality)
        assert "label" in q_text
    else:
        assert from_index == full
    await store.close()


def test_only_exact_numeric_q_drives_the_broad_walk() -> None:
    from cityos.storage.sqlite.value_index import numeric_driver
    assert numeric_driver(parse_q("n>5;m<2", CTX.expand_term)) is not None
    assert numeric_driver(parse_q('n>5;label=="b"', CTX.expand_term)) is None
    assert numeric_driver(parse_q("n!=5", CTX.expand_term)) is None
    assert numeric_driver(parse_q("n>5|m<2", CTX.expand_term)) is None
