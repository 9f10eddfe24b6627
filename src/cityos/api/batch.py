"""Batch entity operations, /entityOperations/* (ETSI GS CIM 009 §6.14–§6.18, §6.23, §6.31)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.entities import render_payload
from cityos.api.ldcontext import RequestContext, context_for_body, context_for_items
from cityos.api.params import entity_query, options_of, render_options
from cityos.api.responses import batch_result_payload, empty, json_response, ngsi_response
from cityos.api.state import api_state, tenant_of
from cityos.broker.entities import BatchResult
from cityos.ngsild.errors import BadRequestData, NgsiLdError
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.attributes import Mode
from cityos.ngsild.model.entity import parse_fragment, parse_scope, parse_types
from cityos.ngsild.model.names import require_uri
from cityos.ngsild.types import JsonObject

MAX_BATCH = 10_000


async def _items(request: Request) -> list[Any]:
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    if not isinstance(body, list):
        raise BadRequestData("a batch operation needs a JSON array")
    if not body:
        raise BadRequestData("a batch operation needs at least one entry")
    if len(body) > MAX_BATCH:
        raise BadRequestData(f"a batch holds at most {MAX_BATCH} entries")
    if any(item is None for item in body):
        raise BadRequestData("a batch entry must not be null")
    return body


def _raw_id(item: Any) -> str:
    return str(item.get("id", "")) if isinstance(item, dict) else ""


async def _parse_all(request: Request, *, full: bool, mode: Mode = "patch"
                     ) -> tuple[list[JsonObject], list[tuple[str, NgsiLdError]]]:
    """Parse every entry; a bad entry becomes an error of the result, not of the request."""
    items = await _items(request)
    contexts = await context_for_items(request, items)
    parsed: list[JsonObject] = []
    errors: list[tuple[str, NgsiLdError]] = []
    for item, ctx in zip(items, contexts, strict=True):
        try:
            if isinstance(ctx, NgsiLdError):
                raise ctx
            parsed.append(_parse_item(item, ctx, full, mode))
        except NgsiLdError as error:
            errors.append((_raw_id(item), error))
    return parsed, errors


def _parse_item(item: Any, ctx: RequestContext, full: bool, mode: Mode) -> JsonObject:
    if full:
        return parse_entity(item, ctx.compiled)
    if not isinstance(item, dict):
        raise BadRequestData("every batch entry must be a JSON object")
    entity: JsonObject = {"id": require_uri(item.get("id"), "entity id"),
                          "attrs": parse_fragment(item, ctx.compiled, mode=mode)}
    if "type" in item:
        entity["type"] = parse_types(item["type"], ctx.compiled)
    if "scope" in item:
        entity["scope"] = parse_scope(item["scope"])
    return entity


def _finish(outcome: BatchResult, errors: list[tuple[str, NgsiLdError]],
            success_status: int, success_body: Any = None) -> Response:
    all_errors = errors + outcome.errors
    if all_errors:
        return json_response(batch_result_payload(outcome.success, all_errors), 207)
    if success_body is None:
        return empty(success_status)
    return json_response(success_body, success_status)


async def batch_create(request: Request) -> Response:
    entities, errors = await _parse_all(request, full=True)
    outcome = await api_state(request).entities.batch_create(tenant_of(request), entities)
    return _finish(outcome, errors, 201, outcome.success)


async def batch_upsert(request: Request) -> Response:
    options = options_of(request.query_params)
    if {"replace", "update"} <= options:
        raise BadRequestData("options replace and update exclude each other")
    entities, errors = await _parse_all(request, full=True)
    outcome, created = await api_state(request).entities.batch_upsert(
        tenant_of(request), entities, replace="update" not in options)
    if created and not (errors or outcome.errors):
        return json_response(created, 201)
    return _finish(outcome, errors, 204)


async def batch_update(request: Request) -> Response:
    overwrite = "noOverwrite" not in options_of(request.query_params)
    entities, errors = await _parse_all(request, full=False)
    outcome = await api_state(request).entities.batch_update(
        tenant_of(request), entities, overwrite=overwrite)
    return _finish(outcome, errors, 204)


async def batch_merge(request: Request) -> Response:
    entities, errors = await _parse_all(request, full=False, mode="merge")
    outcome = await api_state(request).entities.batch_merge(tenant_of(request), entities)
    return _finish(outcome, errors, 204)


async def batch_delete(request: Request) -> Response:
    items = await _items(request)
    ids: list[str] = []
    errors: list[tuple[str, NgsiLdError]] = []
    for item in items:
        try:
            ids.append(require_uri(item, "entity id"))
        except NgsiLdError as error:
            errors.append((str(item), error))
    outcome = await api_state(request).entities.batch_delete(tenant_of(request), ids)
    return _finish(outcome, errors, 204)


def _strings(value: object, what: str) -> list[str]:
    """A String or String[] member of a Query body, as a list."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
        raise BadRequestData(f"Query.{what} must be a string or a non-empty array of strings")
    return items


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise BadRequestData(f"Query.{what} must be a string")
    return value


def _selector_params(selectors: object, params: dict[str, str]) -> None:
    """§5.2.33 EntitySelector: `type` mandatory; `id` a URI or URIs, taking precedence over
    `idPattern`."""
    if not isinstance(selectors, list) or not selectors:
        raise BadRequestData("Query.entities must be a non-empty array of EntitySelectors")
    ids: list[str] = []
    types: list[str] = []
    patterns: list[str] = []
    for selector in selectors:
        if not isinstance(selector, dict) or not isinstance(selector.get("type"), str):
            raise BadRequestData("every EntitySelector must be an object with a string type")
        types.append(selector["type"])
        if "id" in selector:
            ids += _strings(selector["id"], "entities.id")
        elif "idPattern" in selector:
            patterns.append(_string(selector["idPattern"], "entities.idPattern"))
    if ids:
        params["id"] = ",".join(ids)
    if len(types) > 1:
        types = [f"({t})" if any(op in t for op in ",;|") else t for t in types]
    params["type"] = ",".join(types)
    if patterns:
        params["idPattern"] = "|".join(f"(?:{p})" for p in patterns)


def _geo_params(geo: object, params: dict[str, str]) -> None:
    """§5.2.13 GeoQuery → georel, geometry, coordinates, geoproperty."""
    if not isinstance(geo, dict):
        raise BadRequestData("Query.geoQ must be a GeoQuery object")
    for key in ("georel", "geometry", "geoproperty"):
        if key in geo:
            params[key] = _string(geo[key], f"geoQ.{key}")
    if "coordinates" in geo:
        coords = geo["coordinates"]
        if not isinstance(coords, list | str):
            raise BadRequestData("Query.geoQ.coordinates must be an array")
        params["coordinates"] = coords if isinstance(coords, str) else \
            orjson.dumps(coords).decode()


def _ordering_params(ordering: object, params: dict[str, str]) -> None:
    """V1.9 §5.2.43 OrderingParams → orderBy, orderFrom, orderGeometry, collation."""
    if not isinstance(ordering, dict):
        raise BadRequestData("Query.ordering must be an OrderingParams object")
    if "orderBy" in ordering:
        params["orderBy"] = ",".join(_strings(ordering["orderBy"], "ordering.orderBy"))
    if "coordinates" in ordering:
        if not isinstance(ordering["coordinates"], list):
            raise BadRequestData("Query.ordering.coordinates must be an array")
        params["orderFrom"] = orjson.dumps(ordering["coordinates"]).decode()
    if "geometry" in ordering:
        params["orderGeometry"] = _string(ordering["geometry"], "ordering.geometry")
    if "collation" in ordering:
        params["collation"] = _string(ordering["collation"], "ordering.collation")


def _query_params(body: JsonObject, url_params: dict[str, str]) -> dict[str, str]:
    """§5.2.23 Query data type → the equivalent GET /entities parameters."""
    if body.get("type") != "Query":
        raise BadRequestData("the body must be a Query with \"type\": \"Query\"")
    if "temporalQ" in body:
        raise BadRequestData("Query.temporalQ is only for Query Temporal Evolution of "
                             "Entities")
    params = dict(url_params)
    if "entities" in body:
        _selector_params(body["entities"], params)
    for key in ("q", "scopeQ", "lang", "csf", "join"):
        if key in body:
            params[key] = _string(body[key], key)
    for key in ("attrs", "pick", "omit", "expandValues", "datasetId"):
        if key in body:
            params[key] = ",".join(_strings(body[key], key))
    if "joinLevel" in body:
        level = body["joinLevel"]
        if isinstance(level, bool) or not isinstance(level, int) or level < 1:
            raise BadRequestData("Query.joinLevel must be a positive integer")
        params["joinLevel"] = str(level)
    if "local" in body:
        if not isinstance(body["local"], bool):
            raise BadRequestData("Query.local must be a boolean")
        params["local"] = "true" if body["local"] else "false"
    if "geoQ" in body:
        _geo_params(body["geoQ"], params)
    if "ordering" in body:
        _ordering_params(body["ordering"], params)
    return params


async def batch_query(request: Request) -> Response:
    accept = media.choose_response_type(request, (media.JSON, media.JSON_LD, media.GEO_JSON))
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a Query object")
    ctx = await context_for_body(request, body)
    params = _query_params(body, dict(request.query_params))
    opts = render_options(params, ctx.compiled)
    query = entity_query(params, ctx.compiled, opts.attrs, require_filter=False)
    page = await api_state(request).entities.query(tenant_of(request), query)
    headers = {"NGSILD-Results-Count": str(page.total)} if page.total is not None else {}
    payload = await render_payload(request, page.entities, ctx, opts, accept, single=False,
                                   params=params)
    return ngsi_response(payload, accept, ctx, headers=headers)


routes = [
    Route("/entityOperations/create", batch_create, methods=["POST"]),
    Route("/entityOperations/upsert", batch_upsert, methods=["POST"]),
    Route("/entityOperations/update", batch_update, methods=["POST"]),
    Route("/entityOperations/merge", batch_merge, methods=["POST"]),
    Route("/entityOperations/delete", batch_delete, methods=["POST"]),
    Route("/entityOperations/query", batch_query, methods=["POST"]),
]
