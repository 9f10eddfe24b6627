"""The PostgreSQL SQL compiled from q / scopeQ / type ASTs selects exactly the entities the
Python evaluator accepts (ETSI GS CIM 009 clauses 4.9, 4.17, 4.19), with and without the
value index leading. Entities and query strategies are shared with the SQLite tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence

import orjson
import psycopg
import pytest
from hypothesis import given
from tests.postgres_support import fresh_schema
from tests.storage.test_sqlite_query_sql import (
    ENTITIES,
    PROPERTY_SETTINGS,
    Q_CASES,
    Entity,
    entities,
    expand,
    queries,
    scope_queries,
    type_queries,
)

from cityos.ngsild.query import (
    AttrPath,
    Comparison,
    Op,
    QNode,
    ScopeNode,
    TypeNode,
    evaluate_q,
    evaluate_scope_q,
    evaluate_types,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)
from cityos.storage.base import EntityQuery
from cityos.storage.postgres.binder import Binder
from cityos.storage.postgres.migrate import migrate_database
from cityos.storage.postgres.query_sql import compile_q, compile_scope_q, compile_types
from cityos.storage.postgres.reads import where_clause
from cityos.storage.postgres.value_index import value_rows

Compile = Callable[[Binder], str]


@pytest.fixture(scope="module")
def conn() -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    with fresh_schema() as url:
        asyncio.run(migrate_database(url))
        with psycopg.connect(url, autocommit=True) as connection:
            yield connection


def load(conn: psycopg.Connection[tuple[object, ...]], ents: Sequence[Entity]) -> None:
    conn.execute("TRUNCATE entities CASCADE")
    for entity in ents:
        entity = {"attrs": {}, **entity}
        for tenant in ("t", "other"):  # a second tenant must never leak into results
            row = conn.execute(
                "INSERT INTO entities (tenant, id, types, doc, created_at, modified_at) "
                "VALUES (%s, %s, %s, %s::jsonb, 'c', 'm') RETURNING pk",
                (tenant, entity["id"], entity["type"], orjson.dumps(entity).decode())
            ).fetchone()
            assert row is not None
            rows = [(row[0], *r) for rs in value_rows(entity).values() for r in rs]
            with conn.cursor() as cursor:
                cursor.executemany("INSERT INTO attr_values (pk, attr, num, txt) "
                                   "VALUES (%s, %s, %s, %s)", rows)


def sql_ids(conn: psycopg.Connection[tuple[object, ...]], compile_where: Compile) -> set[str]:
    bind = Binder()
    where = compile_where(bind)
    rows = conn.execute(f"SELECT e.id FROM entities e WHERE e.tenant = 't' AND {where}",
                        bind.values).fetchall()
    return {str(row[0]) for row in rows}


def python_ids(ents: Sequence[Entity], accept: Callable[[Entity], bool]) -> set[str]:
    return {e["id"] for e in ents if accept(e)}


def check_q(conn: psycopg.Connection[tuple[object, ...]], ents: Sequence[Entity],
            node: QNode) -> None:
    expected = python_ids(ents, lambda e: evaluate_q(node, e))
    assert sql_ids(conn, lambda bind: compile_q(node, bind)) == expected
    indexed = sql_ids(conn, lambda bind: where_clause("t", EntityQuery(q=node), bind))
    assert indexed == expected


@pytest.mark.parametrize("text", Q_CASES)
def test_q_sql_matches_python(conn: psycopg.Connection[tuple[object, ...]],
                              text: str) -> None:
    load(conn, ENTITIES)
    check_q(conn, ENTITIES, parse_q(text, expand))


def test_no_value_or_name_is_pasted_into_sql() -> None:
    evil = "x'' OR 1=1; DROP TABLE entities; --"
    for text in (f'brandName=="{evil}"', f'brandName~="{evil}"', "speed==7",
                 'address[street]=="Gran Via"', "speed.accuracy<1"):
        bind = Binder()
        where = compile_q(parse_q(text, expand), bind)
        assert "DROP" not in where and "brandName" not in where and "7" not in where
        assert "street" not in where and "accuracy" not in where and bind.values
    bind = Binder()
    assert "Vehicle" not in compile_types(parse_type_expression("Vehicle", expand), bind)
    assert "Madrid" not in compile_scope_q(parse_scope_q("/Madrid/+"), bind)


def test_names_with_quotes_and_backslashes_are_queryable(
        conn: psycopg.Connection[tuple[object, ...]]) -> None:
    name = 'http://example.org/a"b\\c'
    ents: list[Entity] = [{"id": "urn:q:1", "type": ["http://example.org/T"],
                           "attrs": {name: [{"type": "Property", "value": {"k\"": 5}}]}}]
    load(conn, ents)
    node = Comparison(AttrPath(name, keys=('k"',)), Op.EQ, 5)
    assert sql_ids(conn, lambda bind: compile_q(node, bind)) == {"urn:q:1"}


def test_invalid_postgres_pattern_matches_nothing(
        conn: psycopg.Connection[tuple[object, ...]]) -> None:
    load(conn, ENTITIES)
    node = parse_q('brandName~="(?P<x>M)"', expand)
    assert sql_ids(conn, lambda bind: compile_q(node, bind)) == set()


@PROPERTY_SETTINGS
@given(entities(), queries)
def test_property_q_sql_equals_python(conn: psycopg.Connection[tuple[object, ...]],
                                      ents: list[Entity], node: QNode) -> None:
    load(conn, ents)
    check_q(conn, ents, node)


@PROPERTY_SETTINGS
@given(entities(with_attrs=False), scope_queries)
def test_property_scope_sql_equals_python(conn: psycopg.Connection[tuple[object, ...]],
                                          ents: list[Entity], node: ScopeNode) -> None:
    load(conn, ents)
    assert sql_ids(conn, lambda bind: compile_scope_q(node, bind)) == python_ids(
        ents, lambda e: evaluate_scope_q(node, e["scope"]))


@PROPERTY_SETTINGS
@given(entities(with_attrs=False), type_queries)
def test_property_types_sql_equals_python(conn: psycopg.Connection[tuple[object, ...]],
                                          ents: list[Entity], node: TypeNode) -> None:
    load(conn, ents)
    assert sql_ids(conn, lambda bind: compile_types(node, bind)) == python_ids(
        ents, lambda e: evaluate_types(node, e["type"]))
