"""Compile the NGSI-LD query ASTs (q clause 4.9, scopeQ 4.19, type selection 4.17 of
ETSI GS CIM 009 V1.8.1) to parameterised SQLite WHERE fragments over `entities e`.

The fragments hold only fixed SQL: every literal and every JSON path (attribute IRIs and
keys appear in paths) is a bound `?` parameter. Attribute names reach the paths as quoted
labels (`$.attrs."<IRI>"`); names holding `"` or `\\` cannot be expressed as SQLite JSON
path labels and are rejected.

The SQL mirrors cityos.ngsild.query.evaluate exactly (same instance / value-member / array
element rules; see its docstring), which the tests check property-wise:

* instances: `json_each(e.doc, '$.attrs."A"') AS inst`;
* value member: `json_each(inst.value, <sub-attribute prefix>) AS m` with `m.key` one of the
  value members; its elements `json_each(inst.value, m.fullkey) AS x` — a scalar target
  yields itself (key NULL), an array its elements (integer keys), an object its members
  (text keys, excluded: objects never compare);
* a LanguageProperty target goes one level further: map member, then its string(s).

Only `regexp` (for `~=` and `+` scope levels) calls back into Python.
"""

from __future__ import annotations

import re
import sqlite3
from functools import lru_cache
from typing import NamedTuple

import orjson

from cityos.ngsild.errors import InvalidRequest
from cityos.ngsild.geo import GeoQuery, distance_m
from cityos.ngsild.query.ast import (
    NEGATED,
    ORDERING,
    VALUE_MEMBERS,
    Absence,
    And,
    AttrPath,
    Comparison,
    DateTimeValue,
    Existence,
    Linked,
    Op,
    Or,
    QNode,
    QueryValue,
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
)
from cityos.ngsild.query.evaluate import regexp, scope_regex
from cityos.ngsild.query.order import Ordering, OrderKey, root_collation

Fragment = tuple[str, list[object]]


class _Target(NamedTuple):
    """Where the compared values of an attribute instance are."""

    source: str  # FROM items binding `inst` (and `m`)
    where: str  # their filter
    path_sql: str  # SQL expression of the target's JSON path inside `inst.value`
    source_params: tuple[object, ...]
    path_params: tuple[object, ...]


_PLAIN_MEMBERS = "(" + ", ".join(f"'{m}'" for m in VALUE_MEMBERS if m != "languageMap") + ")"
# With an ordering operator a Relationship never matches (V1.9 clause 4.9).
_ORDERED_MEMBERS = "(" + ", ".join(f"'{m}'" for m in VALUE_MEMBERS
                                   if m not in ("languageMap", "object", "objectList")) + ")"
_ALL_MEMBERS = "(" + ", ".join(f"'{m}'" for m in VALUE_MEMBERS) + ")"
# An element row that can compare: not an object member (text key), not a container.
_SCALAR_ROW = "typeof({a}.key) <> 'text' AND {a}.type NOT IN ('array', 'object')"
# Canonical form of a stored `YYYY-MM-DDTHH:MM:SS[.f…]Z` string, else NULL; the same rule as
# evaluate.stored_datetime_key (fraction padded / truncated to microseconds).
_DT_KEY = (
    "(CASE WHEN {a}.type = 'text' AND {a}.atom GLOB "
    "'[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]*Z' "
    "AND (length({a}.atom) = 20 OR (substr({a}.atom, 20, 1) = '.' AND length({a}.atom) > 21 "
    "AND substr({a}.atom, 21, length({a}.atom) - 21) NOT GLOB '*[^0-9]*')) "
    "THEN substr({a}.atom, 1, 19) || '.' || substr(CASE WHEN length({a}.atom) = 20 THEN '' "
    "ELSE substr({a}.atom, 21, length({a}.atom) - 21) END || '000000', 1, 6) || 'Z' END)")
_SQL_OPS = {Op.EQ: "=", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}


ROOT_COLLATION = "ngsild_root"


def register_sql_functions(conn: sqlite3.Connection) -> None:
    """Register `regexp(pattern, text)` (Python `re.search`, 0/1), `ngsild_distance(
    geometry, reference)` (metres between two GeoJSON texts) and the collation
    `ngsild_root` (clause 4.23 collation, see cityos.ngsild.query.order) on the connection."""
    conn.create_function("regexp", 2, regexp, deterministic=True)
    conn.create_function("ngsild_distance", 2, _distance, deterministic=True)
    conn.create_collation(ROOT_COLLATION, root_collation)


@lru_cache(maxsize=64)
def _reference(text: str) -> GeoQuery:
    return GeoQuery("near", None, None, orjson.loads(text))


def _distance(geometry: object, reference: object) -> float | None:
    if not isinstance(geometry, str) or not isinstance(reference, str):
        return None
    try:
        return distance_m(_reference(reference), orjson.loads(geometry))
    except Exception:  # a geometry shapely cannot measure sorts last
        return None


def _label(name: str) -> str:
    """A quoted JSON-path label; SQLite has no escape for `"` inside one."""
    if '"' in name or "\\" in name:
        raise InvalidRequest(f"name {name!r} cannot be queried: it holds '\"' or '\\\\'")
    return '."' + name + '"'


def _join(parts: list[Fragment], glue: str) -> Fragment:
    params: list[object] = []
    for _, p in parts:
        params.extend(p)
    return "(" + f" {glue} ".join(sql for sql, _ in parts) + ")", params


# ---------------------------------------------------------------- q

def compile_q(node: QNode) -> Fragment:
    """WHERE fragment (over alias `e`) and parameters selecting entities matching `node`."""
    if isinstance(node, And):
        return _join([compile_q(t) for t in node.terms], "AND")
    if isinstance(node, Or):
        return _join([compile_q(t) for t in node.terms], "OR")
    if isinstance(node, Existence):
        return _existence(node.path)
    if isinstance(node, Absence):
        sql, params = _existence(node.path)
        return f"NOT coalesce({sql}, 0)", params
    if isinstance(node, Linked):
        return _linked(node)
    return _comparison(node)


_OUTER_ALIAS = re.compile(r"\be\.")


def _linked(node: Linked) -> Fragment:
    """Some entity targeted by the Relationship (same tenant, optional type hint)
    satisfies the inner term; the inner fragment is rebased from `e` onto the target."""
    inner_sql, inner_params = compile_q(node.term)
    alias = f"l{linked_depth_of(node)}"
    inner_sql = _OUTER_ALIAS.sub(alias + ".", inner_sql)
    params: list[object] = ["$.attrs" + _label(node.relationship)]
    hint = ""
    if node.type_hint is not None:
        hint = (f" AND EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = {alias}.tenant "
                f"AND t.pk = {alias}.pk AND t.type = ?)")
        params.append(node.type_hint)
    sql = (f"EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS inst, "
           f"json_each(inst.value, '$.object') AS o, entities {alias} "
           f"WHERE inst.type = 'object' AND {alias}.tenant = e.tenant "
           f"AND {alias}.id = o.value{hint} AND {inner_sql})")
    return sql, params + inner_params


def linked_depth_of(node: QNode) -> int:
    if isinstance(node, And | Or):
        return max(linked_depth_of(t) for t in node.terms)
    if isinstance(node, Linked):
        return 1 + linked_depth_of(node.term)
    return 0


def _paths(path: AttrPath) -> tuple[str, str]:
    attr = "$.attrs" + _label(path.attr)
    prefix = "$" + "".join(".attrs" + _label(s) for s in path.sub_attrs)
    return attr, prefix


def _existence(path: AttrPath) -> Fragment:
    attr, prefix = _paths(path)
    if path.member is not None:
        return ("EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS inst WHERE inst.type = 'object' "
                "AND json_type(inst.value, ?) IS NOT NULL)", [attr, prefix + _label(path.member)])
    if path.keys == ("*",):
        return ("EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS inst WHERE inst.type = 'object' "
                "AND json_type(inst.value, ?) IS NOT NULL)",
                [attr, prefix + _label("languageMap")])
    if path.keys:
        return ("EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS inst, json_each(inst.value, ?) "
                f"AS m WHERE inst.type = 'object' AND m.key IN {_ALL_MEMBERS} "
                "AND json_type(inst.value, m.fullkey || ?) IS NOT NULL)",
                [attr, prefix, "".join(_label(k) for k in path.keys)])
    if path.sub_attrs:
        return ("EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS inst WHERE inst.type = 'object' "
                "AND json_type(inst.value, ?) IS NOT NULL)", [attr, prefix])
    return "json_array_length(e.doc, ?) > 0", [attr]


def _comparison(node: Comparison) -> Fragment:
    """One EXISTS per kind of target: a member, a key path, a plain value member, a
    languageMap. Each ranges over (instance, target) pairs: positive operators ask for an
    element satisfying the condition, negated ones for a resolved target with none."""
    positive = NEGATED.get(node.op)
    op = positive or node.op
    attr, prefix = _paths(node.path)
    path = node.path
    if path.member is not None:
        target = _Target("json_each(e.doc, ?) AS inst", "inst.type = 'object'", "?",
                         (attr,), (prefix + _label(path.member),))
        return _target_exists(target, op, node.value, positive is not None, False)
    outer = "json_each(e.doc, ?) AS inst, json_each(inst.value, ?) AS m"
    language = _Target("json_each(e.doc, ?) AS inst", "inst.type = 'object'", "?",
                       (attr,), (prefix + _label("languageMap"),))
    if path.keys == ("*",):
        return _target_exists(language, op, node.value, positive is not None, True)
    if path.keys:
        keys = "".join(_label(k) for k in path.keys)
        target = _Target(outer, f"inst.type = 'object' AND m.key IN {_ALL_MEMBERS}",
                         "m.fullkey || ?", (attr, prefix), (keys,))
        return _target_exists(target, op, node.value, positive is not None, False)
    members = _ORDERED_MEMBERS if node.op in ORDERING else _PLAIN_MEMBERS
    plain = _Target(outer, f"inst.type = 'object' AND m.key IN {members}",
                    "m.fullkey", (attr, prefix), ())
    return _join([_target_exists(plain, op, node.value, positive is not None, False),
                  _target_exists(language, op, node.value, positive is not None, True)], "OR")


def _target_exists(target: _Target, op: Op, value: QueryValue, negated: bool,
                   language: bool) -> Fragment:
    source, where, path_sql = target.source, target.where, target.path_sql
    params, path_params = list(target.source_params), list(target.path_params)
    if language:
        elements = (f"json_each(inst.value, {path_sql}) AS x1, "
                    "json_each(inst.value, x1.fullkey) AS x")
        filters = "typeof(x1.key) = 'text' AND " + _SCALAR_ROW.format(a="x")
    else:
        elements = f"json_each(inst.value, {path_sql}) AS x"
        filters = _SCALAR_ROW.format(a="x")
    cond_params: list[object] = []
    cond = _condition("x", op, value, cond_params)
    inner = f"SELECT 1 FROM {elements} WHERE {filters} AND {cond}"
    if not negated:
        sql = f"EXISTS (SELECT 1 FROM {source}, {elements} WHERE {where} AND {filters} AND {cond})"
        return sql, params + path_params + cond_params
    sql = (f"EXISTS (SELECT 1 FROM {source} WHERE {where} "
           f"AND json_type(inst.value, {path_sql}) IS NOT NULL AND NOT EXISTS ({inner}))")
    return sql, params + path_params + path_params + cond_params


def _condition(a: str, op: Op, value: QueryValue, params: list[object]) -> str:
    """SQL truth of the positive operator `op` on element row alias `a`."""
    if op is Op.MATCH:
        params.append(value)
        return f"({a}.type = 'text' AND regexp(?, {a}.atom))"
    if isinstance(value, ValueList):
        return _any_of(a, value.values, params)
    if isinstance(value, ValueRange):
        low = _compare(a, ">=", value.low, params)
        return f"({low} AND {_compare(a, '<=', value.high, params)})"
    return _compare(a, _SQL_OPS[op], value, params)


def _typed(a: str, v: Scalar) -> tuple[str, str]:
    """(type guard, compared expression) for literal `v` on element alias `a`."""
    if isinstance(v, DateTimeValue):
        return "1", _DT_KEY.format(a=a)
    if isinstance(v, int | float):
        return f"{a}.type IN ('integer', 'real')", f"{a}.atom"
    return f"{a}.type = 'text'", f"{a}.atom"


def _literal(v: Scalar) -> object:
    return v.canonical if isinstance(v, DateTimeValue) else v


def _compare(a: str, sql_op: str, v: Scalar, params: list[object]) -> str:
    if isinstance(v, bool):
        params.append("true" if v else "false")
        return f"{a}.type = ?"
    guard, expr = _typed(a, v)
    params.append(_literal(v))
    return f"({guard} AND {expr} {sql_op} ?)"


def _any_of(a: str, values: tuple[Scalar, ...], params: list[object]) -> str:
    """`x == v1,v2,…`: one IN list per kind of literal."""
    groups: dict[str, list[Scalar]] = {}
    for v in values:
        kind = ("bool" if isinstance(v, bool) else "dt" if isinstance(v, DateTimeValue)
                else "num" if isinstance(v, int | float) else "str")
        groups.setdefault(kind, []).append(v)
    parts: list[str] = []
    for kind, items in groups.items():
        marks = ", ".join("?" * len(items))
        if kind == "bool":
            parts.append(f"{a}.type IN ({marks})")
            params.extend("true" if v else "false" for v in items)
            continue
        guard, expr = _typed(a, items[0])
        parts.append(f"({guard} AND {expr} IN ({marks}))")
        params.extend(_literal(v) for v in items)
    return "(" + " OR ".join(parts) + ")"


# ---------------------------------------------------------------- scopeQ

def compile_scope_q(node: ScopeNode) -> Fragment:
    """WHERE fragment selecting entities whose `scope` list matches the scopeQ."""
    if isinstance(node, ScopeAnd):
        return _join([compile_scope_q(t) for t in node.terms], "AND")
    if isinstance(node, ScopeOr):
        return _join([compile_scope_q(t) for t in node.terms], "OR")
    return _scope_pattern(node)


def _scope_pattern(pattern: ScopePattern) -> Fragment:
    params: list[object] = ["$.scope"]
    if "+" in pattern.levels:
        cond = "regexp(?, s.atom)"
        params.append(scope_regex(pattern))
    else:
        base = "".join("/" + level for level in pattern.levels)
        if pattern.descendants:
            cond = "(s.atom = ? OR substr(s.atom, 1, ?) = ?)"
            params.extend([base, len(base) + 1, base + "/"])
        else:
            cond = "s.atom = ?"
            params.append(base)
    return (f"EXISTS (SELECT 1 FROM json_each(e.doc, ?) AS s WHERE s.type = 'text' AND {cond})",
            params)


# ---------------------------------------------------------------- types

_TYPE_EXISTS = ("EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = e.tenant "
                "AND t.pk = e.pk AND t.type {})")


def compile_types(node: TypeNode, tenant: str | None = None) -> Fragment:
    """WHERE fragment selecting entities by type expression, through `entity_types`. With
    the `tenant`, a type list becomes an uncorrelated pk list read from the type index."""
    if isinstance(node, TypeName) or (
            isinstance(node, TypeOr) and all(isinstance(t, TypeName) for t in node.terms)):
        # A list of pks read from the (tenant, type, pk) key: the entities are then fetched
        # by primary key, never by scanning the tenant.
        names = [node.iri] if isinstance(node, TypeName) else \
            [t.iri for t in node.terms if isinstance(t, TypeName)]
        if tenant is None:
            marks = ", ".join("?" * len(names))
            return _TYPE_EXISTS.format("IN (" + marks + ")"), list[object](names)
        return ("e.pk IN (SELECT t.pk FROM entity_types t WHERE t.tenant = ? "
                "AND t.type IN (" + ", ".join("?" * len(names)) + "))"), [tenant, *names]
    assert isinstance(node, TypeAnd | TypeOr)
    return _join([compile_types(t, tenant) for t in node.terms],
                 "AND" if isinstance(node, TypeAnd) else "OR")


# ---------------------------------------------------------------- orderBy (V1.9 4.23)

_ENTITY_ORDER = {"id": "e.id", "createdAt": "e.created_at", "modifiedAt": "e.modified_at",
                 "type": "json_extract(e.doc, '$.type[0]')"}


def compile_order(ordering: Ordering) -> Fragment:
    """ORDER BY terms (over alias `e`) for an Ordering. Each key sorts entities without it
    last in both directions (clause 4.23.2), then by value: SQLite orders numbers before
    strings. A collation applies `ngsild_root` to strings; `e.pk` breaks ties."""
    terms: list[str] = []
    params: list[object] = []
    collate = f" COLLATE {ROOT_COLLATION}" if ordering.collation else ""
    for key in ordering.keys:
        expr, key_params = _order_expression(key, ordering)
        direction = " DESC" if key.descending else ""
        terms.append(f"({expr}) IS NULL")
        terms.append(f"({expr}){collate if not key.distance else ''}{direction}")
        params.extend(key_params)
        params.extend(key_params)
    terms.append("e.pk")
    return ", ".join(terms), params


def _order_expression(key: OrderKey, ordering: Ordering) -> Fragment:
    if key.member is not None:
        return _ENTITY_ORDER[key.member], []
    path = key.path
    assert path is not None
    if key.distance:
        reference = orjson.dumps(ordering.origin.geometry).decode()
        return ("SELECT min(ngsild_distance(g.geometry, ?)) FROM geo_index g "
                "WHERE g.pk = e.pk AND g.attr = ?"), [reference, path.attr]
    base = "$.attrs" + _label(path.attr) + "[0]" + "".join(
        ".attrs" + _label(s) for s in path.sub_attrs)
    if path.member is not None:
        return "json_extract(e.doc, ?)", [base + _label(path.member)]
    if path.keys:
        keys = "".join(_label(k) for k in path.keys)
        return "json_extract(e.doc, ?)", [base + ".value" + keys]
    return ("coalesce(json_extract(e.doc, ?), json_extract(e.doc, ?), "
            "json_extract(e.doc, ?))", [base + ".value", base + ".object", base + ".vocab"])
