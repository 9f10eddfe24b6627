"""The JSON-LD @context API, /jsonldContexts (ETSI GS CIM 009 §5.13, §6.30, §6.31)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.responses import empty, json_response
from cityos.api.state import api_state, tenant_of
from cityos.ngsild.errors import BadRequestData


def _flag(request: Request, name: str) -> bool:
    raw = request.query_params.get(name, "false")
    if raw not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false")
    return raw == "true"


def _require_admin(request: Request) -> None:
    """Changing the @context store changes how every client's terms expand: it takes an
    `admin` grant in the tenant. Reading hosted @contexts stays open to all (clients and
    other brokers fetch them by URL)."""
    authz = api_state(request).authz
    if authz is not None:
        authz.require_any("admin")


async def add_context(request: Request) -> Response:
    _require_admin(request)
    media.require_content_type(request)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    local_id = await api_state(request).resolver.add(body, tenant_of(request))
    location = "/ngsi-ld/v1/jsonldContexts/" + quote(local_id, safe=":")
    return empty(201, {"Location": location})


async def list_contexts(request: Request) -> Response:
    media.choose_response_type(request, (media.JSON, media.JSON_LD))
    details = _flag(request, "details")
    kind = request.query_params.get("kind")
    return json_response(api_state(request).resolver.list(details=details, kind=kind,
                                                         tenant=tenant_of(request)))


async def serve_context(request: Request) -> Response:
    media.choose_response_type(request, (media.JSON, media.JSON_LD))
    document = api_state(request).resolver.get(request.path_params["context_id"],
                                                details=_flag(request, "details"),
                                                tenant=tenant_of(request))
    return json_response(document)


async def delete_context(request: Request) -> Response:
    _require_admin(request)
    await api_state(request).resolver.delete(request.path_params["context_id"],
                                             reload=_flag(request, "reload"),
                                             tenant=tenant_of(request))
    return empty()


routes = [
    Route("/jsonldContexts", add_context, methods=["POST"]),
    Route("/jsonldContexts", list_contexts, methods=["GET"]),
    Route("/jsonldContexts/{context_id:path}", serve_context, methods=["GET"]),
    Route("/jsonldContexts/{context_id:path}", delete_context, methods=["DELETE"]),
]
