"""What a Subscription matches, compiled from its stored form (ETSI GS CIM 009 V1.8.1
§5.2.12, §5.11 "Subscription notification behaviour").

`compile_plan` turns the stored Subscription into frozen ASTs; `MatchPlan.selects` decides
the entity selectors (id, idPattern, type expression) and `MatchPlan.filters` the q, scopeQ
and geoQ filters, both on one entity in internal form. Linked Entity terms of q need other
entities: `MatchPlan.needs_linked` tells the caller to evaluate q against a store instead.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cityos.ngsild.geo import GeoQuery, matches_any, parse_geo_query_object
from cityos.ngsild.query import (
    QNode,
    ScopeNode,
    TypeNode,
    evaluate_q,
    evaluate_scope_q,
    evaluate_types,
    linked_depth,
    parse_q,
    parse_scope_q,
)
from cityos.ngsild.subscription.types_json import type_from_json, type_names
from cityos.ngsild.types import JsonObject


@dataclass(frozen=True)
class SelectorPlan:
    """One §5.2.33 EntitySelector."""

    types: TypeNode
    type_names: frozenset[str]
    entity_id: str | None = None
    id_pattern: re.Pattern[str] | None = None

    def selects(self, entity: JsonObject) -> bool:
        if self.entity_id is not None and entity["id"] != self.entity_id:
            return False
        if self.entity_id is None and self.id_pattern is not None \
                and not self.id_pattern.search(entity["id"]):
            return False
        return evaluate_types(self.types, entity["type"])


class FilterKey:
    """What decides whether a Subscription selects an entity (its entity selectors, q,
    scopeQ and geoQ), hashed once. Equal keys are interned (`filter_key`), so that
    Subscriptions asking the same question share one object and compare by identity."""

    __slots__ = ("__weakref__", "_hash", "parts")

    def __init__(self, parts: tuple[Any, ...]) -> None:
        self.parts = parts
        self._hash = hash(parts)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, FilterKey) and self._hash == other._hash
                                 and self.parts == other.parts)


_FILTER_KEYS: weakref.WeakValueDictionary[FilterKey, FilterKey] = \
    weakref.WeakValueDictionary()


@dataclass(frozen=True)
class MatchPlan:
    selectors: tuple[SelectorPlan, ...]
    watched: frozenset[str] | None
    triggers: frozenset[str]
    q: QNode | None
    scope_q: ScopeNode | None
    geo: GeoQuery | None
    time_interval: float | None

    @cached_property
    def filter_key(self) -> FilterKey:
        """The interned key of this plan's selectors and filters."""
        key = FilterKey((self.selectors, self.q, self.scope_q, self.geo))
        return _FILTER_KEYS.setdefault(key, key)

    @cached_property
    def needs_linked(self) -> bool:
        """q holds Linked Entity terms (clause 4.9 `rel{attr}`): decided by the store."""
        return self.q is not None and linked_depth(self.q) > 0

    def selects(self, entity: JsonObject) -> bool:
        """Entity selectors (none means every entity: watchedAttributes decide)."""
        return not self.selectors or any(s.selects(entity) for s in self.selectors)

    def filters(self, entity: JsonObject) -> bool:
        """q, scopeQ and geoQ on the entity itself (Linked Entity q terms are False here)."""
        if self.q is not None and not evaluate_q(self.q, entity):
            return False
        if self.scope_q is not None and not evaluate_scope_q(self.scope_q,
                                                             entity.get("scope", [])):
            return False
        if self.geo is not None:
            return matches_any(self.geo, _geometries(entity, self.geo.geoproperty_iri))
        return True


def _geometries(entity: JsonObject, attribute: str) -> list[JsonObject]:
    return [i["value"] for i in entity.get("attrs", {}).get(attribute, [])
            if i.get("type") == "GeoProperty" and isinstance(i.get("value"), dict)]


def compile_plan(doc: JsonObject) -> MatchPlan:
    """The matching plan of a stored Subscription (its members were validated already)."""
    selectors = tuple(_selector(s) for s in doc.get("entities", ()))
    watched = doc.get("watchedAttributes")
    q = None
    if "q" in doc:
        terms: dict[str, str] = doc.get("qTerms") or {}
        q = parse_q(doc["q"], lambda term: terms.get(term, term))
    geo = None
    if "geoQ" in doc:
        geo = parse_geo_query_object(doc["geoQ"], lambda term: term)
    return MatchPlan(
        selectors=selectors,
        watched=frozenset(watched) if watched else None,
        triggers=frozenset(doc["notificationTrigger"]),
        q=q,
        scope_q=parse_scope_q(doc["scopeQ"]) if "scopeQ" in doc else None,
        geo=geo,
        time_interval=_number(doc.get("timeInterval")),
    )


def _number(value: Any) -> float | None:
    return float(value) if value is not None else None


def _selector(selector: JsonObject) -> SelectorPlan:
    pattern = selector.get("idPattern")
    return SelectorPlan(
        types=type_from_json(selector["type"]),
        type_names=frozenset(type_names(selector["type"])),
        entity_id=selector.get("id"),
        id_pattern=re.compile(pattern) if pattern is not None else None,
    )
