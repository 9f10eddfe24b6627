"""Pure-Python evaluation of the query ASTs against entities in the internal form
(ETSI GS CIM 009 V1.8.1 clauses 4.9, 4.17, 4.19). Used for subscriptions and as the
reference the SQL compiler (cityos.storage.sqlite.query_sql) is tested against.

Semantics of a q term on attribute A (clause 4.9), including the choices made where the
clause is not explicit (they follow Orion-LD / Stellio):

* The term holds if ANY instance of A (any datasetId) satisfies it.
* The compared "target" of an instance is its value member: `value` (Property,
  GeoProperty), `object`, `vocab`, `json`, `valueList`, `objectList`, or — for a
  LanguageProperty — every string of its `languageMap`. `A.B` targets the sub-attribute B,
  `A.observedAt` (and the other members) the member, `A[k1.k2]` the key path k1→k2 of the
  value (object keys only; arrays are not indexed).
* A target that is an array is compared element by element (one level); objects, nested
  arrays and null never compare. Values of different kinds never compare (a number is not
  equal to, nor ordered against, a string); booleans are not numbers.
* `==`, `>`, `>=`, `<`, `<=`, `~=` hold if some element satisfies them. `!=` and `!~=` hold
  if the target exists and NO element satisfies the positive form (so `A!=5` is false for
  an entity without A, and true for `A: [1, 2]`).
* Strings order lexicographically (by code point). An unquoted DateTime compares against
  stored strings of the form `YYYY-MM-DDTHH:MM:SS[.f…]Z` (the storage form; offsets other
  than `Z` are not recognised there), both taken to microseconds.
* `~=` uses Python `re.search`, only on strings.
* A bare path (existence) holds if the path resolves on some instance.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from typing import Any

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
from cityos.ngsild.types import JsonObject

_STORED_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.([0-9]+))?Z")
_MISSING = object()
RELATIONSHIP_MEMBERS = ("object", "objectList")


@lru_cache(maxsize=512)
def compiled_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def regexp(pattern: object, text: object) -> int:
    """`re.search` as 0/1; non-strings never match. Also the SQLite `regexp` function."""
    if not isinstance(pattern, str) or not isinstance(text, str):
        return 0
    try:
        return 1 if compiled_pattern(pattern).search(text) else 0
    except re.error:
        return 0


def stored_datetime_key(text: str) -> str | None:
    """The canonical `YYYY-MM-DDTHH:MM:SS.ffffffZ` form of a stored UTC DateTime string
    (fraction padded or truncated to 6 digits), or None if `text` is not one."""
    match = _STORED_DATETIME.fullmatch(text)
    if match is None:
        return None
    return text[:19] + "." + ((match.group(1) or "") + "000000")[:6] + "Z"


# ---------------------------------------------------------------- q

def evaluate_q(node: QNode, entity: JsonObject) -> bool:
    """Does the entity (internal form) satisfy the q expression?"""
    if isinstance(node, And):
        return all(evaluate_q(term, entity) for term in node.terms)
    if isinstance(node, Or):
        return any(evaluate_q(term, entity) for term in node.terms)
    if isinstance(node, Existence):
        return any(True for _ in _targets(entity, node.path, existence=True))
    if isinstance(node, Absence):
        return not any(True for _ in _targets(entity, node.path, existence=True))
    if isinstance(node, Linked):
        return False  # needs the linked entities: evaluated by the storage backend only
    return _compare(node, entity)


def _compare(node: Comparison, entity: JsonObject) -> bool:
    positive = NEGATED.get(node.op)
    for target, language in _targets(entity, node.path, ordering=node.op in ORDERING):
        hit = any(_matches(positive or node.op, node.value, x)
                  for x in _elements(target, language))
        if hit != (positive is not None):
            return True
    return False


def _instances(entity: JsonObject, attr: str) -> list[Any]:
    attrs = entity.get("attrs")
    found = attrs.get(attr) if isinstance(attrs, dict) else None
    return found if isinstance(found, list) else []


def _targets(entity: JsonObject, path: AttrPath, existence: bool = False,
             ordering: bool = False) -> Iterator[tuple[Any, bool]]:
    """Each resolved target of the path, with whether it is a whole languageMap. For an
    existence test without key path, the attribute / sub-attribute itself is the target.
    `A[*]` targets every language of a LanguageProperty. With an ordering operator,
    Relationship objects are no targets (V1.9 clause 4.9: never match)."""
    for instance in _instances(entity, path.attr):
        node: Any = instance
        for sub in path.sub_attrs:
            subs = node.get("attrs") if isinstance(node, dict) else None
            node = subs.get(sub, _MISSING) if isinstance(subs, dict) else _MISSING
        if node is _MISSING:
            continue
        if path.member is not None:
            if isinstance(node, dict) and path.member in node:
                yield node[path.member], False
        elif existence and not path.keys:
            yield node, False
        elif isinstance(node, dict) and path.keys == ("*",):
            if "languageMap" in node:
                yield node["languageMap"], True
        elif isinstance(node, dict):
            yield from _value_targets(node, path.keys, ordering)


def _value_targets(node: JsonObject, keys: tuple[str, ...],
                   ordering: bool = False) -> Iterator[tuple[Any, bool]]:
    for member in VALUE_MEMBERS:
        if member not in node or (ordering and member in RELATIONSHIP_MEMBERS):
            continue
        target = node[member]
        for key in keys:
            target = target.get(key, _MISSING) if isinstance(target, dict) else _MISSING
        if target is not _MISSING:
            yield target, member == "languageMap" and not keys


def _elements(target: Any, language: bool) -> Iterator[Any]:
    if language:
        if isinstance(target, dict):
            for text in target.values():
                yield from _elements(text, False)
        return
    if isinstance(target, list):
        yield from (x for x in target if not isinstance(x, list | dict))
    elif not isinstance(target, dict):
        yield target


def _matches(op: Op, value: QueryValue, x: Any) -> bool:
    if op is Op.MATCH:
        return bool(regexp(value, x))
    if isinstance(value, ValueList):
        return any(_order(x, v, "==") for v in value.values)
    if isinstance(value, ValueRange):
        return _order(x, value.low, ">=") and _order(x, value.high, "<=")
    return _order(x, value, op.value)


def _order(x: Any, v: Scalar, op: str) -> bool:
    """Compare element x with literal v under `op`; false if their kinds differ."""
    left: Any
    right: Any
    if isinstance(v, bool):
        return isinstance(x, bool) and op == "==" and x == v
    if isinstance(v, int | float):
        if isinstance(x, bool) or not isinstance(x, int | float):
            return False
        left, right = x, v
    elif isinstance(v, DateTimeValue):
        key = stored_datetime_key(x) if isinstance(x, str) else None
        if key is None:
            return False
        left, right = key, v.canonical
    else:
        if not isinstance(x, str):
            return False
        left, right = x, v
    if op == "==":
        return bool(left == right)
    if op == ">":
        return bool(left > right)
    if op == ">=":
        return bool(left >= right)
    if op == "<":
        return bool(left < right)
    return bool(left <= right)


# ---------------------------------------------------------------- scopeQ

def scope_regex(pattern: ScopePattern) -> str:
    """Regular expression for a scope pattern holding a `+` level (shared with SQL)."""
    body = "".join("/[^/]+" if level == "+" else "/" + re.escape(level)
                   for level in pattern.levels)
    return "(?s)^" + body + ("(?:/.*)?" if pattern.descendants else "") + r"\Z"


def scope_matches(pattern: ScopePattern, scope: str) -> bool:
    if "+" in pattern.levels:
        return bool(regexp(scope_regex(pattern), scope))
    base = "".join("/" + level for level in pattern.levels)
    if pattern.descendants:
        return scope == base or scope.startswith(base + "/")
    return scope == base


def evaluate_scope_q(node: ScopeNode, scopes: Iterable[str]) -> bool:
    """Does an entity with these scopes satisfy the scopeQ (clause 4.19)?"""
    values = [s for s in scopes if isinstance(s, str)]
    return _scope(node, values)


def _scope(node: ScopeNode, scopes: list[str]) -> bool:
    if isinstance(node, ScopeAnd):
        return all(_scope(term, scopes) for term in node.terms)
    if isinstance(node, ScopeOr):
        return any(_scope(term, scopes) for term in node.terms)
    return any(scope_matches(node, s) for s in scopes)


# ---------------------------------------------------------------- types

def evaluate_types(node: TypeNode, types: Iterable[str]) -> bool:
    """Does an entity with these (expanded) types satisfy the type expression (4.17)?"""
    have = frozenset(types)
    return _types(node, have)


def _types(node: TypeNode, have: frozenset[str]) -> bool:
    if isinstance(node, TypeName):
        return node.iri in have
    if isinstance(node, TypeAnd):
        return all(_types(term, have) for term in node.terms)
    assert isinstance(node, TypeOr)
    return any(_types(term, have) for term in node.terms)
