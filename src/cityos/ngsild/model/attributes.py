"""Attribute instances: parsing of every attribute kind (ETSI GS CIM 009 §4.5.2–§4.5.24).

Accepts the normalized form and the concise form (§4.5.25: `type` may be left out when the
value member says what the attribute is). keyValues-style scalars become Properties.
"""

from __future__ import annotations

from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.geo import validate_geometry
from cityos.ngsild.model.names import (
    require_attribute_name,
    require_datetime,
    require_uri,
)
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.types import JsonObject

NULL_MARKER = "urn:ngsi-ld:null"
KIND_VALUE_MEMBER = {
    "Property": "value",
    "GeoProperty": "value",
    "Relationship": "object",
    "LanguageProperty": "languageMap",
    "VocabProperty": "vocab",
    "JsonProperty": "json",
    "ListProperty": "valueList",
    "ListRelationship": "objectList",
}
ATTRIBUTE_KINDS = frozenset(KIND_VALUE_MEMBER)
GEOMETRY_TYPES = frozenset({"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                            "MultiPolygon", "GeometryCollection"})
# Members of an attribute instance that are not sub-attributes (§4.5.2.2, §4.5.3.2 …).
INSTANCE_MEMBERS = frozenset({"type", "value", "object", "languageMap", "vocab", "json",
                              "valueList", "objectList", "observedAt", "unitCode", "datasetId",
                              "objectType", "createdAt", "modifiedAt", "instanceId", "lang",
                              "deletedAt", "previousValue", "previousObject",
                              "previousLanguageMap", "previousVocab", "previousJson",
                              "previousValueList", "previousObjectList"})
SYSTEM_MEMBERS = frozenset({"createdAt", "modifiedAt", "instanceId", "deletedAt", "lang",
                            "@context"})
MAX_DEPTH = 8


def _concise_kind(raw: JsonObject) -> str:
    """§4.5.25: infer the attribute kind of a concise attribute from its members."""
    for kind, member in (("Relationship", "object"), ("LanguageProperty", "languageMap"),
                         ("VocabProperty", "vocab"), ("JsonProperty", "json"),
                         ("ListProperty", "valueList"), ("ListRelationship", "objectList")):
        if member in raw:
            return kind
    if "value" in raw:
        value = raw["value"]
        is_geo = isinstance(value, dict) and value.get("type") in GEOMETRY_TYPES
        return "GeoProperty" if is_geo else "Property"
    return ""


def _value_member(kind: str, raw: JsonObject, ctx: TermMapper) -> Any:
    member = KIND_VALUE_MEMBER[kind]
    if member not in raw:
        raise BadRequestData(f"a {kind} must have a '{member}' member")
    value = raw[member]
    if value is None:
        raise BadRequestData(f"the '{member}' of a {kind} must not be null")
    if kind == "GeoProperty":
        return value if value == NULL_MARKER else validate_geometry(value)
    if kind == "Relationship":
        return _uris(value, "Relationship object", allow_list=True)
    if kind == "ListRelationship":
        return _uri_list(value)
    if kind == "LanguageProperty":
        return _language_map(value)
    if kind == "VocabProperty":
        return _vocab(value, ctx)
    if kind == "ListProperty":
        if not isinstance(value, list):
            raise BadRequestData("the valueList of a ListProperty must be an array")
    return value


def _uris(value: Any, what: str, *, allow_list: bool) -> Any:
    if isinstance(value, list) and allow_list and value:
        return [require_uri(item, what) for item in value]
    if value == NULL_MARKER:
        return value
    return require_uri(value, what)


def _uri_list(value: Any) -> Any:
    if value == NULL_MARKER:
        return value
    if not isinstance(value, list):
        raise BadRequestData("the objectList of a ListRelationship must be an array")
    out = []
    for item in value:
        # The spec allows each element either as a URI or as {"object": URI}.
        target = item.get("object") if isinstance(item, dict) else item
        out.append(require_uri(target, "ListRelationship object"))
    return out


def _language_map(value: Any) -> Any:
    if value == NULL_MARKER:
        return value
    if not isinstance(value, dict) or not value:
        raise BadRequestData("a languageMap must be a non-empty object of language → string")
    for lang, text in value.items():
        if not isinstance(lang, str) or not lang or not isinstance(text, (str, list)):
            raise BadRequestData(f"invalid languageMap entry {lang!r}"[:200])
    return value


def _vocab(value: Any, ctx: TermMapper) -> Any:
    if value == NULL_MARKER:
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return [ctx.expand_vocab_value(v) for v in value]
    if isinstance(value, str) and value:
        return ctx.expand_vocab_value(value)
    raise BadRequestData("a vocab must be a string or an array of strings")


def parse_instance(raw: Any, ctx: TermMapper, *, depth: int = 0) -> JsonObject:
    """Parse one attribute instance into the internal form (sub-attributes expanded)."""
    if depth > MAX_DEPTH:
        raise BadRequestData("attributes are nested too deeply")
    if not isinstance(raw, dict):
        return {"type": "Property", "value": raw} if raw is not None else _null_value()
    kind = raw.get("type")
    if kind is None:
        kind = _concise_kind(raw)
        if not kind:
            return {"type": "Property", "value": raw}
    elif kind in GEOMETRY_TYPES and "coordinates" in raw or kind == "GeometryCollection":
        return {"type": "GeoProperty", "value": validate_geometry(raw)}
    if kind not in ATTRIBUTE_KINDS:
        raise BadRequestData(f"invalid attribute type {kind!r}"[:200])
    instance: JsonObject = {"type": kind, KIND_VALUE_MEMBER[kind]: _value_member(kind, raw, ctx)}
    _copy_metadata(raw, instance)
    subs = _parse_sub_attributes(raw, ctx, depth)
    if subs:
        instance["attrs"] = subs
    return instance


def _null_value() -> JsonObject:
    raise BadRequestData("an attribute value must not be null")


def _copy_metadata(raw: JsonObject, instance: JsonObject) -> None:
    if "observedAt" in raw:
        instance["observedAt"] = require_datetime(raw["observedAt"], "observedAt")
    if "unitCode" in raw:
        if not isinstance(raw["unitCode"], str) or not raw["unitCode"]:
            raise BadRequestData("unitCode must be a non-empty string")
        instance["unitCode"] = raw["unitCode"]
    if "datasetId" in raw:
        instance["datasetId"] = require_uri(raw["datasetId"], "datasetId")
    if "objectType" in raw and instance["type"] in ("Relationship", "ListRelationship"):
        instance["objectType"] = raw["objectType"]


def _parse_sub_attributes(raw: JsonObject, ctx: TermMapper, depth: int) -> JsonObject:
    subs: JsonObject = {}
    for name, sub_raw in raw.items():
        if name in INSTANCE_MEMBERS:
            continue
        require_attribute_name(name)
        sub = parse_instance(sub_raw, ctx, depth=depth + 1)
        subs[ctx.expand_term(name)] = sub
    return subs


def parse_attribute(raw: Any, ctx: TermMapper) -> list[JsonObject]:
    """Parse an attribute given as one instance or an array of instances (§4.5.5)."""
    if isinstance(raw, list) and raw and all(_is_instance_object(item) for item in raw):
        instances = [parse_instance(item, ctx) for item in raw]
    else:
        instances = [parse_instance(raw, ctx)]
    seen: set[str | None] = set()
    for instance in instances:
        dataset_id = instance.get("datasetId")
        if dataset_id in seen:
            raise BadRequestData(f"datasetId {dataset_id!r} appears twice in one attribute")
        seen.add(dataset_id)
    return instances


def _is_instance_object(item: Any) -> bool:
    return isinstance(item, dict) and (item.get("type") in ATTRIBUTE_KINDS
                                       or bool(_concise_kind(item)) or "datasetId" in item)
