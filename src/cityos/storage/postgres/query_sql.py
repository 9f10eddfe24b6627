"""Compile the NGSI-LD query ASTs (q clause 4.9, scopeQ 4.19, type selection 4.17 of
ETSI GS CIM 009 V1.8.1) to parameterised PostgreSQL WHERE fragments over `entities e`.

The fragments hold only fixed SQL and named placeholders (see `Binder`): every literal,
attribute IRI, key and JSON path is a bound parameter, so names need no escaping.

The SQL mirrors cityos.ngsild.query.evaluate (same instance / value-member / element
rules, see its docstring) with the helpers of migration 0001:

* instances: `jsonb_array_elements(e.doc -> 'attrs' -> A) AS inst(v)`; a sub-attribute
  path is `inst.v #> '{attrs,B,attrs,C}'`;
* the compared elements of a target: `ngsild_scalars(target)` (an array's scalars, or the
  scalar itself), for a languageMap `ngsild_language_scalars(target)`;
* kinds never mix: `ngsild_num` / `ngsild_str` / `ngsild_datetime_key` are NULL for
  elements of another kind; strings compare by code point (`COLLATE "C"` on UTF-8).

Difference from the evaluator: `~=`, idPattern and `+` scope levels use PostgreSQL's POSIX
regular expressions instead of Python's `re` (a pattern PostgreSQL rejects matches
nothing).
"""

from __future__ import annotations

import re

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
from cityos.ngsild.query.evaluate import scope_regex
from cityos.storage.postgres.binder import Binder
from cityos.storage.postgres.value_index import as_numeric

_SQL_OPS = {Op.EQ: "=", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}
_PLAIN_MEMBERS = [m for m in VALUE_MEMBERS if m != "languageMap"]
# With an ordering operator a Relationship never matches (V1.9 clause 4.9).
_RELATIONSHIP_MEMBERS = ("object", "objectList")


def _join(parts: list[str], glue: str) -> str:
    return "(" + f" {glue} ".join(parts) + ")"


def _instances(bind: Binder, attr: str) -> str:
    return f"jsonb_array_elements(e.doc -> 'attrs' -> {bind(attr)}) AS inst(v)"


# ---------------------------------------------------------------- q

def compile_q(node: QNode, bind: Binder) -> str:
    """WHERE fragment (over alias `e`) selecting entities matching `node`."""
    if isinstance(node, And):
        return _join([compile_q(t, bind) for t in node.terms], "AND")
    if isinstance(node, Or):
        return _join([compile_q(t, bind) for t in node.terms], "OR")
    if isinstance(node, Existence):
        return _existence(node.path, bind)
    if isinstance(node, Absence):
        return f"NOT coalesce({_existence(node.path, bind)}, false)"
    if isinstance(node, Linked):
        return _linked(node, bind)
    return _comparison(node, bind)


_OUTER_ALIAS = re.compile(r"\be\.")


def _depth(node: QNode) -> int:
    if isinstance(node, And | Or):
        return max(_depth(t) for t in node.terms)
    if isinstance(node, Linked):
        return 1 + _depth(node.term)
    return 0


def _linked(node: Linked, bind: Binder) -> str:
    """Some entity targeted by the Relationship (same tenant, optional type hint)
    satisfies the inner term; the inner fragment is rebased from `e` onto the target."""
    alias = f"l{_depth(node)}"
    instances = _instances(bind, node.relationship)
    hint = ""
    if node.type_hint is not None:
        hint = f" AND {alias}.types @> {bind([node.type_hint], 'text[]')}"
    inner = _OUTER_ALIAS.sub(alias + ".", compile_q(node.term, bind))
    return (f"EXISTS (SELECT 1 FROM {instances}, ngsild_scalars(inst.v -> 'object') AS o(v), "
            f"entities {alias} WHERE {alias}.tenant = e.tenant "
            f"AND {alias}.id = ngsild_str(o.v){hint} AND {inner})")


def _node(path: AttrPath, bind: Binder) -> str:
    """SQL of the (sub-)attribute instance a path resolves to, per instance `inst`."""
    if not path.sub_attrs:
        return "inst.v"
    steps: list[str] = []
    for sub in path.sub_attrs:
        steps += ["attrs", sub]
    return f"(inst.v #> {bind(steps, 'text[]')})"


def _key_chain(base: str, keys: tuple[str, ...], bind: Binder) -> str:
    """Member after member of objects only (arrays are never indexed by a key path)."""
    sql = base
    for key in keys:
        sql = f"ngsild_key({sql}, {bind(key, 'text')})"
    return sql


def _existence(path: AttrPath, bind: Binder) -> str:
    if not path.sub_attrs and path.member is None and not path.keys:
        return f"jsonb_array_length(e.doc -> 'attrs' -> {bind(path.attr)}) > 0"
    instances = _instances(bind, path.attr)
    node = _node(path, bind)
    if path.member is not None or path.keys == ("*",):
        member = path.member if path.member is not None else "languageMap"
        return f"EXISTS (SELECT 1 FROM {instances} WHERE {node} ? {bind(member, 'text')})"
    if path.keys:
        members = bind(list(VALUE_MEMBERS), "text[]")
        target = _key_chain("m.value", path.keys, bind)
        return (f"EXISTS (SELECT 1 FROM {instances}, jsonb_each({node}) AS m "
                f"WHERE m.key = ANY({members}) AND {target} IS NOT NULL)")
    return f"EXISTS (SELECT 1 FROM {instances} WHERE {node} IS NOT NULL)"


def _comparison(node: Comparison, bind: Binder) -> str:
    """One EXISTS per kind of target: a member, a key path, the plain value members, a
    languageMap. Each ranges over (instance, target) pairs: positive operators ask for an
    element satisfying the condition, negated ones for a resolved target with none."""
    positive = NEGATED.get(node.op)
    op = positive or node.op
    negated = positive is not None
    path = node.path
    ordering = node.op in ORDERING

    def exists(target: str, *, members: list[str] | None = None,
               language: bool = False, keys: tuple[str, ...] = ()) -> str:
        instances = _instances(bind, path.attr)
        inst = _node(path, bind)
        source, where = instances, "TRUE"
        if members is not None:
            source += f", jsonb_each({inst}) AS m"
            where = f"m.key = ANY({bind(members, 'text[]')})"
        expr = _key_chain(target.format(node=inst), keys, bind)
        return _target_exists(source, where, expr, op, node.value, negated, language, bind)

    if path.member is not None:
        return exists("{node} -> " + bind(path.member, "text"))
    if path.keys == ("*",):
        return exists("{node} -> 'languageMap'", language=True)
    if path.keys:
        members = [m for m in VALUE_MEMBERS if not (ordering and m in _RELATIONSHIP_MEMBERS)]
        return exists("m.value", members=members, keys=path.keys)
    members = [m for m in _PLAIN_MEMBERS if not (ordering and m in _RELATIONSHIP_MEMBERS)]
    return _join([exists("m.value", members=members),
                  exists("{node} -> 'languageMap'", language=True)], "OR")


def _target_exists(source: str, where: str, target: str, op: Op, value: QueryValue,
                   negated: bool, language: bool, bind: Binder) -> str:
    elements = "ngsild_language_scalars" if language else "ngsild_scalars"
    cond = _condition("x.v", op, value, bind)
    if not negated:
        return (f"EXISTS (SELECT 1 FROM {source}, {elements}({target}) AS x(v) "
                f"WHERE {where} AND {cond})")
    return (f"EXISTS (SELECT 1 FROM {source} WHERE {where} AND {target} IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {elements}({target}) AS x(v) WHERE {cond}))")


def _condition(x: str, op: Op, value: QueryValue, bind: Binder) -> str:
    """SQL truth of the positive operator `op` on the jsonb element `x`."""
    if op is Op.MATCH:
        return f"coalesce(ngsild_regexp(ngsild_str({x}), {bind(value, 'text')}), false)"
    if isinstance(value, ValueList):
        return _any_of(x, value.values, bind)
    if isinstance(value, ValueRange):
        return f"({_compare(x, '>=', value.low, bind)} AND {_compare(x, '<=', value.high, bind)})"
    return _compare(x, _SQL_OPS[op], value, bind)


def _typed(x: str, v: Scalar) -> str:
    if isinstance(v, DateTimeValue):
        return f'ngsild_datetime_key({x}) COLLATE "C"'
    if isinstance(v, int | float):
        return f"ngsild_num({x})"
    return f'ngsild_str({x}) COLLATE "C"'


def _literal(v: Scalar, bind: Binder) -> str:
    if isinstance(v, DateTimeValue):
        return bind(v.canonical, "text")
    if isinstance(v, int | float):
        return bind(as_numeric(v), "numeric")
    return bind(v, "text")


def _compare(x: str, sql_op: str, v: Scalar, bind: Binder) -> str:
    if isinstance(v, bool):
        return f"{x} = {bind('true' if v else 'false', 'jsonb')}"
    return f"{_typed(x, v)} {sql_op} {_literal(v, bind)}"


def _any_of(x: str, values: tuple[Scalar, ...], bind: Binder) -> str:
    """`x == v1,v2,…`: one `= ANY(array)` per kind of literal."""
    groups: dict[str, list[Scalar]] = {}
    for v in values:
        kind = ("bool" if isinstance(v, bool) else "dt" if isinstance(v, DateTimeValue)
                else "num" if isinstance(v, int | float) else "str")
        groups.setdefault(kind, []).append(v)
    parts: list[str] = []
    for kind, items in groups.items():
        if kind == "bool":
            literals = ["true" if v else "false" for v in items]
            parts.append(f"{x} = ANY({bind(literals, 'jsonb[]')})")
        elif kind == "num":
            numbers = [as_numeric(v) for v in items if isinstance(v, int | float)]
            parts.append(f"ngsild_num({x}) = ANY({bind(numbers, 'numeric[]')})")
        else:
            texts = [v.canonical if isinstance(v, DateTimeValue) else v for v in items]
            parts.append(f"{_typed(x, items[0])} = ANY({bind(texts, 'text[]')})")
    return "(" + " OR ".join(parts) + ")"


# ---------------------------------------------------------------- scopeQ

def compile_scope_q(node: ScopeNode, bind: Binder) -> str:
    """WHERE fragment selecting entities whose `scope` list matches the scopeQ."""
    if isinstance(node, ScopeAnd):
        return _join([compile_scope_q(t, bind) for t in node.terms], "AND")
    if isinstance(node, ScopeOr):
        return _join([compile_scope_q(t, bind) for t in node.terms], "OR")
    return _scope_pattern(node, bind)


def _scope_pattern(pattern: ScopePattern, bind: Binder) -> str:
    if "+" in pattern.levels:
        cond = f"coalesce(ngsild_regexp(s.t, {bind(scope_regex(pattern), 'text')}), false)"
    else:
        base = "".join("/" + level for level in pattern.levels)
        if pattern.descendants:
            cond = f"(s.t = {bind(base, 'text')} OR starts_with(s.t, {bind(base + '/', 'text')}))"
        else:
            cond = f"s.t = {bind(base, 'text')}"
    return ("EXISTS (SELECT 1 FROM ngsild_scalars(e.doc -> 'scope') AS s0(v), "
            f"ngsild_str(s0.v) AS s(t) WHERE {cond})")


# ---------------------------------------------------------------- types

def compile_types(node: TypeNode, bind: Binder) -> str:
    """WHERE fragment selecting entities by type expression, through the GIN-indexed
    `types` array: a name is containment, a list of names overlap."""
    if isinstance(node, TypeName):
        return f"e.types @> {bind([node.iri], 'text[]')}"
    if isinstance(node, TypeOr) and all(isinstance(t, TypeName) for t in node.terms):
        names = [t.iri for t in node.terms if isinstance(t, TypeName)]
        return f"e.types && {bind(names, 'text[]')}"
    assert isinstance(node, TypeAnd | TypeOr)
    return _join([compile_types(t, bind) for t in node.terms],
                 "AND" if isinstance(node, TypeAnd) else "OR")
