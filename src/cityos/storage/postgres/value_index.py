"""The attribute-value side table `attr_values`, so that selective q-queries do not scan
every entity (the PostgreSQL twin of cityos.storage.sqlite.value_index).

One row per scalar an attribute instance compares with in the q-language (ETSI GS CIM 009
§4.9): the value of a Property (each element of an array), the object(s) of a
Relationship, the strings of a LanguageProperty, the vocab of a VocabProperty, the
elements of a ListProperty, ListRelationship or JsonProperty array. Numbers (never
booleans) go to `num` as exact `numeric`, strings to `txt`. Sub-attributes are not indexed.

Numeric comparisons on a plain attribute are decided by the index alone; string equality
narrows the candidates and the JSON predicate still runs. A btree entry holds at most
~2.7 kB, so longer (attribute, string) pairs are not indexed, and queries for them skip
the index (`indexable`).

Measured against a `jsonb_path_ops` GIN index on the documents (docs/benchmarks.md): the
GIN index answers equality containment only, not `>`/`<`, and its containment is not the
q equality (arrays, kinds); the side table answers both, exactly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.model.index_terms import comparable_scalars
from cityos.ngsild.query.ast import And, Comparison, Op, ValueList, ValueRange
from cityos.ngsild.types import JsonObject
from cityos.storage.postgres.binder import Binder

_ORDER_SQL = {Op.EQ: "=", Op.GT: ">", Op.GE: ">=", Op.LT: "<", Op.LE: "<="}
MAX_INDEXED_BYTES = 2000  # attribute IRI + string, safely below the btree entry limit

Row = tuple[str, Decimal | None, str | None]  # attribute IRI, number, text
KeyedRow = tuple[int, str, Decimal | None, str | None]  # entity pk, then a Row


def as_numeric(value: int | float) -> Decimal:
    """The exact decimal a JSON number denotes: floats by their shortest repr, which is
    also how orjson writes them into the stored document."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def indexable(attr: str, text: str = "") -> bool:
    return len(attr.encode()) + len(text.encode()) <= MAX_INDEXED_BYTES


def _instance_rows(attr: str, instances: list[JsonObject]) -> list[Row]:
    rows: list[Row] = []
    for instance in instances:
        for scalar in comparable_scalars(instance):
            if isinstance(scalar, bool):
                continue
            if isinstance(scalar, int | float) and indexable(attr):
                rows.append((attr, as_numeric(scalar), None))
            elif isinstance(scalar, str) and indexable(attr, scalar):
                rows.append((attr, None, scalar))
    return rows


def value_rows(entity: JsonObject | None) -> dict[str, list[Row]]:
    """The index rows of an entity, by attribute."""
    if entity is None:
        return {}
    return {attr: _instance_rows(attr, instances)
            for attr, instances in entity["attrs"].items()}


def value_delta(pk: int, before: JsonObject | None, after: JsonObject | None
                ) -> tuple[list[tuple[int, str]], list[KeyedRow]]:
    """What brings the rows of entity `pk` from `before` to `after`: the (pk, attribute)
    pairs whose rows go, and the rows that come, for the attributes whose rows differ."""
    old, new = value_rows(before), value_rows(after)
    changed = [attr for attr in old.keys() | new.keys() if old.get(attr) != new.get(attr)]
    stale = [(pk, attr) for attr in changed if old.get(attr)]
    return stale, [(pk, *row) for attr in changed for row in new.get(attr, ())]


async def reindex_values(conn: AsyncConnection[Any], pk: int, before: JsonObject | None,
                         after: JsonObject) -> None:
    """Bring the rows of entity `pk` from `before` to `after`, rewriting only the
    attributes whose rows differ (a deleted entity loses its rows by cascade)."""
    stale, rows = value_delta(pk, before, after)
    if stale:
        await conn.execute("DELETE FROM attr_values WHERE pk = %s AND attr = ANY(%s)",
                           (pk, [attr for _, attr in stale]))
    if rows:
        async with conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO attr_values (pk, attr, num, txt) VALUES (%s, %s, %s, %s)", rows)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _plain_indexed(term: Comparison) -> bool:
    """The term compares a plain attribute (no sub-attribute, member or key) the value
    index holds."""
    path = term.path
    return not (path.sub_attrs or path.member or path.keys) and indexable(path.attr)


def _number_condition(term: Comparison, bind: Binder) -> str | None:
    """The condition on `v.num` that decides a numeric comparison of a plain attribute
    exactly, or None when the term is not one."""
    if not _plain_indexed(term):
        return None
    value = term.value
    if term.op in _ORDER_SQL and isinstance(value, int | float) and _is_number(value):
        return f"v.num {_ORDER_SQL[term.op]} {bind(as_numeric(value), 'numeric')}"
    if term.op is Op.EQ and isinstance(value, ValueRange) \
            and isinstance(value.low, int | float) and _is_number(value.low) \
            and isinstance(value.high, int | float) and _is_number(value.high):
        return (f"v.num BETWEEN {bind(as_numeric(value.low), 'numeric')} "
                f"AND {bind(as_numeric(value.high), 'numeric')}")
    if term.op is Op.EQ and isinstance(value, ValueList) and value.values \
            and all(_is_number(v) for v in value.values):
        numbers = [as_numeric(v) for v in value.values if isinstance(v, int | float)]
        return f"v.num = ANY({bind(numbers, 'numeric[]')})"
    return None


def _term(term: Comparison, bind: Binder) -> tuple[str, bool] | None:
    """SQL selecting the pks that may satisfy `term`, and whether it decides it exactly."""
    if not _plain_indexed(term):
        return None
    path, value = term.path, term.value
    number = _number_condition(term, bind)
    head = ("EXISTS (SELECT 1 FROM attr_values v WHERE v.pk = e.pk "
            f"AND v.attr = {bind(path.attr, 'text')}")
    if number is not None:
        return f"{head} AND {number})", True
    if term.op is Op.EQ and isinstance(value, str) and indexable(path.attr, value):
        return f"{head} AND v.txt = {bind(value, 'text')})", False
    return None


def numeric_walk(q: object, bind: Binder, after: int, count: int) -> str | None:
    """SQL listing, in pk order, the first `count` distinct pks after `after` whose value
    rows satisfy the first numeric comparison that q requires (a comparison, or a term
    of an AND), by an index-only walk of `(attr, pk) INCLUDE (num)` — or None when q
    has no such term. Every pk of an entity that satisfies q is among them (the term is
    necessary, and exact on its own); the caller checks the rest of the query."""
    terms = q.terms if isinstance(q, And) else (q,)
    for term in terms:
        if not isinstance(term, Comparison):
            continue
        number = _number_condition(term, bind)
        if number is not None:
            return (f"SELECT DISTINCT v.pk FROM attr_values v "
                    f"WHERE v.attr = {bind(term.path.attr, 'text')} AND {number} "
                    f"AND v.pk > {bind(after, 'int8')} ORDER BY v.pk "
                    f"LIMIT {bind(count, 'int8')}")
    return None


def index_prefilter(q: object, bind: Binder) -> tuple[str, bool] | None:
    """For a comparison, or an AND of terms, the index conditions that narrow it; `exact`
    when they decide the whole q so the JSON predicate can be skipped."""
    terms = q.terms if isinstance(q, And) else (q,)
    clauses: list[str] = []
    exact = True
    for term in terms:
        found = _term(term, bind) if isinstance(term, Comparison) else None
        if found is None:
            exact = False
            continue
        clauses.append(found[0])
        exact = exact and found[1]
    if not clauses:
        return None
    return " AND ".join(clauses), exact
