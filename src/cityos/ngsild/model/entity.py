"""Entities: parsing a request body into the internal form (ETSI GS CIM 009 §4.5.1, §5.6)."""

from __future__ import annotations

import re
from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.model.attributes import Mode, parse_attribute
from cityos.ngsild.model.names import (
    ENTITY_MEMBERS,
    require_attribute_name,
    require_datetime,
    require_type_name,
    require_uri,
)
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.types import JsonObject

# §4.18: a scope is a path of one or more "/"-separated non-empty levels.
_SCOPE = re.compile(r"^/[^/\s#+]+(/[^/\s#+]+)*$")
MAX_TYPES = 100
# §4.7.1: these core attributes are GeoProperties by definition.
GEO_ATTRIBUTES = frozenset({"https://uri.etsi.org/ngsi-ld/location",
                            "https://uri.etsi.org/ngsi-ld/observationSpace",
                            "https://uri.etsi.org/ngsi-ld/operationSpace"})


def parse_types(raw: Any, ctx: TermMapper) -> list[str]:
    """Entity type(s): a name or a non-empty array of names, expanded to IRIs."""
    names = raw if isinstance(raw, list) else [raw]
    if not names or len(names) > MAX_TYPES:
        raise BadRequestData("an entity needs one to 100 types")
    expanded: list[str] = []
    for name in names:
        if isinstance(name, str) and name[:1].isdigit():
            raise BadRequestData(f"entity type {name!r} must not start with a digit"[:200])
        iri = ctx.expand_term(require_type_name(name))
        if iri not in expanded:
            expanded.append(iri)
    return expanded


def parse_scope(raw: Any) -> list[str]:
    scopes = raw if isinstance(raw, list) else [raw]
    for scope in scopes:
        if not isinstance(scope, str) or not _SCOPE.match(scope) or scope == "urn:ngsi-ld:null":
            raise BadRequestData(f"invalid scope {scope!r}"[:200])
    return list(dict.fromkeys(scopes))


def parse_fragment(body: Any, ctx: TermMapper, *, mode: Mode = "patch") -> JsonObject:
    """Attributes of a request body (the entity minus id/type/scope), keyed by IRI."""
    if not isinstance(body, dict):
        raise BadRequestData("the request body must be a JSON object")
    attrs: JsonObject = {}
    for name, raw in body.items():
        if name in ENTITY_MEMBERS:
            continue
        require_attribute_name(name)
        iri = ctx.expand_term(name)
        instances = parse_attribute(raw, ctx, mode=mode)
        if iri in GEO_ATTRIBUTES and any(i["type"] not in ("GeoProperty",) and
                                         i.get("value") != "urn:ngsi-ld:null"
                                         for i in instances):
            raise BadRequestData(f"{name} must be a GeoProperty")
        attrs[iri] = instances
    return attrs


def parse_entity(body: Any, ctx: TermMapper, *, entity_id: str | None = None) -> JsonObject:
    """A complete entity (§5.6.1 create, §5.6.3 replace): id, type(s), scope, attributes.

    `entity_id` is given when the id comes from the URL (replace); a differing id in the
    body is then an error.
    """
    if not isinstance(body, dict):
        raise BadRequestData("an entity must be a JSON object")
    raw_id = body.get("id", body.get("@id", entity_id))
    if raw_id is None:
        raise BadRequestData("the entity has no id")
    if entity_id is not None and raw_id != entity_id:
        raise BadRequestData("the entity id in the body differs from the one in the URL")
    raw_type = body.get("type", body.get("@type"))
    if raw_type is None:
        raise BadRequestData("the entity has no type")
    entity: JsonObject = {"id": require_uri(raw_id, "entity id"),
                          "type": parse_types(raw_type, ctx)}
    if "scope" in body:
        entity["scope"] = parse_scope(body["scope"])
    if "expiresAt" in body:  # V1.9.1 §4.22: a transient entity
        entity["expiresAt"] = require_datetime(body["expiresAt"], "expiresAt")
    entity["attrs"] = parse_fragment(body, ctx, mode="create")
    return entity


def check_id(value: Any) -> str:
    return require_uri(value, "entity id")


def check_attribute_name(value: Any) -> str:
    return require_attribute_name(value)
