"""HTTP handlers for the temporal API: /temporal/entities and
/temporal/entityOperations/query (ETSI GS CIM 009 §6.18–§6.22, §6.24). Thin: parse,
call the temporal service, render."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.ldcontext import RequestContext, context_for_body, context_for_read
from cityos.api.params import entity_query, options_of, render_options
from cityos.api.responses import empty, ngsi_response, page_links
from cityos.api.state import api_state, tenant_of
from cityos.broker.temporal import TemporalPage, TemporalService
from cityos.broker.temporal_filter import TemporalFilter
from cityos.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    OperationNotSupported,
    ResourceNotFound,
)
from cityos.ngsild.model.entity import check_attribute_name, check_id
from cityos.ngsild.model.names import require_uri
from cityos.ngsild.temporal.body import (
    parse_instance_fragment,
    parse_temporal_attributes,
    parse_temporal_entity,
)
from cityos.ngsild.temporal.diff import SCOPE_IRI
from cityos.ngsild.temporal.params import parse_temporal_query
from cityos.ngsild.temporal.query_body import parse_temporal_query_body
from cityos.ngsild.temporal.render import (
    TemporalForm,
    TemporalRenderOptions,
    render_temporal_entity,
)

TEMPORAL_PATH = "/ngsi-ld/v1/temporal/entities/"
TEMPORAL_PARAMETERS = frozenset({
    "timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
    "aggrPeriodDuration", "attrs", "pick", "omit", "options", "format", "lang", "datasetId",
    "expandValues"})
QUERY_PARAMETERS = TEMPORAL_PARAMETERS | frozenset({
    "id", "type", "idPattern", "q", "csf", "scopeQ", "georel", "geometry", "coordinates",
    "geoproperty", "limit", "offset", "count", "local", "orderBy", "collation"})
FORMATS: dict[str, TemporalForm] = {"normalized": "normalized",
                                    "temporalValues": "temporalValues",
                                    "simplified": "temporalValues",
                                    "keyValues": "temporalValues",
                                    "aggregatedValues": "aggregatedValues"}


def _service(request: Request) -> TemporalService:
    service = api_state(request).temporal
    if service is None:
        raise OperationNotSupported("temporal history is only kept with the SQLite backend")
    return service


def _form(params: Mapping[str, Any]) -> TemporalForm:
    """§6.3.12: `format` takes precedence over `options`."""
    options = options_of(params)
    if "format" in params:
        if params["format"] not in FORMATS:
            raise InvalidRequest(f"unknown format {str(params['format'])[:80]!r}")
        return FORMATS[params["format"]]
    if "aggregatedValues" in options:
        return "aggregatedValues"
    if options & {"temporalValues", "keyValues", "simplified"}:
        return "temporalValues"
    return "normalized"


def _without_format(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in ("format", "options")}


def _render_options(params: Mapping[str, Any], ctx: RequestContext,
                    form: TemporalForm, timeproperty: str) -> tuple[Any, TemporalRenderOptions]:
    opts = render_options(_without_format(params), ctx.compiled)
    sys_attrs = "sysAttrs" in options_of(params)
    return opts, TemporalRenderOptions(form, sys_attrs, opts.lang, timeproperty,
                                       opts.members, opts.omit)


def _shown(iri: str, opts: Any) -> bool:
    """§4.21 pick / omit: whether an attribute of the entity is part of the projection
    (`pick=id` keeps no attribute at all)."""
    if iri in opts.omit:
        return False
    if opts.members is not None and opts.attrs is not None:  # a pick
        return iri in opts.attrs or (iri == SCOPE_IRI and "scope" in opts.members)
    return True


def _respond(request: Request, page: TemporalPage, ctx: RequestContext,
             topts: TemporalRenderOptions, attrs_opts: Any, *, single: bool,
             headers: dict[str, str] | None = None) -> Response:
    accept = media.choose_response_type(request)
    payload = []
    for entity in page.entities:
        entity["attrs"] = {k: v for k, v in entity["attrs"].items()
                           if _shown(k, attrs_opts)}
        entity["aggregates"] = {k: v for k, v in entity.get("aggregates", {}).items()
                                if _shown(k, attrs_opts)}
        payload.append(render_temporal_entity(entity, ctx.compiled, topts))
    all_headers = dict(headers or {})
    status = 200
    if page.range is not None:
        status = 206
        all_headers["Content-Range"] = page.range.header()
    if single:
        if not payload[0]:
            raise ResourceNotFound("the selection leaves nothing of the entity")
        return ngsi_response(payload[0], accept, ctx, status=status, headers=all_headers)
    return ngsi_response(payload, accept, ctx, status=status, headers=all_headers)


async def create_or_update(request: Request) -> Response:
    """§6.18.3.2 POST /temporal/entities: 201 (created) or 204 (instances added)."""
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    ctx = await context_for_body(request, body)
    entity = parse_temporal_entity(body, ctx.compiled)
    created = await _service(request).upsert(tenant_of(request), entity)
    if created:
        return empty(201, {"Location": TEMPORAL_PATH + quote(entity["id"], safe=":")})
    return empty()


def _selected(opts: Any) -> frozenset[str] | None:
    attrs: frozenset[str] | None = opts.attrs
    return attrs


async def retrieve(request: Request) -> Response:
    """§6.19.3.1 GET /temporal/entities/{entityId}."""
    media.reject_unknown_parameters(request, TEMPORAL_PARAMETERS)
    entity_id = check_id(request.path_params["entity_id"])
    ctx = await context_for_read(request)
    params = request.query_params
    form = _form(params)
    query = parse_temporal_query(params, aggregated=form == "aggregatedValues")
    opts, topts = _render_options(params, ctx, form, query.timeproperty)
    page = await _service(request).retrieve(tenant_of(request), entity_id, query,
                                            _selected(opts), opts.dataset_ids)
    return _respond(request, page, ctx, topts, opts, single=True)


def _check_order(query: Any) -> None:
    """§5.7.4.4: a temporal query may only be ordered by the entity id."""
    ordering = query.order_by
    if ordering is not None and any(k.member != "id" for k in ordering.keys):
        raise BadRequestData("a temporal query can only be ordered by id")


async def _run_query(request: Request, params: Mapping[str, Any], temporal: Mapping[str, Any],
                     ctx: RequestContext, form: TemporalForm) -> Response:
    query = parse_temporal_query(temporal, aggregated=form == "aggregatedValues")
    opts, topts = _render_options(params, ctx, form, query.timeproperty)
    flt_query = entity_query(params, ctx.compiled, _selected(opts))
    _check_order(flt_query)
    flt = TemporalFilter(flt_query, params.get("local") == "true")
    page = await _service(request).query(tenant_of(request), flt, query, opts.dataset_ids)
    headers: dict[str, str] = {}
    if page.total is not None:
        headers["NGSILD-Results-Count"] = str(page.total)
    links = page_links(request.url.path.rstrip("/"), request.query_params.multi_items(),
                       offset=flt_query.offset, limit=flt_query.limit, more=page.more,
                       media=media.choose_response_type(request))
    if links:
        headers["Link"] = ", ".join(links)
    return _respond(request, page, ctx, topts, opts, single=False, headers=headers)


async def query_entities(request: Request) -> Response:
    """§6.18.3.1 GET /temporal/entities."""
    media.reject_unknown_parameters(request, QUERY_PARAMETERS)
    ctx = await context_for_read(request)
    params = request.query_params
    return await _run_query(request, params, params, ctx, _form(params))


async def query_by_post(request: Request) -> Response:
    """§6.24.3.1 POST /temporal/entityOperations/query."""
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    ctx = await context_for_body(request, body)
    query_body = parse_temporal_query_body(body)
    params, temporal = query_body.params, query_body.temporal
    url_params = request.query_params
    for name in ("limit", "offset", "count", "options", "format", "local"):
        if name in url_params:
            params[name] = url_params[name]
    form = _form(params)
    if query_body.aggregated and "format" not in params:
        form = "aggregatedValues"
    return await _run_query(request, params, temporal, ctx, form)


async def delete_entity(request: Request) -> Response:
    """§6.19.3.2 DELETE /temporal/entities/{entityId}."""
    entity_id = check_id(request.path_params["entity_id"])
    await _service(request).delete(tenant_of(request), entity_id)
    return empty()


async def append_attributes(request: Request) -> Response:
    """§6.20.3.1 POST /temporal/entities/{entityId}/attrs."""
    entity_id = check_id(request.path_params["entity_id"])
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    ctx = await context_for_body(request, body)
    attrs = parse_temporal_attributes(body, ctx.compiled)
    await _service(request).append(tenant_of(request), entity_id, attrs)
    return empty()


def _check_not_dot_segment(name: str) -> None:
    """§5.6.13.4 / §4.6.2: "." and ".." are not attribute names. Percent triplets are
    folded first (a path may be decoded again on its way), so every spelling is refused."""
    folded = name
    for _ in range(8):
        decoded = unquote(folded)
        if decoded == folded:
            break
        folded = decoded
    if folded in (".", ".."):
        raise BadRequestData(f"{name!r} is a dot segment, not an attribute name")


def _attribute(request: Request, ctx: RequestContext) -> str:
    name = check_attribute_name(request.path_params["attr"])
    _check_not_dot_segment(name)
    return ctx.compiled.expand_term(name)


async def delete_attribute(request: Request) -> Response:
    """§6.21.3.1 DELETE /temporal/entities/{entityId}/attrs/{attrId}."""
    entity_id = check_id(request.path_params["entity_id"])
    ctx = await context_for_read(request)
    dataset_id = request.query_params.get("datasetId")
    if dataset_id is not None:
        require_uri(dataset_id, "datasetId")
    delete_all = request.query_params.get("deleteAll", "false") == "true"
    await _service(request).delete_attribute(tenant_of(request), entity_id,
                                             _attribute(request, ctx), dataset_id, delete_all)
    return empty()


async def modify_instance(request: Request) -> Response:
    """§6.22.3.1 PATCH /temporal/entities/{entityId}/attrs/{attrId}/{instanceId}."""
    entity_id = check_id(request.path_params["entity_id"])
    instance_id = require_uri(request.path_params["instance_id"], "instanceId")
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    ctx = await context_for_body(request, body)
    attribute = _attribute(request, ctx)
    patch = parse_instance_fragment(body, request.path_params["attr"], attribute,
                                    ctx.compiled)
    await _service(request).update_instance(tenant_of(request), entity_id, attribute,
                                            instance_id, patch)
    return empty()


async def missing_attribute(request: Request) -> Response:
    """.../attrs//{instanceId}: the attribute name is empty, so it is not a valid name
    (§5.6.14.4, §5.6.15.4)."""
    check_id(request.path_params["entity_id"])
    raise BadRequestData("the attribute name is missing from the path")


async def delete_instance(request: Request) -> Response:
    """§6.22.3.2 DELETE /temporal/entities/{entityId}/attrs/{attrId}/{instanceId}."""
    entity_id = check_id(request.path_params["entity_id"])
    instance_id = require_uri(request.path_params["instance_id"], "instanceId")
    ctx = await context_for_read(request)
    await _service(request).delete_instance(tenant_of(request), entity_id,
                                            _attribute(request, ctx), instance_id)
    return empty()


routes = [
    Route("/temporal/entities", create_or_update, methods=["POST"]),
    Route("/temporal/entities", query_entities, methods=["GET"]),
    Route("/temporal/entityOperations/query", query_by_post, methods=["POST"]),
    Route("/temporal/entities/{entity_id:path}/attrs/{attr}/{instance_id}", modify_instance,
          methods=["PATCH"]),
    Route("/temporal/entities/{entity_id:path}/attrs/{attr}/{instance_id}", delete_instance,
          methods=["DELETE"]),
    Route("/temporal/entities/{entity_id:path}/attrs//{instance_id}", missing_attribute,
          methods=["DELETE"]),
    Route("/temporal/entities/{entity_id:path}/attrs/{attr}", delete_attribute,
          methods=["DELETE"]),
    Route("/temporal/entities/{entity_id:path}/attrs", append_attributes, methods=["POST"]),
    Route("/temporal/entities/{entity_id:path}", retrieve, methods=["GET"]),
    Route("/temporal/entities/{entity_id:path}", delete_entity, methods=["DELETE"]),
]
