"""HTTP handlers for /entities (ETSI GS CIM 009 §6.4, §6.5, §6.6, §6.7). Thin: parse, call
the entity service, render."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.ldcontext import RequestContext, context_for_body, context_for_read
from cityos.api.params import entity_query, options_of, render_options
from cityos.api.purge import purge_entities
from cityos.api.responses import empty, json_response, ngsi_response, page_links
from cityos.api.state import api_state, tenant_of
from cityos.broker.entities import EntityMembers
from cityos.broker.linked import MAX_JOIN_LEVEL, flat_views, linked_entities
from cityos.ngsild.errors import BadRequestData, ResourceNotFound
from cityos.ngsild.geo import entities_to_feature_collection, entity_to_feature
from cityos.ngsild.model import parse_entity, parse_fragment
from cityos.ngsild.model.attributes import NULL_MARKER, parse_attribute, parse_instance
from cityos.ngsild.model.changes import AttributeReport
from cityos.ngsild.model.entity import check_attribute_name, check_id, parse_scope, parse_types
from cityos.ngsild.model.names import require_datetime
from cityos.ngsild.model.render import RenderOptions, render_entity
from cityos.ngsild.query import parse_type_expression
from cityos.ngsild.types import JsonObject

ENTITY_PATH = "/ngsi-ld/v1/entities/"
READ_TYPES = (media.JSON, media.JSON_LD, media.GEO_JSON)
PATCH_TYPES = (media.JSON, media.JSON_LD, media.MERGE_PATCH)


async def _body(request: Request, allowed: tuple[str, ...] = (media.JSON, media.JSON_LD)
                ) -> tuple[object, RequestContext]:
    media.require_content_type(request, allowed)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    return body, await context_for_body(request, body)


def with_join(params: Mapping[str, str], opts: RenderOptions) -> RenderOptions:
    """§4.5.23 `join` (flat or inline) and `joinLevel` (hops to follow, default 1)."""
    join = params.get("join")
    level = params.get("joinLevel", "1")
    if join is None:
        return opts
    if join not in ("flat", "inline"):
        raise BadRequestData("join must be flat or inline")
    if not level.isdigit() or not 1 <= int(level) <= MAX_JOIN_LEVEL:
        raise BadRequestData(f"joinLevel must be an integer from 1 to {MAX_JOIN_LEVEL}")
    return replace(opts, join=join, join_level=int(level))  # type: ignore[arg-type]


async def render_payload(request: Request, entities: list[JsonObject], ctx: RequestContext,
                         opts: RenderOptions, accept: str, *, single: bool,
                         params: Mapping[str, str] | None = None) -> object:
    """Render entities for the response; `params` (default: the URL query parameters)
    supplies join, joinLevel and geometryProperty."""
    if params is None:
        params = request.query_params
    if "geometryProperty" in params and accept != media.GEO_JSON:
        raise BadRequestData("geometryProperty applies to GeoJSON responses only")
    opts = with_join(params, opts)
    linked = {}
    if opts.join is not None:
        state = api_state(request)
        linked = await linked_entities(state.entities.store, tenant_of(request),
                                       entities, opts.join_level)
        if state.authz is not None and not state.authz.unrestricted:
            authz = state.authz
            linked = {i: shown for i, e in linked.items()
                      if (shown := authz.readable(e)) is not None}
    rendered = [render_entity(e, ctx.compiled, opts, linked) for e in entities]
    if opts.join == "flat":
        views = flat_views(entities, linked, opts)
        rendered += [render_entity(linked[i], ctx.compiled, replace(view, join=None))
                     for i, view in views.items()]
        single = single and not views
    if accept != media.GEO_JSON:
        return rendered[0] if single else rendered
    geometry = params.get("geometryProperty", "location")
    # §6.3.6: with `Prefer: body=json` the @context travels in the Link header only.
    context = None if media.prefers_json_body(request) else ctx.reference
    if single:
        return entity_to_feature(rendered[0], geometry, context)
    return entities_to_feature_collection(rendered, geometry, context)


def _require_selected_attributes(entity: JsonObject, opts: RenderOptions) -> None:
    """§5.7.1: when attrs/pick/omit leave none of the entity's attributes, the entity is
    not found."""
    names = set(entity["attrs"])
    if opts.attrs:
        names &= opts.attrs
    if (opts.attrs or opts.omit) and not (names - opts.omit):
        raise ResourceNotFound(f"entity {entity['id']} has none of the selected attributes")


def _members(body: object, ctx: RequestContext, *, join_scope: bool = False) -> EntityMembers:
    """Entity type(s) and scope carried by an attribute-operation body."""
    if not isinstance(body, dict):
        return EntityMembers()
    types = parse_types(body["type"], ctx.compiled) if "type" in body else None
    scope = parse_scope(body["scope"]) if "scope" in body else None
    expires_at = body.get("expiresAt")
    if expires_at is not None and expires_at != NULL_MARKER:  # NGSI-LD Null: drop it
        expires_at = require_datetime(expires_at, "expiresAt")
    return EntityMembers(types, scope, join_scope, expires_at)


def _gate(request: Request, ctx: RequestContext) -> object:
    """§4.17: `type` on a single-entity operation: the entity must be of that type."""
    raw = request.query_params.get("type")
    return parse_type_expression(raw, ctx.compiled.expand_term) if raw else None


async def create_entity(request: Request) -> Response:
    body, ctx = await _body(request)
    entity = parse_entity(body, ctx.compiled)
    await api_state(request).entities.create(tenant_of(request), entity)
    return empty(201, {"Location": ENTITY_PATH + quote(entity["id"], safe=":")})


# §6.4.3.2: the parameters of GET /entities; any other one is an InvalidRequest.
QUERY_PARAMETERS = frozenset({
    "id", "type", "idPattern", "attrs", "pick", "omit", "q", "csf", "scopeQ", "georel",
    "geometry", "coordinates", "geoproperty", "geometryProperty", "lang", "options", "format",
    "limit", "offset", "count", "local", "datasetId", "join", "joinLevel", "expandValues",
    "orderBy", "orderFrom", "orderGeometry", "collation", "containedBy", "entityMap", "via",
})


async def query_entities(request: Request) -> Response:
    media.reject_unknown_parameters(request, QUERY_PARAMETERS)
    accept = media.choose_response_type(request, READ_TYPES)
    ctx = await context_for_read(request)
    opts = render_options(request.query_params, ctx.compiled)
    query = entity_query(request.query_params, ctx.compiled, opts.attrs)
    # Without count, one entity beyond the page tells whether a next page exists.
    probe = query if query.count else replace(query, limit=query.limit + 1)
    page = await api_state(request).entities.query(tenant_of(request), probe)
    entities = page.entities[:query.limit]
    headers = {}
    if page.total is not None:
        headers["NGSILD-Results-Count"] = str(page.total)
        more = query.offset + len(entities) < page.total
    else:
        more = len(page.entities) > query.limit
    links = page_links(request.url.path.rstrip("/"), request.query_params.multi_items(),
                       offset=query.offset, limit=query.limit, more=more, media=accept)
    if links:
        headers["Link"] = ", ".join(links)
    payload = await render_payload(request, entities, ctx, opts, accept, single=False)
    if accept == media.GEO_JSON:
        return ngsi_response(payload, media.GEO_JSON, ctx, headers=headers)
    return ngsi_response(payload, accept, ctx, headers=headers)


async def retrieve_entity(request: Request) -> Response:
    accept = media.choose_response_type(request, READ_TYPES)
    entity_id = check_id(request.path_params["entity_id"])
    ctx = await context_for_read(request)
    opts = render_options(request.query_params, ctx.compiled)
    entity = await api_state(request).entities.retrieve(tenant_of(request), entity_id,
                                                        _gate(request, ctx))
    _require_selected_attributes(entity, opts)
    payload = await render_payload(request, [entity], ctx, opts, accept, single=True)
    return ngsi_response(payload, accept, ctx)


async def replace_entity(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request)
    entity = parse_entity(body, ctx.compiled, entity_id=entity_id)
    await api_state(request).entities.replace(tenant_of(request), entity)
    return empty()


async def merge_entity(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request, PATCH_TYPES)
    _check_body_id(body, entity_id)
    fragment = parse_fragment(body, ctx.compiled, mode="merge")
    await api_state(request).entities.merge(tenant_of(request), entity_id, fragment,
                                            _members(body, ctx), _gate(request, ctx))
    return empty()


def _check_body_id(body: object, entity_id: str) -> None:
    if isinstance(body, dict) and "id" in body and body["id"] != entity_id:
        raise BadRequestData("the entity id in the body differs from the one in the URL")


async def delete_entity(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    ctx = await context_for_read(request)
    await api_state(request).entities.delete(tenant_of(request), entity_id, _gate(request, ctx))
    return empty()


def _update_result(report: AttributeReport, ctx: RequestContext) -> Response:
    if not report.not_updated:
        return empty()
    # §5.2.18 UpdateResult: attribute names as expanded IRIs (it carries no @context).
    payload = {"updated": report.updated,
               "notUpdated": [{"attributeName": n, "reason": reason}
                              for n, reason in report.not_updated]}
    return json_response(payload, status=207)


async def append_attributes(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request)
    _check_body_id(body, entity_id)
    overwrite = "noOverwrite" not in options_of(request.query_params)
    fragment = parse_fragment(body, ctx.compiled)
    report = await api_state(request).entities.append(
        tenant_of(request), entity_id, fragment, overwrite=overwrite,
        members=_members(body, ctx, join_scope=not overwrite), gate=_gate(request, ctx))
    return _update_result(report, ctx)


async def update_attributes(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request)
    _check_body_id(body, entity_id)
    fragment = parse_fragment(body, ctx.compiled)
    report = await api_state(request).entities.update_attributes(
        tenant_of(request), entity_id, fragment, _members(body, ctx), _gate(request, ctx))
    return _update_result(report, ctx)


def _attribute(request: Request, ctx: RequestContext) -> str:
    return ctx.compiled.expand_term(check_attribute_name(request.path_params["attr"]))


async def partial_attribute_update(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request, PATCH_TYPES)
    if not isinstance(body, dict):
        raise BadRequestData("the attribute fragment must be a JSON object")
    patch = parse_instance(body, ctx.compiled, mode="partial")
    await api_state(request).entities.partial_update(
        tenant_of(request), entity_id, _attribute(request, ctx), patch, _gate(request, ctx))
    return empty()


async def replace_attribute(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    body, ctx = await _body(request)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    instances = parse_attribute(body, ctx.compiled, mode="create")
    await api_state(request).entities.replace_attribute(
        tenant_of(request), entity_id, _attribute(request, ctx), instances, _gate(request, ctx))
    return empty()


async def delete_attribute(request: Request) -> Response:
    entity_id = check_id(request.path_params["entity_id"])
    ctx = await context_for_read(request)
    dataset_id = request.query_params.get("datasetId")
    if dataset_id is not None:
        check_id(dataset_id)
    delete_all = request.query_params.get("deleteAll", "false") == "true"
    service = api_state(request).entities
    if request.path_params["attr"] == "scope":
        await service.delete_scope(tenant_of(request), entity_id, _gate(request, ctx))
        return empty()
    await service.delete_attribute(tenant_of(request), entity_id, _attribute(request, ctx),
                                   dataset_id, delete_all, _gate(request, ctx))
    return empty()


async def missing_entity_id(request: Request) -> Response:
    raise BadRequestData("the request URL names no entity id")


async def not_allowed(request: Request) -> Response:
    raise HTTPException(405, headers={"Allow": "POST, PATCH"})


routes = [
    Route("/entities", create_entity, methods=["POST"]),
    Route("/entities", query_entities, methods=["GET"]),
    Route("/entities", missing_entity_id, methods=["PUT", "PATCH"]),
    Route("/entities", purge_entities, methods=["DELETE"]),
    Route("/entities/{entity_id:path}/attrs/{attr}", partial_attribute_update,
          methods=["PATCH"]),
    Route("/entities/{entity_id:path}/attrs/{attr}", replace_attribute, methods=["PUT"]),
    Route("/entities/{entity_id:path}/attrs/{attr}", delete_attribute, methods=["DELETE"]),
    Route("/entities/{entity_id:path}/attrs", append_attributes, methods=["POST"]),
    Route("/entities/{entity_id:path}/attrs", update_attributes, methods=["PATCH"]),
    Route("/entities/{entity_id:path}/attrs", not_allowed, methods=["DELETE", "PUT", "GET"]),
    Route("/entities/{entity_id:path}", retrieve_entity, methods=["GET"]),
    Route("/entities/{entity_id:path}", replace_entity, methods=["PUT"]),
    Route("/entities/{entity_id:path}", merge_entity, methods=["PATCH"]),
    Route("/entities/{entity_id:path}", delete_entity, methods=["DELETE"]),
]
