"""An index of attribute values, so that selective q-queries do not scan every entity.

One row per scalar an attribute instance compares with in the q-language (ETSI GS CIM 009
§4.9): the value of a Property (each element of an array), the object(s) of a Relationship,
the strings of a LanguageProperty, the vocab of a VocabProperty, the elements of a
ListProperty, ListRelationship or of a JsonProperty array. Numbers (never booleans) go to
`num`, strings to `txt`. Sub-attributes are not indexed.

The index narrows the candidates of a query; for numeric comparisons on a plain attribute
it decides them exactly, for string equality the q predicate is still checked on each
candidate.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

from cityos.ngsild.model.index_terms import comparable_scalars
from cityos.ngsild.query.ast import And, Comparison, Op, QNode, ValueList, ValueRange
from cityos.ngsild.types import JsonObject

VALUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS attr_values (pk INTEGER NOT NULL, attr TEXT NOT NULL,
                                        num REAL, txt TEXT);
-- (attr, num, pk): a numeric comparison reads its pks from the index alone (counts).
CREATE INDEX IF NOT EXISTS attr_values_num_pk ON attr_values (attr, num, pk)
    WHERE num IS NOT NULL;
DROP INDEX IF EXISTS attr_values_num;
-- (attr, pk, num): an attribute's numbers in entity order, so a broad comparison's first
-- page is read in pk order and stops at LIMIT (see BROAD_ROWS).
CREATE INDEX IF NOT EXISTS attr_values_pk_order ON attr_values (attr, pk, num)
    WHERE num IS NOT NULL;
CREATE INDEX IF NOT EXISTS attr_values_txt ON attr_values (attr, txt) WHERE txt IS NOT NULL;
CREATE INDEX IF NOT EXISTS attr_values_pk ON attr_values (pk);
"""
_ORDER_SQL = {Op.EQ: "=", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}


Row = tuple[str, float | None, str | None]  # attribute IRI, number, text


def _instance_rows(attr: str, instances: list[JsonObject]) -> list[Row]:
    rows: list[Row] = []
    for instance in instances:
        for scalar in comparable_scalars(instance):
            if isinstance(scalar, bool):
                continue
            if isinstance(scalar, (int, float)):
                rows.append((attr, float(scalar), None))
            elif isinstance(scalar, str):
                rows.append((attr, None, scalar))
    return rows


def value_rows(entity: JsonObject | None) -> dict[str, list[Row]]:
    """The index rows of an entity, by attribute."""
    if entity is None:
        return {}
    return {attr: _instance_rows(attr, instances)
            for attr, instances in entity["attrs"].items()}


def reindex_values(conn: sqlite3.Connection, pk: int, before: JsonObject | None,
                   after: JsonObject | None) -> None:
    """Bring the rows of entity `pk` from `before` to `after`, touching only the attributes
    whose rows differ: an update of one attribute rewrites that attribute's rows alone."""
    old, new = value_rows(before), value_rows(after)
    if after is None:
        conn.execute("DELETE FROM attr_values WHERE pk = ?", (pk,))
        return
    changed = [attr for attr in old.keys() | new.keys() if old.get(attr) != new.get(attr)]
    stale = [(pk, attr) for attr in changed if old.get(attr)]
    if stale:
        conn.executemany("DELETE FROM attr_values WHERE pk = ? AND attr = ?", stale)
    rows = [(pk, *row) for attr in changed for row in new.get(attr, ())]
    if rows:  # one statement for every changed attribute (a new entity: all of them)
        conn.executemany("INSERT INTO attr_values (pk, attr, num, txt) VALUES (?, ?, ?, ?)",
                         rows)


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and abs(value) <= 2 ** 53


def _condition(term: Comparison) -> tuple[str, list[object], bool] | None:
    """The condition on one attr_values row (`num …` or `txt …`, after `attr = ?`) that
    selects the pks which may satisfy `term`, and whether it decides it exactly."""
    path = term.path
    if path.sub_attrs or path.member or path.keys:
        return None
    value = term.value
    if term.op in _ORDER_SQL and _is_number(value):
        return "num " + _ORDER_SQL[term.op] + " ?", [value], True
    if term.op is Op.EQ and isinstance(value, ValueRange) and _is_number(value.low) \
            and _is_number(value.high):
        return "num BETWEEN ? AND ?", [value.low, value.high], True
    if term.op is Op.EQ and isinstance(value, ValueList) and value.values \
            and all(_is_number(v) for v in value.values):
        return "num IN (" + ",".join("?" * len(value.values)) + ")", [*value.values], True
    if term.op is Op.EQ and isinstance(value, str):
        return "txt = ?", [value], False
    return None


def _term(term: Comparison) -> tuple[str, list[object], bool] | None:
    """SQL selecting the pks that may satisfy `term`, and whether it decides it exactly."""
    found = _condition(term)
    if found is None:
        return None
    condition, params, exact = found
    return ("e.pk IN (SELECT pk FROM attr_values WHERE attr = ? AND " + condition + ")",
            [term.path.attr, *params], exact)


class NumericDriver(NamedTuple):
    """A numeric comparison of q that can drive a query through the value index: its
    attribute, its condition on an attr_values row and the condition's parameters."""

    term: Comparison
    attr: str
    condition: str  # over the columns of attr_values, unqualified (`num > ?`)
    params: list[object]


def numeric_driver(q: object) -> NumericDriver | None:
    """The first numeric comparison of a q that the index decides entirely (a comparison
    or an AND of comparisons, every one of them exact), else None."""
    plan = index_prefilter(q)
    if plan is None or not plan[2]:
        return None
    for term in q.terms if isinstance(q, And) else (q,):
        assert isinstance(term, Comparison)  # an exact plan holds comparisons only
        found = _condition(term)
        if found is not None and found[0].startswith("num"):
            return NumericDriver(term, term.path.attr, found[0], found[1])
    return None


def rest_of_q(q: QNode, driver: NumericDriver) -> tuple[str, list[object]] | None:
    """The index conditions of an exact q without its driving term (None: nothing left)."""
    rest = tuple(t for t in (q.terms if isinstance(q, And) else (q,)) if t is not driver.term)
    if not rest:
        return None
    plan = index_prefilter(And(rest) if len(rest) > 1 else rest[0])
    assert plan is not None and plan[2]
    return plan[0], plan[1]


def index_prefilter(q: object) -> tuple[str, list[object], bool] | None:
    """For a comparison, or an AND of terms, the index conditions that narrow it; `exact`
    when they decide the whole q so the JSON predicate can be skipped."""
    terms = q.terms if isinstance(q, And) else (q,)
    clauses: list[str] = []
    params: list[object] = []
    exact = True
    for term in terms:
        found = _term(term) if isinstance(term, Comparison) else None
        if found is None:
            exact = False
            continue
        clauses.append(found[0])
        params.extend(found[1])
        exact = exact and found[2]
    if not clauses:
        return None
    return " AND ".join(clauses), params, exact
