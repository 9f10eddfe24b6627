"""The SQL compiled from q / scopeQ / type ASTs selects exactly the entities the Python
evaluator accepts (ETSI GS CIM 009 clauses 4.9, 4.17, 4.19)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cityos.ngsild.errors import InvalidRequest, NgsiLdError
from cityos.ngsild.query import (
    Absence,
    And,
    AttrPath,
    Comparison,
    DateTimeValue,
    Existence,
    Op,
    Or,
    QNode,
    Scalar,
    ScopeAnd,
    ScopeNode,
    ScopeOr,
    ScopePattern,
    TypeAnd,
    TypeName,
    TypeNode,
    TypeOr,
    ValueList,
    ValueRange,
    evaluate_q,
    evaluate_scope_q,
    evaluate_types,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)
from cityos.storage.sqlite.query_sql import (
    compile_q,
    compile_scope_q,
    compile_types,
    register_sql_functions,
)

SCHEMA = """
CREATE TABLE entities (pk INTEGER PRIMARY KEY, tenant TEXT NOT NULL, id TEXT NOT NULL,
    doc TEXT NOT NULL, created_at TEXT NOT NULL, modified_at TEXT NOT NULL,
    UNIQUE (tenant, id));
CREATE TABLE entity_types (pk INTEGER NOT NULL, tenant TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY (tenant, type, pk)) WITHOUT ROWID;
"""
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"
Entity = dict[str, Any]


def expand(term: str) -> str:
    return term if ":" in term else DEFAULT + term


def d(term: str) -> str:
    return DEFAULT + term


@contextmanager
def database(entities: Sequence[Entity]) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:")
    register_sql_functions(conn)
    conn.executescript(SCHEMA)
    for entity in entities:
        for tenant in ("t", "other"):  # a second tenant must never leak into results
            cur = conn.execute(
                "INSERT INTO entities (tenant, id, doc, created_at, modified_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (tenant, entity["id"], orjson.dumps(entity).decode(), "c", "m"))
            conn.executemany("INSERT INTO entity_types (pk, tenant, type) VALUES (?, ?, ?)",
                             [(cur.lastrowid, tenant, t) for t in entity["type"]])
    try:
        yield conn
    finally:
        conn.close()


def sql_ids(conn: sqlite3.Connection, fragment: tuple[str, list[object]]) -> set[str]:
    where, params = fragment
    rows = conn.execute("SELECT e.id FROM entities e WHERE e.tenant = ? AND " + where,
                        ["t", *params])
    return {row[0] for row in rows}


def python_ids(entities: Sequence[Entity], accept: Callable[[Entity], bool]) -> set[str]:
    return {e["id"] for e in entities if accept(e)}


# ---------------------------------------------------------------- hand-written entities

def prop(value: Any, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value, **extra}


ENTITIES: list[Entity] = [
    {"id": "urn:e:1", "type": [d("Vehicle"), d("Thing")], "scope": ["/Madrid/Gardens/North"],
     "attrs": {
         d("speed"): [prop(80, unitCode="KMH", observedAt="2018-12-04T12:00:00Z",
                           attrs={d("accuracy"): prop(0.5)}),
                      prop(120, datasetId="urn:ds:gps", observedAt="2018-12-04T12:00:00.25Z")],
         d("brandName"): [prop("Mercedes")],
         d("name"): [{"type": "LanguageProperty",
                      "languageMap": {"en": "Car", "zh-Hant": ["車", "汽車"]}}],
         d("colors"): [prop(["blue", "red", 3, True, None, [1], {"k": 1}])],
         d("address"): [prop({"street": "Gran Via", "geo": {"zip": "28013"}})],
         d("isParked"): [{"type": "Relationship", "object": "urn:p:1",
                          "attrs": {d("by"): {"type": "Relationship", "object": "urn:b"}}}],
         "http://example.org/ns#weight": [prop(1500)],
     }},
    {"id": "urn:e:2", "type": [d("Vehicle")], "scope": ["/Madrid", "/Spain"],
     "attrs": {
         d("speed"): [prop(50, observedAt="2018-12-05T00:00:00.000000Z")],
         d("brandName"): [prop("Audi")],
         d("config"): [{"type": "JsonProperty", "json": {"mode": "eco", "level": 3}}],
         d("readings"): [{"type": "ListProperty", "valueList": [1, 2.5, "x"]}],
         d("category"): [{"type": "VocabProperty", "vocab": d("commercial")}],
         d("people"): [{"type": "ListRelationship", "objectList": ["urn:a", "urn:b"]}],
         d("active"): [prop(True)], d("code"): [prop("1")], d("empty"): [prop([])],
     }},
    {"id": "urn:e:3", "type": [d("Bus")], "attrs": {d("nothing"): []}},
    {"id": "urn:e:4", "type": [d("Thing")], "scope": ["/Spain/Madrid"]},
]

Q_CASES = [
    "speed==80", "speed!=80", "speed>60", "speed<=50", "speed==40..90", "speed!=40..90",
    "speed==1,50", "speed!=80,120", 'speed=="80"', "speed==80.0", 'brandName=="Audi"',
    'brandName>"B"', 'brandName~="^Me"', 'brandName!~="^Me"', "name==車", "name==Car",
    "name[en]==Car", 'name~="汽"', "name!=Car", "colors==red", "colors==3", "colors==true",
    "colors!=green", "colors==1", "colors[k]==1", 'address[street]=="Gran Via"',
    'address[geo.zip]=="28013"', "address!=x", "address[geo]", "isParked==urn:p:1",
    "isParked.by==urn:b", "isParked.by", 'speed.unitCode=="KMH"', "speed.datasetId",
    "speed.observedAt>=2018-12-04T12:00:00.1Z", "speed.observedAt==2018-12-04T12:00:00Z",
    "speed.observedAt!=2018-12-04T12:00:00Z",
    "speed.observedAt==2018-12-04T00:00:00Z..2018-12-04T23:00:00Z",
    "speed.observedAt==2018-12-05T00:00:00Z,2018-12-04T12:00:00Z", "speed.accuracy<1",
    "config[mode]==eco", "config[level]>=3", "readings==2.5", "readings==x", "readings!=1",
    f"category=={d('commercial')}", "people==urn:b", "active==true", "active!=true",
    "code==1", 'code=="1"', "empty!=1", "empty==1", "nothing", "nothing!=1", "speed",
    "missing", "missing!=1", "http://example.org/ns#weight>1000",
    "speed==80;brandName==Mercedes", "speed==50|name==Car", "(speed>100|active);speed",
    'colors~="^(blue|green)$"', 'colors!~="^r"',
    "!speed", "!missing", "!nothing", "!isParked.by", "!speed.datasetId", "!address[geo]",
    "!name[en]", "!speed.observedAt", "!speed;brandName", "!speed|speed>100", "(!active;!speed)",
]


@pytest.mark.parametrize("text", Q_CASES)
def test_q_sql_matches_python(text: str) -> None:
    node = parse_q(text, expand)
    with database(ENTITIES) as conn:
        assert sql_ids(conn, compile_q(node)) == python_ids(
            ENTITIES, lambda e: evaluate_q(node, e))


def test_q_examples_select_the_expected_entities() -> None:
    with database(ENTITIES) as conn:
        def ids(text: str) -> set[str]:
            return sql_ids(conn, compile_q(parse_q(text, expand)))
        assert ids("speed>60") == {"urn:e:1"}
        assert ids("speed!=80") == {"urn:e:1", "urn:e:2"}  # e:1 also has a 120 instance
        assert ids("name==車") == {"urn:e:1"}
        assert ids("speed.observedAt>=2018-12-04T12:00:00.1Z") == {"urn:e:1", "urn:e:2"}
        assert ids("readings==x|config[mode]==eco") == {"urn:e:2"}
        every = {e["id"] for e in ENTITIES}
        for text in ("speed", "isParked.by", "address[geo]", "nothing"):
            present = ids(text)
            assert ids("!" + text) == every - present, text  # V1.9 negated existence
        assert ids("!speed") == {"urn:e:3", "urn:e:4"}


@pytest.mark.parametrize(("text", "expected"), [
    ("/Madrid/#", {"urn:e:1", "urn:e:2"}), ("/Madrid", {"urn:e:2"}), ("/+/Madrid", {"urn:e:4"}),
    ("/#", {"urn:e:1", "urn:e:2", "urn:e:4"}), ("/Spain;/Madrid", {"urn:e:2"}),
    ("/Spain/#,/Madrid/+/+", {"urn:e:1", "urn:e:2", "urn:e:4"}), ("/Mad/#", set()),
])
def test_scope_q_sql(text: str, expected: set[str]) -> None:
    node = parse_scope_q(text)
    with database(ENTITIES) as conn:
        assert sql_ids(conn, compile_scope_q(node)) == expected
    assert python_ids(ENTITIES, lambda e: evaluate_scope_q(node, e.get("scope", []))) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("Vehicle", {"urn:e:1", "urn:e:2"}), ("Bus,Thing", {"urn:e:1", "urn:e:3", "urn:e:4"}),
    ("Vehicle;Thing", {"urn:e:1"}), ("(Vehicle;Thing)|Bus", {"urn:e:1", "urn:e:3"}),
    ("Car", set()),
])
def test_types_sql(text: str, expected: set[str]) -> None:
    node = parse_type_expression(text, expand)
    with database(ENTITIES) as conn:
        assert sql_ids(conn, compile_types(node)) == expected
    assert python_ids(ENTITIES, lambda e: evaluate_types(node, e["type"])) == expected


def test_no_value_or_name_is_pasted_into_sql() -> None:
    evil = "x'' OR 1=1; DROP TABLE entities; --"
    for text in (f'brandName=="{evil}"', f'brandName~="{evil}"', "speed==7"):
        where, params = compile_q(parse_q(text, expand))
        assert "DROP" not in where and "brandName" not in where and "7" not in where
        assert params
    where, _ = compile_types(parse_type_expression("Vehicle", expand))
    assert "Vehicle" not in where
    where, _ = compile_scope_q(parse_scope_q("/Madrid/+"))
    assert "Madrid" not in where


def test_names_that_cannot_be_json_path_labels_are_rejected() -> None:
    with pytest.raises(InvalidRequest):
        compile_q(Existence(AttrPath('http://ex.org/a"b')))
    with pytest.raises(InvalidRequest):
        compile_q(Comparison(AttrPath("http://ex.org/a", keys=("k\\",)), Op.EQ, 1))


def test_regexp_function_is_registered() -> None:
    conn = sqlite3.connect(":memory:")
    register_sql_functions(conn)
    assert conn.execute("SELECT regexp('^a.c$', 'abc'), regexp('x', 'abc'), "
                        "regexp('a', NULL), 'abc' REGEXP 'b'").fetchone() == (1, 0, 0, 1)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='ab.:/#[]()|;,=!<>~"\\ 0123456789-TZ.', max_size=40))
def test_any_parsed_q_compiles_to_runnable_sql(text: str) -> None:
    try:
        node = parse_q(text, expand)
    except NgsiLdError:
        return
    with database(ENTITIES) as conn:
        assert sql_ids(conn, compile_q(node)) == python_ids(
            ENTITIES, lambda e: evaluate_q(node, e))


# ---------------------------------------------------------------- property tests

ATTRS = [d("a"), d("b"), "http://example.org/x.y#c"]
SUBS = [d("s"), d("t")]
KEYS = ["k", "l", "0"]
STRINGS = ["a", "b", "ab", "B", "é", "", "urn:x", "2024-01-01T00:00:00Z",
           "2024-01-01T00:00:00.5Z", "2024-01-01T00:00:00.000001Z", "2024-01-02T10:00:00Z",
           "2024-01-01T00:00:00+01:00"]
DATETIMES = ["2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.500000Z",
             "2024-01-01T00:00:00.000001Z", "2024-01-02T00:00:00.000000Z"]

json_scalars = st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]), st.booleans(),
                         st.sampled_from(STRINGS), st.none())
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6)
uris = st.sampled_from(["urn:x", "urn:y", "a", "b"])


@st.composite
def instances(draw: st.DrawFn, depth: int = 0) -> dict[str, Any]:
    kind = draw(st.sampled_from(["Property", "Relationship", "LanguageProperty",
                                 "VocabProperty", "JsonProperty", "ListProperty",
                                 "ListRelationship", "GeoProperty"]))
    inst: dict[str, Any] = {"type": kind}
    if kind in ("Property", "GeoProperty"):
        inst["value"] = draw(json_values)
    elif kind == "Relationship":
        inst["object"] = draw(st.one_of(uris, st.lists(uris, max_size=2)))
    elif kind == "LanguageProperty":
        texts = st.sampled_from(STRINGS)
        inst["languageMap"] = draw(st.dictionaries(
            st.sampled_from(["en", "ja", "zh-Hant"]),
            st.one_of(texts, st.lists(texts, max_size=2)), max_size=2))
    elif kind == "VocabProperty":
        inst["vocab"] = draw(st.one_of(uris, st.lists(uris, max_size=2)))
    elif kind == "JsonProperty":
        inst["json"] = draw(json_values)
    elif kind == "ListProperty":
        inst["valueList"] = draw(st.lists(json_values, max_size=3))
    else:
        inst["objectList"] = draw(st.lists(uris, max_size=3))
    for member in ("observedAt", "unitCode", "datasetId"):
        if draw(st.booleans()):
            inst[member] = draw(st.sampled_from(STRINGS))
    if depth < 1 and draw(st.booleans()):
        inst["attrs"] = draw(st.dictionaries(st.sampled_from(SUBS), instances(depth + 1),
                                             max_size=2))
    return inst


@st.composite
def entities(draw: st.DrawFn, with_attrs: bool = True) -> list[Entity]:
    count = draw(st.integers(1, 5))
    out = []
    for n in range(count):
        entity: Entity = {
            "id": f"urn:e:{n}",
            "type": draw(st.lists(st.sampled_from([d("T1"), d("T2"), d("T3")]), min_size=1,
                                  max_size=3, unique=True)),
            "scope": draw(st.lists(st.sampled_from(["/a", "/a/b", "/a/b/c", "/b", "/a/x",
                                                     "/b/a"]), max_size=3)),
        }
        if with_attrs:
            entity["attrs"] = draw(st.dictionaries(st.sampled_from(ATTRS),
                                                   st.lists(instances(), max_size=3),
                                                   max_size=3))
        out.append(entity)
    return out


def _scalar_kind(kind: str) -> st.SearchStrategy[Scalar]:
    if kind == "num":
        return st.one_of(st.integers(-3, 3), st.sampled_from([0.5, -1.5, 2.0]))
    if kind == "str":
        return st.sampled_from(STRINGS)
    if kind == "dt":
        return st.sampled_from(DATETIMES).map(DateTimeValue)
    return st.booleans()


scalars = st.sampled_from(["num", "str", "dt", "bool"]).flatmap(_scalar_kind)
paths = st.builds(
    AttrPath, st.sampled_from(ATTRS), st.lists(st.sampled_from(SUBS), max_size=2).map(tuple),
    st.none(), st.lists(st.sampled_from(KEYS), max_size=2).map(tuple),
) | st.builds(AttrPath, st.sampled_from(ATTRS), st.lists(st.sampled_from(SUBS),
                                                          max_size=1).map(tuple),
              st.sampled_from(["observedAt", "unitCode", "datasetId"]))


@st.composite
def comparisons(draw: st.DrawFn) -> Comparison:
    path = draw(paths)
    op = draw(st.sampled_from(list(Op)))
    if op in (Op.MATCH, Op.NOT_MATCH):
        return Comparison(path, op, draw(st.sampled_from(["^a", "b", "[0-9]", "^$", "é", "Z$"])))
    if op in (Op.EQ, Op.NE):
        form = draw(st.sampled_from(["one", "list", "range"]))
        if form == "list":
            return Comparison(path, op, ValueList(tuple(draw(st.lists(scalars, min_size=2,
                                                                      max_size=4)))))
        if form == "range":
            kind = draw(st.sampled_from(["num", "str", "dt"]))
            low, high = draw(_scalar_kind(kind)), draw(_scalar_kind(kind))
            return Comparison(path, op, ValueRange(low, high))
        return Comparison(path, op, draw(scalars))
    kind = draw(st.sampled_from(["num", "str", "dt"]))
    return Comparison(path, op, draw(_scalar_kind(kind)))


terms = st.one_of(comparisons(), paths.map(Existence), paths.map(Absence))
queries: st.SearchStrategy[QNode] = st.recursive(
    terms,
    lambda inner: st.one_of(st.lists(inner, min_size=2, max_size=3).map(lambda t: And(tuple(t))),
                            st.lists(inner, min_size=2, max_size=3).map(lambda t: Or(tuple(t)))),
    max_leaves=4)

PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(entities(), queries)
def test_property_q_sql_equals_python(ents: list[Entity], node: QNode) -> None:
    with database(ents) as conn:
        assert sql_ids(conn, compile_q(node)) == python_ids(ents, lambda e: evaluate_q(node, e))


scope_levels = st.lists(st.sampled_from(["a", "b", "c", "x", "+"]), max_size=3).map(tuple)
scope_queries: st.SearchStrategy[ScopeNode] = st.recursive(
    st.builds(ScopePattern, scope_levels, st.booleans()).filter(
        lambda p: p.levels or p.descendants),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda t: ScopeAnd(tuple(t))),
        st.lists(inner, min_size=2, max_size=3).map(lambda t: ScopeOr(tuple(t)))),
    max_leaves=4)


@PROPERTY_SETTINGS
@given(entities(with_attrs=False), scope_queries)
def test_property_scope_sql_equals_python(ents: list[Entity], node: ScopeNode) -> None:
    with database(ents) as conn:
        assert sql_ids(conn, compile_scope_q(node)) == python_ids(
            ents, lambda e: evaluate_scope_q(node, e["scope"]))


type_queries: st.SearchStrategy[TypeNode] = st.recursive(
    st.sampled_from([d("T1"), d("T2"), d("T3"), d("T4")]).map(TypeName),
    lambda inner: st.one_of(
        st.lists(inner, min_size=2, max_size=3).map(lambda t: TypeAnd(tuple(t))),
        st.lists(inner, min_size=2, max_size=3).map(lambda t: TypeOr(tuple(t)))),
    max_leaves=4)


@PROPERTY_SETTINGS
@given(entities(with_attrs=False), type_queries)
def test_property_types_sql_equals_python(ents: list[Entity], node: TypeNode) -> None:
    with database(ents) as conn:
        assert sql_ids(conn, compile_types(node)) == python_ids(
            ents, lambda e: evaluate_types(node, e["type"]))
