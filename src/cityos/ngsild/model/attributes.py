"""Attribute instances: parsing of every attribute kind (ETSI GS CIM 009 §4.5.2–§4.5.24).

Accepts the normalized form and the concise form (§4.5.25: `type` may be left out when the
value member says what the attribute is). keyValues-style scalars become Properties.

`mode` says what the instance is for: "create" (create, replace: an NGSI-LD Null (§4.6.5)
is an error), "patch" (append, update: a Null deletes the attribute), "merge" (§5.5.4: a
Null inside a compound value also removes that key) or "partial" (partial attribute update,
§5.6.4: only the members given; kind taken from the stored attribute).
"""

from __future__ import annotations

from typing import Any, Literal

import orjson

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.geo import validate_geometry
from cityos.ngsild.model.names import require_attribute_name, require_datetime, require_uri
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.types import JsonObject

Mode = Literal["create", "patch", "merge", "partial"]
NULL_MARKER = "urn:ngsi-ld:null"
NONE_DATASET = "@none"
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
VALUE_MEMBERS = frozenset(KIND_VALUE_MEMBER.values())
GEOMETRY_TYPES = frozenset({"Point", "LineString", "Polygon", "MultiPoint", "MultiLineString",
                            "MultiPolygon"})
# Output-only members (§4.5.2.2 …): a client may never send them.
OUTPUT_ONLY = frozenset({"previousValue", "previousObject", "previousLanguageMap",
                         "previousVocab", "previousJson", "previousValueList",
                         "previousObjectList", "entityIdSealed", "entityTypeSealed"})
# Members that are not sub-attributes; system-generated ones are ignored on input.
METADATA_MEMBERS = frozenset({"observedAt", "unitCode", "datasetId", "objectType",
                              "valueType", "expiresAt"})
IGNORED_MEMBERS = frozenset({"createdAt", "modifiedAt", "instanceId", "deletedAt", "lang"})
UNIT_KINDS = frozenset({"Property", "ListProperty", "GeoProperty"})
MAX_DEPTH = 8
MAX_VALUE_DEPTH = 64


def _concise_kind(raw: JsonObject) -> str:
    """§4.5.25: infer the attribute kind of a concise attribute from its members."""
    for kind, member in (("Relationship", "object"), ("LanguageProperty", "languageMap"),
                         ("VocabProperty", "vocab"), ("JsonProperty", "json"),
                         ("ListProperty", "valueList"), ("ListRelationship", "objectList")):
        if member in raw:
            return kind
    if "value" in raw:
        return "GeoProperty" if _looks_geometric(raw["value"]) else "Property"
    return ""


def _looks_geometric(value: Any) -> bool:
    return isinstance(value, dict) and value.get("type") in GEOMETRY_TYPES \
        and "coordinates" in value


def is_null(kind: str, value: Any) -> bool:
    """§4.6.5: the NGSI-LD Null of each attribute kind."""
    if kind == "LanguageProperty":
        return bool(value == NULL_MARKER or value == {NONE_DATASET: NULL_MARKER})
    if kind in ("ListProperty", "ListRelationship"):
        return bool(value == NULL_MARKER or value in ([NULL_MARKER], [{"object": NULL_MARKER}]))
    if kind == "JsonProperty":
        return bool(value == NULL_MARKER or value == {"@type": "@json", "@value": NULL_MARKER})
    return bool(value == NULL_MARKER)


def _no_json_null(value: Any, path: str) -> None:
    """§5.5.4: null (JSON or NGSI-LD) inside a value can be neither created nor stored."""
    if value is None or value == NULL_MARKER:
        raise BadRequestData(f"{path} contains null, which cannot be stored")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_json_null(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_json_null(item, f"{path}[{index}]")


def _check_depth(value: Any, member: str) -> None:
    """Values nested deeper than MAX_VALUE_DEPTH are refused: nobody needs them, and every
    later step (merge, rendering, SQL json functions) would pay for them."""
    if not isinstance(value, (dict, list)):
        return  # a scalar (most values): nothing nested
    level: list[Any] = [value]
    for _ in range(MAX_VALUE_DEPTH):
        level = [child for item in level if isinstance(item, (dict, list))
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return
    raise BadRequestData(f"the {member} is nested deeper than {MAX_VALUE_DEPTH} levels")


def _check_value(kind: str, value: Any, ctx: TermMapper, mode: Mode) -> Any:
    """Validate and normalise the value member of a `kind` attribute."""
    member = KIND_VALUE_MEMBER[kind]
    _check_depth(value, member)
    if is_null(kind, value):
        if mode == "create":
            raise BadRequestData(f"an NGSI-LD Null cannot be created ({member})")
        return NULL_MARKER
    if kind == "JsonProperty":
        pass  # JSON null is a legitimate value inside a JsonProperty
    elif mode != "merge" or kind != "Property":
        _no_json_null(value, member)
    checker = _CHECKERS.get(kind)
    return checker(value, ctx) if checker else value


def _geo(value: Any, ctx: TermMapper) -> Any:
    if isinstance(value, str):  # §4.7: a geometry may arrive JSON-encoded in a string
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise BadRequestData("a GeoProperty value must be a GeoJSON geometry") from None
    if not isinstance(value, dict) or value.get("type") not in GEOMETRY_TYPES:
        raise BadRequestData("a GeoProperty value must be a GeoJSON Point, LineString, "
                             "Polygon, MultiPoint, MultiLineString or MultiPolygon")
    return validate_geometry(value)


def _relationship(value: Any, ctx: TermMapper) -> Any:
    if isinstance(value, list) and value:
        return [require_uri(item, "Relationship object") for item in value]
    return require_uri(value, "Relationship object")


def _object_list(value: Any, ctx: TermMapper) -> Any:
    if not isinstance(value, list):
        raise BadRequestData("the objectList of a ListRelationship must be an array")
    # Each entry may be a URI or {"object": URI} (§4.5.22); stored as URIs.
    return [require_uri(item.get("object") if isinstance(item, dict) else item,
                        "ListRelationship object") for item in value]


def _language_map(value: Any, ctx: TermMapper) -> Any:
    if not isinstance(value, dict) or not value:
        raise BadRequestData("a languageMap must be a non-empty object of language → string")
    for lang, text in value.items():
        strings = text if isinstance(text, list) else [text]
        if not lang or not all(isinstance(s, str) for s in strings) or not strings:
            raise BadRequestData(f"invalid languageMap entry {lang!r}: values must be "
                                 "strings or arrays of strings"[:200])
    return value


def _vocab(value: Any, ctx: TermMapper) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return [ctx.expand_vocab_value(v) for v in value]
    if isinstance(value, str) and value:
        return ctx.expand_vocab_value(value)
    raise BadRequestData("a vocab must be a string or an array of strings")


def _json(value: Any, ctx: TermMapper) -> Any:
    if not isinstance(value, (dict, list)):
        raise BadRequestData("the json member of a JsonProperty must be an object or array")
    return value


def _value_list(value: Any, ctx: TermMapper) -> Any:
    if not isinstance(value, list):
        raise BadRequestData("the valueList of a ListProperty must be an array")
    return value


_CHECKERS = {"GeoProperty": _geo, "Relationship": _relationship,
             "ListRelationship": _object_list, "LanguageProperty": _language_map,
             "VocabProperty": _vocab, "JsonProperty": _json, "ListProperty": _value_list}


def parse_instance(raw: Any, ctx: TermMapper, *, mode: Mode = "create",
                   depth: int = 0) -> JsonObject:
    """Parse one attribute instance into the internal form (sub-attributes expanded)."""
    if depth > MAX_DEPTH:
        raise BadRequestData("attributes are nested too deeply")
    plain = _plain_property(raw)
    if plain is not None:
        return plain
    if not isinstance(raw, dict):
        if raw is None:
            raise BadRequestData("an attribute must not be null")
        return {"type": "Property", "value": _check_value("Property", raw, ctx, mode)}
    kind = raw.get("type")
    if kind is not None and not isinstance(kind, str):
        raise BadRequestData("an attribute's type must be a string")
    if kind is None:
        kind = _concise_kind(raw)
        if not kind and mode != "partial":
            _check_depth(raw, "value")
            if mode != "merge":
                _no_json_null(raw, "value")
            return {"type": "Property", "value": raw}
    elif kind in GEOMETRY_TYPES and "coordinates" in raw:
        return {"type": "GeoProperty", "value": _geo(raw, ctx)}
    elif kind not in ATTRIBUTE_KINDS:
        raise BadRequestData(f"invalid attribute type {kind!r}"[:200])
    instance: JsonObject = {"type": kind} if kind else {}
    _copy_value(raw, instance, kind, ctx, mode)
    _copy_metadata(raw, instance, kind)
    subs = _parse_sub_attributes(raw, ctx, mode, depth)
    if subs:
        instance["attrs"] = subs
    return instance


_SCALARS = (str, int, float, bool)


def _plain_property(raw: Any) -> JsonObject | None:
    """The commonest attribute, `{"type": "Property", "value": <scalar>}` and nothing
    else, parsed without the general walk: it is what the general path makes of it in
    every mode (nothing nested, no metadata, not the NGSI-LD Null). None otherwise."""
    if type(raw) is not dict or len(raw) != 2 or raw.get("type") != "Property":
        return None
    value = raw.get("value", _MISSING)
    if type(value) not in _SCALARS or value == NULL_MARKER:
        return None
    return {"type": "Property", "value": value}


_MISSING = object()


def _copy_value(raw: JsonObject, instance: JsonObject, kind: str, ctx: TermMapper,
                mode: Mode) -> None:
    present = [m for m in VALUE_MEMBERS if m in raw]
    forbidden = [m for m in raw if m in OUTPUT_ONLY]
    if forbidden:
        raise BadRequestData(f"{forbidden[0]} is an output-only member")
    if not kind:  # partial update with no type: members are checked after the merge
        for member in present:
            instance[member] = raw[member]
        return
    member = KIND_VALUE_MEMBER[kind]
    wrong = [m for m in present if m != member]
    if wrong:
        raise BadRequestData(f"a {kind} cannot have a '{wrong[0]}' member")
    if member not in raw:
        if mode == "partial":
            return
        raise BadRequestData(f"a {kind} must have a '{member}' member")
    if raw[member] is None:
        raise BadRequestData(f"the '{member}' of a {kind} must not be null")
    instance[member] = _check_value(kind, raw[member], ctx, mode)


def _copy_metadata(raw: JsonObject, instance: JsonObject, kind: str) -> None:
    for moment in ("observedAt", "expiresAt"):  # expiresAt: V1.9.1 §4.22 transient storage
        if moment in raw:
            instance[moment] = require_datetime(raw[moment], moment)
    if "unitCode" in raw:
        if kind and kind not in UNIT_KINDS:
            raise BadRequestData(f"a {kind} cannot have a unitCode")
        if not isinstance(raw["unitCode"], str) or not raw["unitCode"]:
            raise BadRequestData("unitCode must be a non-empty string")
        instance["unitCode"] = raw["unitCode"]
    if "datasetId" in raw and raw["datasetId"] != NONE_DATASET:
        if raw["datasetId"] == NULL_MARKER:
            raise BadRequestData("a datasetId cannot be deleted")
        instance["datasetId"] = require_uri(raw["datasetId"], "datasetId")
    if "objectType" in raw:
        if kind not in ("Relationship", "ListRelationship", ""):
            raise BadRequestData(f"a {kind} cannot have an objectType")
        instance["objectType"] = raw["objectType"]
    if "valueType" in raw:
        if kind == "LanguageProperty" and raw["valueType"] != "langString":
            raise BadRequestData("the valueType of a LanguageProperty must be langString")
        instance["valueType"] = raw["valueType"]


def _parse_sub_attributes(raw: JsonObject, ctx: TermMapper, mode: Mode,
                          depth: int) -> JsonObject:
    subs: JsonObject = {}
    sub_mode: Mode = "merge" if mode == "partial" else mode
    for name, sub_raw in raw.items():
        if name == "type" or name in VALUE_MEMBERS or name in METADATA_MEMBERS \
                or name in IGNORED_MEMBERS or (name == "@context" and depth == 0
                                               and mode == "partial"):
            continue
        require_attribute_name(name)
        subs[ctx.expand_term(name)] = parse_instance(sub_raw, ctx, mode=sub_mode,
                                                     depth=depth + 1)
    return subs


def parse_attribute(raw: Any, ctx: TermMapper, *, mode: Mode = "create") -> list[JsonObject]:
    """Parse an attribute given as one instance or an array of instances (§4.5.5)."""
    if isinstance(raw, list) and raw and all(_is_instance_object(item) for item in raw):
        instances = [parse_instance(item, ctx, mode=mode) for item in raw]
    else:
        instances = [parse_instance(raw, ctx, mode=mode)]
    seen: set[str | None] = set()
    for instance in instances:
        dataset_id = instance.get("datasetId")
        if dataset_id in seen:
            raise BadRequestData(f"datasetId {dataset_id!r} appears twice in one attribute")
        seen.add(dataset_id)
    return instances


def _is_instance_object(item: Any) -> bool:
    if not isinstance(item, dict):
        return False
    kind = item.get("type")
    return (isinstance(kind, str) and kind in ATTRIBUTE_KINDS) or bool(_concise_kind(item)) \
        or "datasetId" in item


def instance_is_null(instance: JsonObject) -> bool:
    kind = instance.get("type", "")
    member = KIND_VALUE_MEMBER.get(kind)
    if member is None:
        return any(instance.get(m) == NULL_MARKER for m in VALUE_MEMBERS)
    return bool(instance.get(member) == NULL_MARKER)
