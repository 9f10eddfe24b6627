"""Discovery: /types and /attributes (ETSI GS CIM 009 §5.7.5–§5.7.8, §6.25–§6.28)."""

from __future__ import annotations

import uuid

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.ldcontext import context_for_read
from cityos.api.responses import ngsi_response
from cityos.api.state import api_state, tenant_of
from cityos.ngsild.errors import ResourceNotFound
from cityos.ngsild.model.entity import check_attribute_name
from cityos.ngsild.model.names import require_type_name
from cityos.ngsild.types import JsonObject


def _list_id(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:{uuid.uuid4().hex}"


def _details(request: Request) -> bool:
    return request.query_params.get("details", "false") == "true"


async def list_types(request: Request) -> Response:
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    await api_state(request).entities.require_tenant(tenant)
    summaries = await api_state(request).entities.store.type_summaries(tenant)
    compact = ctx.compiled.compact_iri
    payload: object
    if _details(request):
        payload = [{"id": s.type_iri, "type": "EntityType", "typeName": compact(s.type_iri),
                    "attributeNames": sorted(compact(a) for a in s.attributes)}
                   for s in summaries]
    else:
        payload = {"id": _list_id("EntityTypeList"), "type": "EntityTypeList",
                   "typeList": [compact(s.type_iri) for s in summaries]}
    return ngsi_response(payload, accept, ctx)


async def type_info(request: Request) -> Response:
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    await api_state(request).entities.require_tenant(tenant)
    type_iri = ctx.compiled.expand_term(require_type_name(request.path_params["type"]))
    summaries = await api_state(request).entities.store.type_summaries(tenant)
    found = next((s for s in summaries if s.type_iri == type_iri), None)
    if found is None:
        raise ResourceNotFound(f"no entity of type {request.path_params['type']}")
    compact = ctx.compiled.compact_iri
    payload: JsonObject = {
        "id": type_iri, "type": "EntityTypeInfo", "typeName": compact(type_iri),
        "entityCount": found.entity_count,
        "attributeDetails": [{"id": attr, "type": "Attribute", "attributeName": compact(attr),
                              "attributeTypes": sorted(kinds)}
                             for attr, kinds in sorted(found.attributes.items())]}
    return ngsi_response(payload, accept, ctx)


async def list_attributes(request: Request) -> Response:
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    await api_state(request).entities.require_tenant(tenant)
    summaries = await api_state(request).entities.store.attribute_summaries(tenant)
    compact = ctx.compiled.compact_iri
    payload: object
    if _details(request):
        payload = [_attribute_payload(s.attribute_iri, s.count, s.kinds, s.types, compact)
                   for s in summaries]
    else:
        payload = {"id": _list_id("AttributeList"), "type": "AttributeList",
                   "attributeList": [compact(s.attribute_iri) for s in summaries]}
    return ngsi_response(payload, accept, ctx)


def _attribute_payload(iri: str, count: int, kinds: set[str], types: set[str],
                       compact: object) -> JsonObject:
    assert callable(compact)
    return {"id": iri, "type": "Attribute", "attributeName": compact(iri),
            "attributeCount": count, "attributeTypes": sorted(kinds),
            "typeNames": sorted(compact(t) for t in types)}


async def attribute_info(request: Request) -> Response:
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    await api_state(request).entities.require_tenant(tenant)
    attr_iri = ctx.compiled.expand_term(check_attribute_name(request.path_params["attr"]))
    summaries = await api_state(request).entities.store.attribute_summaries(tenant)
    found = next((s for s in summaries if s.attribute_iri == attr_iri), None)
    if found is None:
        raise ResourceNotFound(f"no attribute {request.path_params['attr']}")
    payload = _attribute_payload(found.attribute_iri, found.count, found.kinds, found.types,
                                 ctx.compiled.compact_iri)
    return ngsi_response(payload, accept, ctx)


routes = [
    Route("/types", list_types, methods=["GET"]),
    Route("/types/{type:path}", type_info, methods=["GET"]),
    Route("/attributes", list_attributes, methods=["GET"]),
    Route("/attributes/{attr:path}", attribute_info, methods=["GET"]),
]
