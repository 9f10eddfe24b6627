"""The attribute value index must never change a query's answer: for every q it serves,
the store returns exactly the entities the pure q evaluator accepts."""

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
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.value_index import index_prefilter

CTX = core_context()
NOW = "2026-11-26T00:00:00.000000Z"
QUERIES = ["n==3", "n>5", "n>=5", "n<2", "n<=2", "n==1..4", "n==1,3,7", "n==2.5",
           "n>5;n<8", "n>5;label==\"b\"", "label==\"a\"", "label==\"b\";n<9", "rel==urn:x:3",
           "tags==\"red\"", "words==\"hallo\"", "n==true", "n!=3", "n>5|label==\"a\""]


def _random_entity(rnd: random.Random, i: int) -> JsonObject:
    n_value = rnd.choice([rnd.randint(0, 9), rnd.uniform(0, 9), True, "3", [1, 5, "x"], 3])
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:Thing:{i}", "type": "Thing",
        "n": [{"type": "Property", "value": n_value},
              {"type": "Property", "value": rnd.randint(0, 9), "datasetId": "urn:d:2"}]
        if rnd.random() < 0.2 else {"type": "Property", "value": n_value},
        "label": {"type": "Property", "value": rnd.choice(["a", "b", "c"])},
        "rel": {"type": "Relationship", "object": f"urn:x:{rnd.randint(0, 5)}"},
        "tags": {"type": "ListProperty", "valueList": rnd.sample(["red", "blue", 4, 7.5], 2)},
        "words": {"type": "LanguageProperty", "languageMap": {"de": rnd.choice(["hallo", "x"]),
                                                              "en": "hello"}},
    }
    if rnd.random() < 0.3:
        del body["n"]
    return stamp_new_entity(parse_entity(body, CTX), NOW)


def _put(entity: JsonObject):  # type: ignore[no-untyped-def]
    return lambda old: entity


@pytest.fixture
async def loaded(tmp_path: Path) -> tuple[SqliteStore, list[JsonObject]]:
    rnd = random.Random(2026)
    entities = [_random_entity(rnd, i) for i in range(400)]
    store = SqliteStore(str(tmp_path / "values.db"))
    await store.open()
    await store.apply("", [(e["id"], _put(e)) for e in entities])
    return store, entities


@pytest.mark.parametrize("text", QUERIES)
async def test_indexed_query_agrees_with_evaluator(loaded: tuple[SqliteStore, list[JsonObject]],
                                                   text: str) -> None:
    store, entities = loaded
    q = parse_q(text, CTX.expand_term)
    types = parse_type_expression("Thing", CTX.expand_term)
    page = await store.query_entities("", EntityQuery(types=types, q=q, limit=1000,
                                                      count=True))
    expected = {e["id"] for e in entities if evaluate_q(q, e)}
    assert {e["id"] for e in page.entities} == expected
    assert page.total == len(expected)
    await store.close()


def test_numeric_comparisons_are_served_exactly_by_the_index() -> None:
    plan = index_prefilter(parse_q("n>5;n<8", CTX.expand_term))
    assert plan is not None and plan[2] is True
    string_plan = index_prefilter(parse_q('label=="a"', CTX.expand_term))
    assert string_plan is not None and string_plan[2] is False
    assert index_prefilter(parse_q("n!=3", CTX.expand_term)) is None
