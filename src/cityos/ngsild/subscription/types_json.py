"""Entity type expressions of a Subscription's EntitySelectors, kept context-free.

A selector's `type` (ETSI GS CIM 009 V1.8.1 §5.2.33, with the type expressions of clause
4.17) is parsed once with the creating request's @context. The tree is stored as JSON with
expanded IRIs — a string for one type, ``{"or": [...]}`` / ``{"and": [...]}`` otherwise —
so that matching needs no @context and rendering can compact with any @context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cityos.ngsild.query import TypeAnd, TypeName, TypeNode, TypeOr


def type_to_json(node: TypeNode) -> Any:
    """The stored form of a parsed type expression."""
    if isinstance(node, TypeName):
        return node.iri
    key = "and" if isinstance(node, TypeAnd) else "or"
    return {key: [type_to_json(term) for term in node.terms]}


def type_from_json(value: Any) -> TypeNode:
    """Rebuild the expression tree from its stored form."""
    if isinstance(value, str):
        return TypeName(value)
    if "and" in value:
        return TypeAnd(tuple(type_from_json(v) for v in value["and"]))
    return TypeOr(tuple(type_from_json(v) for v in value["or"]))


def type_names(value: Any) -> set[str]:
    """Every type IRI an expression names (stored form)."""
    if isinstance(value, str):
        return {value}
    terms = value.get("and") or value.get("or") or []
    return set().union(*(type_names(t) for t in terms)) if terms else set()


def type_to_text(value: Any, compact: Callable[[str], str], nested: bool = False) -> str:
    """Clause 4.17 text of a stored expression, each name compacted with `compact`."""
    if isinstance(value, str):
        return compact(value)
    key, separator = ("and", ";") if "and" in value else ("or", "|")
    text = separator.join(type_to_text(t, compact, nested=True) for t in value[key])
    return f"({text})" if nested else text
