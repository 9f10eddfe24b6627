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

from cityos.ngsild.model.index_terms import comparable_scalars
from cityos.ngsild.query.ast import And, Comparison, Op, ValueList, ValueRange
from cityos.ngsild.types import JsonObject

VALUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS attr_values (pk INTEGER NOT NULL, attr TEXT NOT NULL,
                                        num REAL, txt TEXT);
CREATE INDEX IF NOT EXISTS attr_values_num ON attr_values (attr, num) WHERE num IS NOT NULL;
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


def _term(term: Comparison) -> tuple[str, list[object], bool] | None:
    """SQL selecting the pks that may satisfy `term`, and whether it decides it exactly."""
    path = term.path
    if path.sub_attrs or path.member or path.keys:
        return None
    head = "e.pk IN (SELECT pk FROM attr_values WHERE attr = ? AND "
    value = term.value
    if term.op in _ORDER_SQL and _is_number(value):
        return head + "num " + _ORDER_SQL[term.op] + " ?)", [path.attr, value], True
    if term.op is Op.EQ and isinstance(value, ValueRange) and _is_number(value.low) \
            and _is_number(value.high):
        return head + "num BETWEEN ? AND ?)", [path.attr, value.low, value.high], True
    if term.op is Op.EQ and isinstance(value, ValueList) and value.values \
            and all(_is_number(v) for v in value.values):
        marks = ",".join("?" * len(value.values))
        return head + "num IN (" + marks + "))", [path.attr, *value.values], True
    if term.op is Op.EQ and isinstance(value, str):
        return head + "txt = ?)", [path.attr, value], False
    return None


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
