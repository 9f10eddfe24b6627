"""Discovery: /types and /attributes (ETSI GS CIM 009 §5.7.5–§5.7.10, §6.25–§6.28) and the
identity of this Context Source, /info/sourceIdentity (§5.15.1, §5.2.40, §6.33)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.ldcontext import RequestContext, context_for_read
from cityos.api.responses import ngsi_response
from cityos.api.state import api_state, tenant_of
from cityos.ngsild.errors import BadRequestData, ResourceNotFound
from cityos.ngsild.model.entity import check_attribute_name
from cityos.ngsild.model.names import RESERVED_ATTRIBUTE_NAMES, require_type_name
from cityos.ngsild.types import JsonObject
from cityos.storage.base import AttributeSummary, TypeSummary

Compact = Callable[[str], str]

# §6.25.3.1, §6.26.3.1, §6.27.3.1, §6.28.3.1: the query parameters each resource defines.
# `local` only matters for distributed operation; this broker answers from its own store.
_LIST_PARAMS = frozenset({"details", "local"})
_ITEM_PARAMS = frozenset({"local"})
_STARTED = time.time()


def _list_id(kind: str) -> str:
    return f"urn:ngsi-ld:{kind}:{uuid.uuid4().hex}"


def _boolean(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name, "false")
    if raw not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {raw[:40]!r}")
    return raw == "true"


def _check_params(request: Request, allowed: frozenset[str]) -> Mapping[str, str]:
    media.reject_unknown_parameters(request, allowed)
    params = request.query_params
    _boolean(params, "local")
    return params


async def _prepare(request: Request, allowed: frozenset[str]
                   ) -> tuple[Mapping[str, str], str, RequestContext, str]:
    """Parameters, response media type, @context and the (existing) tenant."""
    params = _check_params(request, allowed)
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    state = api_state(request)
    if state.authz is not None:
        state.authz.require_any("read")
    await state.entities.require_tenant(tenant)
    return params, accept, ctx, tenant


async def _types(request: Request, tenant: str) -> list[TypeSummary]:
    """The tenant's types the caller may read, with the attributes it may read."""
    state = api_state(request)
    summaries = await state.entities.store.type_summaries(tenant)
    authz = state.authz
    if authz is None or authz.unrestricted:
        return summaries
    return [replace(s, attributes={a: k for a, k in s.attributes.items()
                                   if authz.attribute_visible(s.type_iri, a)})
            for s in summaries if authz.type_readable(s.type_iri)]


async def _attributes(request: Request, tenant: str) -> list[AttributeSummary]:
    """The tenant's attributes the caller may read, with the types it may read."""
    state = api_state(request)
    summaries = await state.entities.store.attribute_summaries(tenant)
    authz = state.authz
    if authz is None or authz.unrestricted:
        return summaries
    shown = []
    for s in summaries:
        types = {t for t in s.types if authz.attribute_visible(t, s.attribute_iri)}
        if types:
            shown.append(replace(s, types=types))
    return shown


async def list_types(request: Request) -> Response:
    """§5.7.5 EntityTypeList, or with details=true §5.7.6 a list of EntityType."""
    params, accept, ctx, tenant = await _prepare(request, _LIST_PARAMS)
    summaries = await _types(request, tenant)
    compact = ctx.compiled.compact_iri
    payload: object
    if _boolean(params, "details"):
        payload = [{"id": s.type_iri, "type": "EntityType", "typeName": compact(s.type_iri),
                    "attributeNames": sorted(compact(a) for a in s.attributes)}
                   for s in summaries]
    else:
        payload = {"id": _list_id("EntityTypeList"), "type": "EntityTypeList",
                   "typeList": [compact(s.type_iri) for s in summaries]}
    return ngsi_response(payload, accept, ctx)


async def type_info(request: Request) -> Response:
    """§5.7.7 EntityTypeInfo of a type that entity instances of the tenant carry."""
    _, accept, ctx, tenant = await _prepare(request, _ITEM_PARAMS)
    name = request.path_params["type"]
    type_iri = ctx.compiled.expand_term(require_type_name(name))
    summaries = await _types(request, tenant)
    found = next((s for s in summaries if s.type_iri == type_iri), None)
    if found is None:
        raise ResourceNotFound(f"no entity of type {name[:200]} exists")
    compact = ctx.compiled.compact_iri
    payload: JsonObject = {
        "id": type_iri, "type": "EntityTypeInfo", "typeName": compact(type_iri),
        "entityCount": found.entity_count,
        "attributeDetails": [{"id": attr, "type": "Attribute", "attributeName": compact(attr),
                              "attributeTypes": sorted(kinds)}
                             for attr, kinds in sorted(found.attributes.items())]}
    return ngsi_response(payload, accept, ctx)


async def list_attributes(request: Request) -> Response:
    """§5.7.8 AttributeList, or with details=true §5.7.9 a list of Attribute (with the
    typeNames, but neither attributeCount nor attributeTypes)."""
    params, accept, ctx, tenant = await _prepare(request, _LIST_PARAMS)
    summaries = await _attributes(request, tenant)
    compact = ctx.compiled.compact_iri
    payload: object
    if _boolean(params, "details"):
        payload = [{"id": s.attribute_iri, "type": "Attribute",
                    "attributeName": compact(s.attribute_iri),
                    "typeNames": sorted(compact(t) for t in s.types)}
                   for s in summaries]
    else:
        payload = {"id": _list_id("AttributeList"), "type": "AttributeList",
                   "attributeList": [compact(s.attribute_iri) for s in summaries]}
    return ngsi_response(payload, accept, ctx)


async def attribute_info(request: Request) -> Response:
    """§5.7.10 Attribute of an attribute that entity instances of the tenant carry. The
    Entity members (id, type, scope, createdAt, …) are not attributes (§4.5.1)."""
    _, accept, ctx, tenant = await _prepare(request, _ITEM_PARAMS)
    name = request.path_params["attr"]
    if name in RESERVED_ATTRIBUTE_NAMES:
        raise ResourceNotFound(f"{name} is an entity member, not an attribute")
    attr_iri = ctx.compiled.expand_term(check_attribute_name(name))
    summaries = await _attributes(request, tenant)
    found = next((s for s in summaries if s.attribute_iri == attr_iri), None)
    if found is None:
        raise ResourceNotFound(f"no entity has an attribute {name[:200]}")
    compact = ctx.compiled.compact_iri
    payload: JsonObject = {
        "id": found.attribute_iri, "type": "Attribute",
        "attributeName": compact(found.attribute_iri), "attributeCount": found.count,
        "attributeTypes": sorted(found.kinds),
        "typeNames": sorted(compact(t) for t in found.types)}
    return ngsi_response(payload, accept, ctx)


def _iso_duration(seconds: float) -> str:
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    date_part = f"{days}D" if days else ""
    return f"P{date_part}T{hours}H{minutes}M{secs}S"


async def source_identity(request: Request) -> Response:
    """§5.15.1: the ContextSourceIdentity (§5.2.40) of this broker. The alias is stable and,
    as Table 5.2.40-1 asks for multi-tenancy, different for every tenant."""
    _check_params(request, frozenset())
    accept = media.choose_response_type(request)
    ctx = await context_for_read(request)
    tenant = tenant_of(request)
    base = str(request.app.state.settings.public_url)
    alias = uuid.uuid5(uuid.NAMESPACE_URL, f"{base}#tenant={tenant}")
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    payload: JsonObject = {
        "id": f"urn:ngsi-ld:ContextSourceIdentity:{alias}",
        "type": "ContextSourceIdentity",
        "contextSourceAlias": f"urn:ngsi-ld:ContextSource:{alias}",
        "contextSourceUptime": _iso_duration(time.time() - _STARTED),
        "contextSourceTimeAt": now}
    return ngsi_response(payload, accept, ctx)


routes = [
    Route("/types", list_types, methods=["GET"]),
    Route("/types/{type:path}", type_info, methods=["GET"]),
    Route("/attributes", list_attributes, methods=["GET"]),
    Route("/attributes/{attr:path}", attribute_info, methods=["GET"]),
    Route("/info/sourceIdentity", source_identity, methods=["GET"]),
]
