"""The OpenAPI 3.1 description of the City OS HTTP API (ETSI GS CIM 009 V1.8.1 subset).

`GET /openapi.json` serves the document built by :func:`openapi_document`; `GET /docs` renders
it as a plain, self-contained HTML list of operations (no scripts, no external assets).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos import __version__

API = "/ngsi-ld/v1"
JSON, JSON_LD, GEO_JSON = "application/json", "application/ld+json", "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
OPENAPI_MEDIA_TYPE = "application/vnd.oai.openapi+json"
Schema = dict[str, Any]

STR, INT, BOOL, OBJECT, ARRAY = ({"type": t} for t in ("string", "integer", "boolean",
                                                       "object", "array"))
URI, DATETIME = {"type": "string", "format": "uri"}, {"type": "string", "format": "date-time"}
STRINGS, CSV = {"type": "array", "items": STR}, {"type": "string", "minLength": 1}
GEOMETRY_TYPES = ["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                  "MultiPolygon"]
ERROR_TITLES = {
    "400": "InvalidRequest or BadRequestData", "404": "ResourceNotFound",
    "403": "TooManyResults (limit above 1000) or TooComplexQuery",
    "406": "NotAcceptable: no producible media type in Accept", "409": "AlreadyExists",
    "413": "PayloadTooLarge", "415": "UnsupportedMediaType", "422": "OperationNotSupported",
    "504": "LdContextNotAvailable: a remote @context could not be fetched"}


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"#/components/{kind}/{name}"}


def _s(name: str) -> Schema:
    return _ref("schemas", name)


def _obj(props: Schema, *required: str, **extra: Any) -> Schema:
    schema: Schema = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def _array(items: Schema, **extra: Any) -> Schema:
    return {"type": "array", "items": items, **extra}


def _any(*schemas: Schema, **extra: Any) -> Schema:
    return {"anyOf": list(schemas), **extra}


ATTRIBUTE_KINDS = {  # kind → (value member, its schema, description)
    "Property": ("value", {}, "A Property (§4.5.2); `value` is any JSON."),
    "GeoProperty": ("value", _s("Geometry"), "A GeoProperty (§4.5.3): a GeoJSON geometry."),
    "Relationship": ("object", _any(URI, _array(URI)), "A Relationship (§4.5.4)."),
    "LanguageProperty": ("languageMap", {"type": "object", "additionalProperties": _any(
        STR, STRINGS)}, "A LanguageProperty (§4.5.18): language tag → text."),
    "VocabProperty": ("vocab", _any(STR, STRINGS), "A VocabProperty (§4.5.20)."),
    "JsonProperty": ("json", {}, "A JsonProperty (§4.5.24): JSON kept verbatim."),
    "ListProperty": ("valueList", ARRAY, "A ListProperty (§4.5.21)."),
    "ListRelationship": ("objectList", ARRAY, "A ListRelationship (§4.5.22)."),
}


def _schemas() -> dict[str, Schema]:
    """§4.5 attribute kinds (normalized form; sub-attributes are extra members), entities,
    queries, results."""
    common = {"observedAt": DATETIME, "datasetId": URI, "unitCode": STR}
    sub_attribute = {"description": "A sub-attribute, in any form of AttributeValue."}
    schemas = {kind: _obj({"type": {"const": kind}, member: value, **common}, member,
                          description=doc, additionalProperties=sub_attribute)
               for kind, (member, value, doc) in ATTRIBUTE_KINDS.items()}
    schemas["Attribute"] = _any(*(_s(k) for k in ATTRIBUTE_KINDS), description=(
        "One attribute instance, normalized or concise (§4.5.25, `type` left out)."))
    schemas["AttributeValue"] = _any(
        _s("Attribute"), _array(_s("Attribute")), {"type": ["string", "number", "boolean"]},
        description="An attribute: one instance, an array of instances with distinct "
                    "datasetIds, or a bare concise value (taken as a Property).")
    entity_type = _any({"type": "string", "minLength": 1}, {**STRINGS, "minItems": 1},
                       description="Entity type name, or array of names.")
    members = {"type": entity_type, "scope": _any(STR, STRINGS), "@context": _s("LdContext")}
    attrs = {"additionalProperties": _s("AttributeValue")}
    selector = _obj({"id": URI, "idPattern": {"type": "string", "format": "regex"},
                     "type": STR})
    geo_q = _obj({"geometry": {"enum": GEOMETRY_TYPES}, "georel": STR, "geoproperty": STR,
                  "coordinates": _any(ARRAY, STR)})
    listed = {"id": STR}
    return {
        **schemas,
        "LdContext": _any(URI, OBJECT, _array(_any(URI, OBJECT)), description=(
            "A JSON-LD @context: URL, inline object, or array of both.")),
        "Geometry": _obj({"type": {"enum": GEOMETRY_TYPES}, "coordinates": ARRAY},
                         "type", "coordinates",
                         description="GeoJSON geometry (RFC 7946), [longitude, latitude]."),
        "Entity": _obj({"id": URI, **members}, "id", "type", **attrs,
                       description="An NGSI-LD Entity (§5.2.4), normalized or concise."),
        "EntityFragment": _obj({"id": URI, **members}, **attrs,
                               description="Attributes to add or change."),
        "BatchEntityFragment": {"allOf": [_s("EntityFragment"), {"required": ["id"]}]},
        "AttributeFragment": _obj({"type": STR, "datasetId": URI, "observedAt": DATETIME},
                                  additionalProperties=True,
                                  description="Members of one attribute instance to change, "
                                              "e.g. {\"value\": 3}."),
        "EntityOutput": _obj({"id": STR, "type": entity_type}, "id", "type",
                             additionalProperties=True),
        "Feature": _obj({"type": {"const": "Feature"}, "id": STR, "properties": OBJECT,
                         "geometry": {"type": ["object", "null"]}}, "type",
                        additionalProperties=True),
        "FeatureCollection": _obj({"type": {"const": "FeatureCollection"},
                                   "features": _array(_s("Feature"))}, "type", "features",
                                  additionalProperties=True),
        "Query": _obj({"type": {"const": "Query"}, "entities": _array(selector),
                       "attrs": _any(STRINGS, STR), "q": STR, "scopeQ": STR, "lang": STR,
                       "geoQ": geo_q, "@context": _s("LdContext")}, "type",
                      description="§5.2.23 Query."),
        "ProblemDetails": _obj({"type": URI, "title": STR, "status": INT, "detail": STR,
                                "instance": STR}, "type",
                               description="RFC 7807 ProblemDetails (§5.5.2)."),
        "BatchOperationResult": _obj({"success": STRINGS, "errors": _array(_obj(
            {"entityId": STR, "error": _s("ProblemDetails")}))}, "success", "errors"),
        "UpdateResult": _obj({"updated": STRINGS, "notUpdated": _array(_obj(
            {"attributeName": STR, "reason": STR}))}),
        "EntityTypeList": _obj({**listed, "type": {"const": "EntityTypeList"},
                                "typeList": STRINGS}),
        "EntityType": _obj({**listed, "type": {"const": "EntityType"}, "typeName": STR,
                            "attributeNames": STRINGS}),
        "EntityTypeInfo": _obj({**listed, "type": {"const": "EntityTypeInfo"},
                                "typeName": STR, "entityCount": INT,
                                "attributeDetails": _array(OBJECT)}),
        "AttributeList": _obj({**listed, "type": {"const": "AttributeList"},
                               "attributeList": STRINGS}),
        "AttributeInfo": _obj({**listed, "type": {"const": "Attribute"}, "attributeName": STR,
                               "attributeCount": INT, "attributeTypes": STRINGS,
                               "typeNames": STRINGS}),
        "ContextDocument": _obj({"@context": _s("LdContext")}, "@context"),
        "ContextDetails": _obj({"URL": STR, "localId": STR, "kind": {"enum": [
            "Hosted", "Cached", "ImplicitlyCreated"]}, "createdAt": STR, "lastUsage": STR,
            "numberOfHits": INT, "extraInfo": OBJECT}, description="@context metadata."),
        "Health": _obj({"status": {"const": "ok"}, "version": STR}, "status"),
    }


QUERY_PARAMETERS: dict[str, tuple[Schema, str]] = {
    "type": ({**STR, "examples": ["EvacuationShelter"]},
             "Entity type selection: names joined by , or | (or) and ; (and)."),
    "id": (CSV, "Entity ids (URIs), comma-separated."),
    "idPattern": ({"type": "string", "format": "regex"}, "Regular expression on entity ids."),
    "attrs": (CSV, "Attributes to return (and entities having one of them), comma-separated."),
    "pick": (CSV, "Entity members and attributes to keep, comma-separated."),
    "omit": (CSV, "Entity members and attributes to drop, comma-separated."),
    "q": ({**STR, "examples": ["capacity>100"]}, "NGSI-LD query language (§4.9)."),
    "scopeQ": (STR, "Scope query (§4.19), e.g. /Kaga/#."),
    "georel": (STR, "near;maxDistance==N, near;minDistance==N, within, contains, "
                    "intersects, overlaps, disjoint or equals."),
    "geometry": ({"enum": GEOMETRY_TYPES}, "Reference geometry type."),
    "coordinates": ({**STR, "examples": ["[136.308189,36.307739]"]},
                    "Reference geometry coordinates as JSON."),
    "geoproperty": (STR, "GeoProperty the geo-query applies to (default location)."),
    "geometryProperty": (STR, "GeoProperty used as GeoJSON geometry (default location)."),
    "lang": (STR, "Language tag(s) for LanguageProperty values (@none and * allowed)."),
    "limit": ({"type": "integer", "minimum": 0}, "Page size (default 20; 0 only with "
              "count=true; above 1000 → 403 TooManyResults)."),
    "offset": ({"type": "integer", "minimum": 0}, "Entities to skip."),
    "count": (BOOL, "Return the total in the NGSILD-Results-Count header."),
    "options": ({"type": "array", "items": {"enum": ["keyValues", "simplified", "concise",
                                                    "normalized", "sysAttrs"]}},
                "Representation options, comma-separated."),
    "updateOptions": ({"type": "array", "items": {"enum": ["noOverwrite"]}},
                      "noOverwrite keeps existing attributes."),
    "upsertOptions": ({"type": "array", "items": {"enum": ["replace", "update"]}},
                      "replace (default) or update."),
    "format": ({"enum": ["normalized", "keyValues", "simplified", "concise"]},
               "Representation (default normalized)."),
    "details": (BOOL, "Return detailed objects instead of names."),
    "kind": ({"enum": ["Hosted", "Cached", "ImplicitlyCreated"]}, "Only this kind."),
    "datasetId": (URI, "Instance of a multi-attribute."),
    "deleteAll": (BOOL, "Delete every instance of the attribute."),
    "reload": (BOOL, "Re-download a Cached @context instead of deleting it."),
    "keep": (CSV, "Purge: delete only the other attributes, comma-separated."),
    "drop": (CSV, "Purge: delete only these attributes, comma-separated."),
    "local": (BOOL, "Answer from this broker only (always the case here)."),
}
PATH_PARAMETERS: dict[str, tuple[Schema, str]] = {
    "entityId": ({**URI, "examples": ["urn:ngsi-ld:EvacuationShelter:kaga-001"]},
                 "Entity id (a URI)."),
    "attrId": ({**STR, "examples": ["capacity"]},
               "Attribute name (short name resolved with the @context, or an IRI)."),
    "typeName": ({**STR, "examples": ["EvacuationShelter"]}, "Entity type name."),
    "contextId": (STR, "localId of a stored @context (or a Cached one's URL)."),
    "subscriptionId": ({**URI, "examples": ["urn:ngsi-ld:Subscription:shelter-full"]},
                       "Subscription id (a URI)."),
}


def _parameters() -> dict[str, Schema]:
    params: dict[str, Schema] = {
        "tenant": {"in": "header", "name": "NGSILD-Tenant", "schema": {
            "type": "string", "maxLength": 128, "pattern": "^[A-Za-z0-9_.:-]*$"},
            "description": "Tenant (§4.14); absent means the default tenant. Reading an "
                           "unknown tenant answers 404."},
        "link": {"in": "header", "name": "Link", "schema": STR,
                 "description": "User @context: <URL>; rel=\"http://www.w3.org/ns/json-ld"
                                "#context\"; type=\"application/ld+json\"."}}
    for name, (schema, doc) in PATH_PARAMETERS.items():
        params[name] = {"in": "path", "name": name, "required": True, "schema": schema,
                        "description": doc}
    for name, (schema, doc) in QUERY_PARAMETERS.items():
        wire_name = "options" if name.endswith("Options") else name
        params[name] = {"in": "query", "name": wire_name, "schema": schema, "description": doc}
        if schema.get("type") == "array":
            params[name].update(style="form", explode=False)
    return params


def _p(*names: str, tenant: bool = True) -> list[Schema]:
    return [_ref("parameters", n) for n in (*names, "tenant") if tenant or n != "tenant"]


def _content(schema: Schema, *media: str) -> Schema:
    return {m: {"schema": schema} for m in media or (JSON, JSON_LD)}


def _errors(*codes: str) -> dict[str, Schema]:
    return {c: _ref("responses", c) for c in ("400", *codes, "504")}


def _op(tag: str, summary: str, params: list[Schema], responses: dict[str, Schema],
        body: Schema | None = None, body_media: tuple[str, ...] = (JSON, JSON_LD),
        description: str = "") -> Schema:
    operation: Schema = {"tags": [tag], "summary": summary, "parameters": params,
                         "responses": responses}
    if description:
        operation["description"] = description
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _content(body, *body_media)}
    return operation


def _ok(description: str, schema: Schema, *media: str, headers: Schema | None = None
        ) -> Schema:
    response: Schema = {"description": description, "content": _content(schema, *media)}
    if headers:
        response["headers"] = headers
    return response


NO_CONTENT = {"204": {"description": "Done."}}
CREATED = {"201": {"description": "Created.", "headers": {"Location": {
    "description": "URL of the new resource.", "schema": STR}}}}
COUNT_HEADER = {"NGSILD-Results-Count": {"description": "Total matches (count=true).",
                                         "schema": INT}}
PARTIAL = {"207": _ok("Some attributes were not changed.", _s("UpdateResult"), JSON)}
BATCH_PARTIAL = {"207": _ok("Some entries failed.", _s("BatchOperationResult"), JSON)}
READ = ("attrs", "pick", "omit", "options", "format", "lang", "geometryProperty", "link")
QUERY = ("type", "id", "idPattern", "q", "scopeQ", "georel", "geometry", "coordinates",
         "geoproperty", "limit", "offset", "count")
WRITE_ERRORS = ("404", "413", "415")


def _entity_paths() -> dict[str, Schema]:
    entities, entity = f"{API}/entities", f"{API}/entities/{{entityId}}"
    one = _ok("The entity (a Feature for application/geo+json).",
              _any(_s("EntityOutput"), _s("Feature")), JSON, JSON_LD, GEO_JSON)
    many = _ok("Matching entities (a FeatureCollection for application/geo+json).",
               _any(_array(_s("EntityOutput")), _s("FeatureCollection")),
               JSON, JSON_LD, GEO_JSON, headers=COUNT_HEADER)
    tag, done = "Entities", {**NO_CONTENT, **_errors(*WRITE_ERRORS)}
    return {
        entities: {
            "post": _op(tag, "Create entity", _p("link"),
                        {**CREATED, **_errors("409", "413", "415")}, _s("Entity")),
            "get": _op(tag, "Query entities", _p(*QUERY, *READ, "local"),
                       {"200": many, **_errors("403", "406")},
                       description="Needs at least one of type, attrs, q, scopeQ, a "
                                   "geo-query or local=true. Other parameters → 400."),
            "delete": _op(tag, "Purge entities", _p(*QUERY[:9], "keep", "drop", "local",
                                                    "link"), {**NO_CONTENT, **_errors()},
                          description="Deletes every matching entity (or, with keep/drop, "
                                      "some of their attributes); needs type, attrs, q, a "
                                      "geo-query or local=true."),
        },
        entity: {
            "get": _op(tag, "Retrieve entity", _p("entityId", *READ),
                       {"200": one, **_errors("404", "406")}),
            "put": _op(tag, "Replace entity", _p("entityId", "link"), done, _s("Entity")),
            "patch": _op(tag, "Merge entity", _p("entityId", "link"), done,
                         _s("EntityFragment"), (JSON, JSON_LD, MERGE_PATCH),
                         description="Attributes absent from the body are kept; the value "
                                     "urn:ngsi-ld:null deletes."),
            "delete": _op(tag, "Delete entity", _p("entityId", "link"),
                          {**NO_CONTENT, **_errors("404")}),
        },
        f"{entity}/attrs": {
            "post": _op(tag, "Append attributes", _p("entityId", "updateOptions", "link"),
                        {**done, **PARTIAL}, _s("EntityFragment")),
            "patch": _op(tag, "Update attributes", _p("entityId", "link"),
                         {**done, **PARTIAL}, _s("EntityFragment"),
                         description="Only attributes the entity already has are changed."),
        },
        f"{entity}/attrs/{{attrId}}": {
            "patch": _op(tag, "Partial attribute update", _p("entityId", "attrId", "link"),
                         done, _s("AttributeFragment")),
            "put": _op(tag, "Replace attribute", _p("entityId", "attrId", "link"), done,
                       _any(_s("Attribute"), _array(_s("Attribute")))),
            "delete": _op(tag, "Delete attribute",
                          _p("entityId", "attrId", "datasetId", "deleteAll", "link"),
                          {**NO_CONTENT, **_errors("404")}),
        },
    }


def _batch_paths() -> dict[str, Schema]:
    def batch(summary: str, items: Schema, params: list[Schema],
              ok: dict[str, Schema]) -> Schema:
        body = _array(items, minItems=1, maxItems=10_000)
        return {"post": _op("Batch", summary, params,
                            {**ok, **BATCH_PARTIAL, **_errors("413", "415")}, body)}

    created = {"201": _ok("Every entity was created: their ids.", STRINGS, JSON)}
    ops = f"{API}/entityOperations"
    found = _ok("Matching entities.", _any(_array(_s("EntityOutput")), _s("FeatureCollection")),
                JSON, JSON_LD, GEO_JSON, headers=COUNT_HEADER)
    query = _op("Batch", "Query entities via POST",
                _p("limit", "offset", "count", "options", "format", "geometryProperty",
                   "link"), {"200": found, **_errors("403", "406", "413", "415")},
                _s("Query"))
    return {
        f"{ops}/create": batch("Batch create", _s("Entity"), _p("link"), created),
        f"{ops}/upsert": batch("Batch upsert", _s("Entity"), _p("upsertOptions", "link"),
                               {**created, **NO_CONTENT}),
        f"{ops}/update": batch("Batch update", _s("BatchEntityFragment"),
                               _p("updateOptions", "link"), NO_CONTENT),
        f"{ops}/merge": batch("Batch merge", _s("BatchEntityFragment"), _p("link"),
                              NO_CONTENT),
        f"{ops}/delete": batch("Batch delete", URI, _p(), NO_CONTENT),
        f"{ops}/query": {"post": query},
    }


def _discovery_paths() -> dict[str, Schema]:
    tag, ctx, read_errors = "Discovery", "JSON-LD @contexts", _errors("404", "406")
    types = _ok("EntityTypeList, or EntityType objects with details=true.",
                _any(_s("EntityTypeList"), _array(_s("EntityType"))))
    attrs = _ok("AttributeList, or Attribute objects with details=true.",
                _any(_s("AttributeList"), _array(_s("AttributeInfo"))))
    context_list = _ok("@context URLs, or ContextDetails with details=true.",
                       _array(_any(STR, _s("ContextDetails"))), JSON)
    context = _ok("The @context document, or its ContextDetails with details=true.",
                  _any(_s("ContextDocument"), _s("ContextDetails")), JSON)
    identity = _ok("ContextSourceIdentity of this broker (per tenant).", _obj(
        {"id": STR, "type": {"const": "ContextSourceIdentity"}, "contextSourceAlias": STR,
         "contextSourceUptime": STR, "contextSourceTimeAt": STR}, "id", "type",
        additionalProperties=True))
    return {
        f"{API}/info/sourceIdentity": {"get": _op(tag, "Retrieve context source identity",
                                                  _p("link"), {"200": identity,
                                                               **read_errors})},
        f"{API}/types": {"get": _op(tag, "Retrieve available entity types",
                                    _p("details", "local", "link"),
                                    {"200": types, **read_errors})},
        f"{API}/types/{{typeName}}": {"get": _op(
            tag, "Retrieve entity type information", _p("typeName", "local", "link"),
            {"200": _ok("EntityTypeInfo.", _s("EntityTypeInfo")), **read_errors})},
        f"{API}/attributes": {"get": _op(tag, "Retrieve available attributes",
                                         _p("details", "local", "link"),
                                         {"200": attrs, **read_errors})},
        f"{API}/attributes/{{attrId}}": {"get": _op(
            tag, "Retrieve attribute information", _p("attrId", "local", "link"),
            {"200": _ok("Attribute.", _s("AttributeInfo")), **read_errors})},
        f"{API}/jsonldContexts": {
            "post": _op(ctx, "Add @context", [], {**CREATED, **_errors("413", "415")},
                        _s("ContextDocument")),
            "get": _op(ctx, "List @contexts", _p("details", "kind", tenant=False),
                       {"200": context_list, **_errors("406")}),
        },
        f"{API}/jsonldContexts/{{contextId}}": {
            "get": _op(ctx, "Serve @context", _p("contextId", "details", tenant=False),
                       {"200": context, **_errors("404", "406", "422")}),
            "delete": _op(ctx, "Delete or reload @context",
                          _p("contextId", "reload", tenant=False),
                          {**NO_CONTENT, **_errors("404")}),
        },
    }


def _system_paths() -> dict[str, Schema]:
    tag = "System"
    return {
        "/health": {"get": _op(tag, "Liveness and database check", [], {"200": _ok(
            "The server and its database answer.", _s("Health"), JSON)})},
        "/metrics": {"get": _op(tag, "Prometheus metrics", [], {"200": _ok(
            "Prometheus text exposition format 0.0.4.", STR, "text/plain")})},
        "/openapi.json": {"get": _op(tag, "This OpenAPI document", [], {"200": _ok(
            "OpenAPI 3.1 document.", OBJECT, OPENAPI_MEDIA_TYPE)})},
        "/docs": {"get": _op(tag, "Human-readable list of the operations", [], {"200": _ok(
            "HTML page.", STR, "text/html")})},
    }


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every operation the City OS serves (a fresh copy)."""
    from cityos.api.openapi_identity import IDENTITY_TAGS, identity_parameters, identity_paths
    from cityos.api.openapi_iot import iot_parameters, iot_paths, iot_schemas
    from cityos.api.openapi_security import (
        AUTH_RESPONSES,
        SCHEMES,
        admin_parameters,
        admin_paths,
        declare_security,
    )
    from cityos.api.openapi_subscriptions import subscription_paths, subscription_schemas
    from cityos.api.openapi_temporal import temporal_parameters, temporal_paths
    paths = {**_entity_paths(), **_batch_paths(), **_discovery_paths(),
             **subscription_paths(), **temporal_paths(), **_system_paths(), **admin_paths()}
    declare_security(paths)
    # The login pages and the OIDC provider declare what they need themselves (they are
    # how a caller gets credentials in the first place).
    paths.update(identity_paths())
    paths.update(iot_paths())  # device keys and public registry pages: their own rules
    problem = _content(_s("ProblemDetails"), JSON)
    document = {
        "openapi": "3.1.0",
        "info": {"title": "Kaga City OS NGSI-LD API", "version": __version__,
                 "summary": "ETSI GS CIM 009 V1.8.1 context information management",
                 "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
                 "description": "Entities, batch operations, discovery and @context "
                                "management under /ngsi-ld/v1; errors are RFC 7807 "
                                "ProblemDetails with ETSI error types."},
        "servers": [{"url": "/", "description": "This server"}],
        "tags": [{"name": n} for n in ("Entities", "Batch", "Discovery",
                                       "JSON-LD @contexts", "Subscriptions", "Temporal",
                                       "System", "Administration", *IDENTITY_TAGS, "IoT",
                                       "Sensor registry")],
        "paths": paths,
        "components": {
            "schemas": {**_schemas(), **subscription_schemas(), **iot_schemas()},
            "parameters": {**_parameters(), **temporal_parameters(), **admin_parameters(),
                           **identity_parameters(), **iot_parameters()},
            "responses": {code: {"description": title, "content": problem}
                          for code, title in {**ERROR_TITLES, **AUTH_RESPONSES}.items()},
            "securitySchemes": SCHEMES,
        },
    }
    copied: dict[str, Any] = orjson.loads(orjson.dumps(document))  # no shared sub-objects
    return copied


@lru_cache(maxsize=1)
def document_bytes() -> bytes:
    return orjson.dumps(openapi_document())


async def serve_openapi(request: Request) -> Response:
    return Response(document_bytes(), media_type=OPENAPI_MEDIA_TYPE)


routes = [Route("/openapi.json", serve_openapi, methods=["GET"])]
