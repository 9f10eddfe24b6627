"""The entity part of a temporal query (ETSI GS CIM 009 §5.7.4.4 S2–S4): which entities
match, judged on their history inside the query's window, and — for scopeQ — the Scopes
that were valid there (V1.9.1 §4.18, cityos.ngsild.temporal.scope_validity).

The service loads what is needed; everything here is pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from cityos.ngsild.geo import GeoQuery, matches_any
from cityos.ngsild.query import evaluate_q, evaluate_types
from cityos.ngsild.temporal.diff import SCOPE_IRI
from cityos.ngsild.temporal.scope_validity import (
    ValidScope,
    instances_while_valid,
    matching_scopes,
)
from cityos.ngsild.temporal.times import format_micros
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery, TemporalSelection

Attrs = dict[str, list[JsonObject]]


@dataclass(frozen=True)
class TemporalFilter:
    """The entity part of a temporal query (§5.7.4): q, geo and scopeQ are judged on the
    instances inside the time window (5.7.4.4 S2–S4)."""

    query: EntityQuery
    local: bool = False


def head_matches(entity_id: str, types: list[str], query: EntityQuery) -> bool:
    """Type selector and idPattern, judged on the temporal entity's id and types."""
    if query.types is not None and not evaluate_types(query.types, types):
        return False
    if query.id_pattern is not None:
        return re.fullmatch(query.id_pattern, entity_id) is not None
    return True


def descending_ids(ordering: Any) -> bool:
    return any(getattr(k, "descending", False) for k in getattr(ordering, "keys", ()))


def satisfies(entity_id: str, types: list[str], attrs: Attrs, query: EntityQuery) -> bool:
    """S2–S3: q and geo against every attribute instance within the window (deletions
    never satisfy a filter)."""
    entity: JsonObject = {"id": entity_id, "type": types, "createdAt": format_micros(0),
                          "modifiedAt": format_micros(0),
                          "attrs": {k: [i for i in v if "deletedAt" not in i]
                                    for k, v in attrs.items() if k != SCOPE_IRI and v}}
    if query.q is not None and not evaluate_q(query.q, entity):
        return False
    return query.geo is None or _geo_matches(query.geo, entity)


def valid_scopes(scope_history: list[JsonObject], query: EntityQuery,
                 selection: TemporalSelection) -> list[ValidScope]:
    """S4: the Scopes satisfying scopeQ that were valid within the window."""
    return matching_scopes(scope_history, selection.timeproperty, query.scope_q,
                           selection.lower, selection.upper)


def while_valid(attrs: Attrs, scopes: list[ValidScope], timeproperty: str) -> Attrs:
    """C.5.16: only the instances of the instants where a matching Scope was valid, and
    those Scopes as the entity's scope instances."""
    kept = {name: instances_while_valid(items, timeproperty, scopes)
            for name, items in attrs.items() if name != SCOPE_IRI}
    kept[SCOPE_IRI] = list({id(s.instance): s.instance for s in scopes}.values())
    return {name: items for name, items in kept.items() if items}


def _geo_matches(geo: GeoQuery, entity: JsonObject) -> bool:
    geometries = [i["value"] for i in entity["attrs"].get(geo.geoproperty_iri, [])
                  if i.get("type") == "GeoProperty"]
    return bool(geometries) and matches_any(geo, geometries)
