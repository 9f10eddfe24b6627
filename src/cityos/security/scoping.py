"""Queries narrowed to what the caller may read, before they reach the store: the entity
types (and, where every grant shares one, the id pattern) the caller's read grants cover
are added to the query, so counts and paging see only readable entities. A filter (q,
orderBy, or attrs, which keeps entities having the attribute) on an attribute the caller
may not read is refused: it would otherwise reveal the attribute's value, or presence,
one bit at a time."""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from typing import Any

from cityos.ngsild.query.ast import AttrPath, TypeAnd, TypeName, TypeNode, TypeOr
from cityos.security.policy import ANY, Authorizer, Operation
from cityos.storage.base import EntityQuery

NOTHING = "urn:cityos:nothing-readable"  # a type no entity has: an empty result


def attribute_paths(node: Any) -> set[str]:
    """Attribute IRIs a query AST (q, orderBy) looks at."""
    found: set[str] = set()
    _walk(node, found)
    return found


def _walk(node: Any, found: set[str]) -> None:
    if isinstance(node, AttrPath):
        found.add(node.attr)
        return
    if isinstance(node, (tuple, list)):
        for item in node:
            _walk(item, found)
        return
    if is_dataclass(node) and not isinstance(node, type):
        for f in fields(node):
            _walk(getattr(node, f.name), found)


def type_scope(authz: Authorizer, op: Operation) -> TypeNode | None:
    """The types the caller's grants cover as a type expression; None when a grant
    covers every type."""
    grants = authz.grants(op)
    if any(g.entity_type == ANY for g in grants):
        return None
    names = sorted({g.entity_type for g in grants}) or [NOTHING]
    terms = tuple(TypeName(name) for name in names)
    return terms[0] if len(terms) == 1 else TypeOr(terms)


def shared_pattern(authz: Authorizer, op: Operation) -> str | None:
    """The id pattern every grant carries, if they all carry the same one."""
    patterns = {g.id_pattern for g in authz.grants(op)}
    if len(patterns) == 1:
        return next(iter(patterns))
    return None


def scoped_query(authz: Authorizer, query: EntityQuery, op: Operation = "read"
                 ) -> EntityQuery:
    """`query` narrowed to what the caller may `op`; raises when it may not at all or
    when the query filters on an attribute it may not read."""
    if authz.unrestricted:
        return query
    authz.require_any(op)
    looked_at = attribute_paths((query.q, query.order_by)) | set(query.attrs or ())
    for attribute in sorted(looked_at):
        if not authz.filterable(attribute, op):
            raise authz.denied("read", f"attribute {attribute}")
    scope = type_scope(authz, op)
    if scope is not None:
        types = scope if query.types is None else TypeAnd((query.types, scope))
        query = replace(query, types=types)
    pattern = shared_pattern(authz, op)
    if pattern is not None and query.id_pattern is None:
        query = replace(query, id_pattern=pattern)
    return query
