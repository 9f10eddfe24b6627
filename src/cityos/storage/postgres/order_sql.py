"""orderBy (ETSI GS CIM 009 V1.9.1 clause 4.23) as PostgreSQL ORDER BY terms over `e`.

Each key sorts entities without it last in both directions (clause 4.23.2), then numbers
before strings (reversed by `desc`, as SQLite orders mixed values), numbers by value and
strings by code point — or, with a `collation`, by ICU's Unicode root collation
(`und-x-icu`), which the SQLite backend approximates in Python. `e.pk` breaks ties.
"""

from __future__ import annotations

from cityos.ngsild.query.order import Ordering, OrderKey
from cityos.storage.postgres.binder import Binder
from cityos.storage.postgres.geo_sql import distance_expression

_ENTITY_ORDER = {"id": "to_jsonb(e.id)", "createdAt": "to_jsonb(e.created_at)",
                 "modifiedAt": "to_jsonb(e.modified_at)", "type": "(e.doc -> 'type' -> 0)"}
_KIND_RANK = ("CASE jsonb_typeof({k}) WHEN 'number' THEN 0 WHEN 'string' THEN 1 "
              "ELSE 2 END")


def compile_order(ordering: Ordering, bind: Binder) -> str:
    """ORDER BY terms for an Ordering."""
    collation = '"und-x-icu"' if ordering.collation else '"C"'
    terms: list[str] = []
    for key in ordering.keys:
        direction = " DESC" if key.descending else ""
        if key.distance:
            assert key.path is not None
            expr = distance_expression(ordering.origin, key.path.attr, bind)
            terms += [f"{expr} IS NULL", expr + direction]
            continue
        k = _key_expression(key, bind)
        terms += [f"{k} IS NULL", _KIND_RANK.format(k=k) + direction,
                  f"ngsild_num({k}){direction}",
                  f"ngsild_str({k}) COLLATE {collation}{direction}", f"{k}{direction}"]
    terms.append("e.pk")
    return ", ".join(terms)


def _key_expression(key: OrderKey, bind: Binder) -> str:
    """The jsonb value a key orders by: the first instance's value member (or the named
    member / key path / sub-attribute)."""
    if key.member is not None:
        return _ENTITY_ORDER[key.member]
    path = key.path
    assert path is not None
    base = ["attrs", path.attr, "0"]
    for sub in path.sub_attrs:
        base += ["attrs", sub]
    if path.member is not None:
        return f"(e.doc #> {bind([*base, path.member], 'text[]')})"
    if path.keys:
        return f"(e.doc #> {bind([*base, 'value', *path.keys], 'text[]')})"
    return ("coalesce(" + ", ".join(f"e.doc #> {bind([*base, member], 'text[]')}"
                                    for member in ("value", "object", "vocab")) + ")")
