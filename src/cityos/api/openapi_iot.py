"""The IoT part of the OpenAPI document: provisioning and south-bound ingestion under /iot
and the public sensor registry (cityos.iot, docs/iot.md)."""

from __future__ import annotations

from cityos.api.openapi import (
    BOOL,
    INT,
    JSON,
    NO_CONTENT,
    OBJECT,
    STR,
    Schema,
    _array,
    _obj,
    _ok,
    _op,
    _ref,
)

TAG = "IoT"
REGISTRY_TAG = "Sensor registry"
UNAUTHENTICATED = {"description": "Unauthenticated: unknown device, wrong key, bad "
                                  "signature or replay; or provisioning without a login.",
                   "content": {JSON: {"schema": _ref("schemas", "ProblemDetails")}}}
PROBLEMS = {"400": _ref("responses", "400"), "401": UNAUTHENTICATED,
            "403": _ref("responses", "403")}


def iot_parameters() -> dict[str, Schema]:
    return {
        "iotApiKey": {"in": "query", "name": "k", "required": True, "schema": STR,
                      "description": "The device's API key (or its group's)."},
        "iotDeviceId": {"in": "query", "name": "i", "required": True, "schema": STR,
                        "description": "The device id."},
        "deviceId": {"in": "path", "name": "device_id", "required": True, "schema": STR,
                     "description": "A device id."},
        "groupName": {"in": "path", "name": "name", "required": True, "schema": STR,
                      "description": "A service group's name."},
        "language": {"in": "query", "name": "lang", "schema": {"enum": ["ja", "en"]},
                     "description": "Page language; Japanese by default."},
    }


def iot_schemas() -> dict[str, Schema]:
    mapping = _obj({"object_id": STR, "name": STR,
                    "type": {"enum": ["Number", "Integer", "Text", "Boolean"]},
                    "unitCode": STR, "scale": {"type": "number"},
                    "offset": {"type": "number"}, "description": STR}, "name")
    registry = {"purpose": STR, "purpose_en": STR, "operator": STR, "personal_data": BOOL,
                "personal_data_note": STR, "installed_on": STR}
    return {
        "IotDevice": _obj({"device_id": STR, "group": STR, "entity_name": STR,
                           "entity_type": STR, "transport": {"enum": ["MQTT", "HTTP"]},
                           "attributes": _array(mapping), "location": OBJECT,
                           "signed": BOOL, "apikey": {"type": ["string", "boolean"]},
                           "hmac": {"type": ["string", "boolean"]}, **registry},
                          "device_id"),
        "IotGroup": _obj({"name": STR, "entity_type": STR, "attributes": _array(mapping),
                          "apikey": {"type": ["string", "boolean"]}, **registry},
                         "entity_type"),
    }


def _ref_schema(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _body(schema: Schema, media: str = JSON) -> Schema:
    return {"required": True, "content": {media: {"schema": schema}}}


def _tenant() -> list[Schema]:
    return [_ref("parameters", "tenant")]


def _with_body(operation: Schema, body: Schema) -> Schema:
    operation["requestBody"] = body
    return operation


def iot_paths() -> dict[str, Schema]:
    measured = {"200": _ok("Stored.", _obj({"measurements": INT}), JSON), **PROBLEMS}
    listing = {"200": _ok("Listed.", OBJECT, JSON), **PROBLEMS}
    created = {"201": _ok("Created; credentials are shown this once.", OBJECT, JSON),
               **PROBLEMS}
    measures = [_ref("parameters", "iotApiKey"), _ref("parameters", "iotDeviceId")]
    device = [_ref("parameters", "deviceId"), *_tenant()]
    return {
        "/iot/d": {"post": _with_body(_op(
            TAG, "Measurements in UltraLight 2.0 (FIWARE IoT Agent path)", measures,
            measured), _body(STR, "text/plain"))},
        "/iot/json": {"post": _with_body(_op(
            TAG, "Measurements in JSON (FIWARE IoT Agent path)", measures, measured),
            _body(OBJECT))},
        "/iot/services": {
            "get": _op(TAG, "List service groups", _tenant(), listing),
            "post": _with_body(_op(TAG, "Create or replace service groups", _tenant(),
                                   created),
                               _body(_obj({"services": _array(_ref_schema("IotGroup"))},
                                          "services")))},
        "/iot/services/{name}": {"delete": _op(
            TAG, "Remove a service group", [_ref("parameters", "groupName"), *_tenant()],
            {**NO_CONTENT, **PROBLEMS, "404": _ref("responses", "404")})},
        "/iot/devices": {
            "get": _op(TAG, "List devices", _tenant(), listing),
            "post": _with_body(_op(TAG, "Provision devices", _tenant(), created),
                               _body(_obj({"devices": _array(_ref_schema("IotDevice"))},
                                          "devices")))},
        "/iot/devices/import": {"post": _with_body(_op(
            TAG, "Provision devices from CSV", _tenant(), created), _body(STR, "text/csv"))},
        "/iot/devices/{device_id}": {
            "get": _op(TAG, "A device", device, {"200": _ok("The device.", OBJECT, JSON),
                                                 **PROBLEMS,
                                                 "404": _ref("responses", "404")}),
            "delete": _op(TAG, "Remove a device", device,
                          {**NO_CONTENT, **PROBLEMS, "404": _ref("responses", "404")})},
        "/sensors": {"get": _op(REGISTRY_TAG, "The public sensor registry page",
                                [_ref("parameters", "language")],
                                {"200": _ok("HTML page.", STR, "text/html")})},
        "/sensors.csv": {"get": _op(REGISTRY_TAG, "The sensor registry as CSV", [],
                                    {"200": _ok("CSV, UTF-8 with BOM.", STR, "text/csv")})},
        "/sensors.geojson": {"get": _op(REGISTRY_TAG, "The sensor registry as GeoJSON", [],
                                        {"200": _ok("FeatureCollection.", OBJECT,
                                                    "application/geo+json")})},
    }

