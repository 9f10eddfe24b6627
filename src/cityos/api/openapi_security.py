"""OpenAPI parts of security: the credential schemes, which operations need them, and the
/admin paths of API keys and policies (cityos.api.admin_security)."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]
SCHEMES: Schema = {
    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
               "description": "An API key `ck_<id>_<secret>` (docs/security.md)."},
    "apiKeyAuthorization": {"type": "apiKey", "in": "header", "name": "Authorization",
                            "description": "`ApiKey ck_<id>_<secret>`."},
    "bearer": {"type": "http", "scheme": "bearer",
               "description": "An access token of an operator or client."},
}
REQUIRED: list[dict[str, list[str]]] = [{"apiKey": []}, {"apiKeyAuthorization": []}, {"bearer": []}]
# Open to anyone: liveness, the API description, and hosted @contexts (clients and other
# brokers fetch those by URL). Everything else needs credentials; anonymous reads of the
# public types (CITYOS_PUBLIC_TYPES) are the configurable exception.
OPEN = {("/health", "get"), ("/metrics", "get"), ("/openapi.json", "get"), ("/docs", "get"),
        ("/ngsi-ld/v1/jsonldContexts", "get"),
        ("/ngsi-ld/v1/jsonldContexts/{contextId}", "get")}
AUTH_RESPONSES = {
    "401": "Unauthenticated: credentials missing or not valid",
    "403": "Forbidden: the caller may not do this (or TooManyResults / TooComplexQuery)"}

_STR = {"type": "string"}
_STRINGS = {"type": "array", "items": _STR}
_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}}
API_KEY = {"type": "object", "properties": {
    "id": _STR, "name": _STR, "kind": {"enum": ["client", "device"]}, "roles": _STRINGS,
    "tenants": {"anyOf": [_STRINGS, {"type": "null"}]}, "createdAt": _STR,
    "expiresAt": {"anyOf": [_STR, {"type": "null"}]},
    "revokedAt": {"anyOf": [_STR, {"type": "null"}]},
    "key": {"type": "string", "description": "Only in the creation answer."}}}
NEW_KEY = {"type": "object", "required": ["name"], "properties": {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "kind": {"enum": ["client", "device"]}, "roles": _STRINGS, "tenants": _STRINGS,
    "expiresAt": {"type": "string", "format": "date-time"}}}
GRANT = {"type": "object", "required": ["audience", "operations"], "properties": {
    "id": _STR,
    "audience": {"type": "string", "description": "`*`, `role:NAME` or `subject:SUBJECT`"},
    "operations": {"type": "array", "items": {"enum": ["read", "write", "subscribe",
                                                       "admin"]}},
    "tenant": _STR, "entityType": _STR, "idPattern": {"anyOf": [_STR, {"type": "null"}]},
    "attributes": {"anyOf": [_STRINGS, {"type": "null"}]}}}


def _json(schema: Schema) -> Schema:
    return {"application/json": {"schema": schema}}


def _op(summary: str, responses: Schema, body: Schema | None = None,
        params: list[Schema] | None = None) -> Schema:
    errors = {code: {"description": text, "content": _PROBLEM}
              for code, text in (("400", "BadRequestData"), *AUTH_RESPONSES.items(),
                                 ("404", "ResourceNotFound"))}
    operation: Schema = {"tags": ["Administration"], "summary": summary,
                         "parameters": params or [], "responses": {**responses, **errors}}
    if body is not None:
        operation["requestBody"] = {"required": True, "content": _json(body)}
    return operation


def _path_param(name: str) -> list[Schema]:
    return [{"$ref": f"#/components/parameters/{name}"}]


def admin_parameters() -> dict[str, Schema]:
    return {name: {"name": name, "in": "path", "required": True, "schema": _STR,
                   "description": text}
            for name, text in (("keyId", "The public id of an API key."),
                               ("grantId", "The id of a stored grant."))}


def admin_paths() -> dict[str, Schema]:
    done = {"204": {"description": "Done."}}
    return {
        "/admin/apikeys": {
            "get": _op("List API keys (never their secrets)", {"200": {
                "description": "The keys.", "content": _json({"type": "array",
                                                              "items": API_KEY})}}),
            "post": _op("Create an API key; the answer shows the key once", {"201": {
                "description": "Created.", "content": _json(API_KEY)}}, NEW_KEY)},
        "/admin/apikeys/{keyId}": {
            "delete": _op("Revoke an API key", done, params=_path_param("keyId"))},
        "/admin/policies": {
            "get": _op("List the grants in force", {"200": {
                "description": "The grants.", "content": _json({"type": "array",
                                                                "items": GRANT})}}),
            "post": _op("Add a grant", {"201": {"description": "Created.",
                                                "content": _json(GRANT)}}, GRANT)},
        "/admin/policies/{grantId}": {
            "delete": _op("Remove a stored grant", done, params=_path_param("grantId"))},
    }


def declare_security(paths: dict[str, Schema]) -> None:
    """Mark every operation but the open ones as needing credentials, answering 401/403."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            if (path, method) in OPEN or not isinstance(operation, dict):
                continue
            operation["security"] = REQUIRED
            for code in AUTH_RESPONSES:
                operation["responses"].setdefault(code, {"$ref": f"#/components/responses/{code}"})
