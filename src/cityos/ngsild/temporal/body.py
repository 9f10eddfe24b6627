"""Temporal entity representations sent by clients (ETSI GS CIM 009 §4.5.7, §5.6.11,
§5.6.12): every attribute is an array of instances, several of which may share a
datasetId (they differ in time). Instances are parsed into the internal form; an
instance whose value is the NGSI-LD Null records a deletion."""

from __future__ import annotations

from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.model.attributes import NULL_MARKER, parse_instance
from cityos.ngsild.model.entity import GEO_ATTRIBUTES, parse_scope, parse_types
from cityos.ngsild.model.names import ENTITY_MEMBERS, require_attribute_name, require_uri
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.temporal.times import parse_micros, require_micros
from cityos.ngsild.types import JsonObject

MAX_INSTANCES = 100_000
# The parsed entity's key for the instances of a Scope sent in its temporal representation
# (never stored in the current entity).
SCOPE_HISTORY = "scopeHistory"


def _instances(name: str, raw: Any, ctx: TermMapper) -> list[JsonObject]:
    if raw == NULL_MARKER or raw is None:
        # §5.5.4: the Null marker is for values; a member set to it is not an attribute
        raise BadRequestData(f"{name} cannot be set to null in a temporal representation")
    items = raw if isinstance(raw, list) and raw and all(isinstance(i, dict) for i in raw) \
        else [raw]
    if len(items) > MAX_INSTANCES:
        raise BadRequestData(f"{name} has more than {MAX_INSTANCES} instances")
    instances = [parse_instance(item, ctx, mode="patch") for item in items]
    return instances


def parse_temporal_attributes(body: Any, ctx: TermMapper) -> JsonObject:
    """Attribute IRI → instances, for every attribute member of `body`."""
    if not isinstance(body, dict):
        raise BadRequestData("the request body must be a JSON object")
    attrs: JsonObject = {}
    for name, raw in body.items():
        if name in ENTITY_MEMBERS:
            if name != "@context" and (raw == NULL_MARKER or raw is None):
                # §5.5.4: the Null marker as a first-level member is only for Fragments
                # of partial updates and merges; temporal input is not one
                raise BadRequestData(f"{name} cannot be null in a temporal representation")
            continue
        require_attribute_name(name)
        iri = ctx.expand_term(name)
        instances = _instances(name, raw, ctx)
        if iri in GEO_ATTRIBUTES and any(i["type"] != "GeoProperty" for i in instances):
            raise BadRequestData(f"{name} must be a GeoProperty")
        attrs.setdefault(iri, []).extend(instances)
    return attrs


def parse_temporal_entity(body: Any, ctx: TermMapper) -> JsonObject:
    """§5.6.11: id, type(s), optional scope and the attributes' instances."""
    if not isinstance(body, dict) or not body:
        raise BadRequestData("a temporal entity must be a non-empty JSON object")
    if "id" not in body:
        raise BadRequestData("the temporal entity has no id")
    if "type" not in body:
        raise BadRequestData("the temporal entity has no type")
    entity: JsonObject = {"id": require_uri(body["id"], "entity id"),
                          "type": parse_types(body["type"], ctx)}
    if "scope" in body:
        history = parse_scope_history(body["scope"])
        if history is None:
            entity["scope"] = parse_scope(body["scope"])
        else:
            entity[SCOPE_HISTORY] = history
            entity["scope"] = max(history, key=_set_at)["value"]  # the latest is current
    entity["attrs"] = parse_temporal_attributes(body, ctx)
    return entity


def _set_at(instance: JsonObject) -> int:
    observed = instance.get("observedAt")
    return parse_micros(observed) if isinstance(observed, str) else -(2**62)


def parse_scope_history(raw: Any) -> list[JsonObject] | None:
    """V1.9.1 §4.18: the Scope in its temporal representation, an array of Property
    instances whose value is a Scope, each valid from its observedAt (None when `raw` is
    a plain Scope)."""
    if not isinstance(raw, list) or not raw or not all(isinstance(i, dict) for i in raw):
        return None
    history = []
    for item in raw:
        if item.get("type", "Property") != "Property" or "value" not in item:
            raise BadRequestData("a Scope instance must be a Property with a value")
        unknown = sorted(set(item) - {"type", "value", "observedAt"})
        if unknown:
            raise BadRequestData(f"a Scope instance has unknown members {unknown}"[:200])
        instance: JsonObject = {"type": "Property", "value": parse_scope(item["value"])}
        if "observedAt" in item:
            require_micros(item["observedAt"], "observedAt")
            instance["observedAt"] = item["observedAt"]
        history.append(instance)
    return history


def parse_instance_fragment(body: Any, name: str, iri: str, ctx: TermMapper) -> JsonObject:
    """§5.6.14: the members replacing those of one attribute instance. The body is the
    instance fragment itself (§6.22.3.1) or, accepted as well, an object holding it under
    the attribute name."""
    if not isinstance(body, dict) or not body:
        raise BadRequestData("the body must be an attribute instance fragment")
    if name in body or iri in body:
        attrs = parse_temporal_attributes(body, ctx)
        instances = attrs.get(iri) or []
        if len(instances) != 1:
            raise BadRequestData("the body must hold exactly one instance of the attribute")
        instance: JsonObject = instances[0]
        return instance
    fragment = {k: v for k, v in body.items() if k != "@context"}
    if not fragment:
        raise BadRequestData("the body must be an attribute instance fragment")
    return _instances(name, fragment, ctx)[0]
