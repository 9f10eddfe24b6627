"""Administration of API keys (/admin/apikeys) and authorization grants (/admin/policies).
Only a caller `may_administer` reaches them (an operator with the admin role and a second
factor, or development mode); API keys never do."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.responses import empty, json_response
from cityos.ngsild.errors import BadRequestData, Forbidden, Unauthenticated
from cityos.security.access import AccessControl
from cityos.security.principal import may_administer, principal_of

MAX_ADMIN_BODY = 65_536


def _admin(request: Request) -> AccessControl:
    principal = principal_of(request.scope)
    if not may_administer(principal):
        if principal.is_anonymous:
            raise Unauthenticated("administration needs an administrator's credentials")
        raise Forbidden(f"{principal.subject} may not administer this server")
    access: AccessControl = request.app.state.access
    return access


async def _object(request: Request) -> dict[str, Any]:
    media.require_content_type(request, (media.JSON,))
    body = await media.read_body(request, MAX_ADMIN_BODY)
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], name: str) -> list[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequestData(f"{name} must be a list of non-empty strings")
    return value


async def list_keys(request: Request) -> Response:
    access = _admin(request)
    return json_response([record.to_json() for record in await access.keys.list()])


async def create_key(request: Request) -> Response:
    """201 with the key itself: the only time it is ever shown."""
    access = _admin(request)
    body = await _object(request)
    name, kind, expires = body.get("name"), body.get("kind", "client"), body.get("expiresAt")
    if not isinstance(name, str) or not isinstance(kind, str) \
            or not isinstance(expires, str | None):
        raise BadRequestData("name and kind must be strings, expiresAt a date-time")
    tenants = _strings(body, "tenants")
    issued = await access.keys.create(
        name, roles=frozenset(_strings(body, "roles") or ()), kind=kind,
        tenants=None if tenants is None else frozenset(tenants), expires_at=expires)
    return json_response({**issued.record.to_json(), "key": issued.key}, status=201,
                         headers={"Location": f"/admin/apikeys/{issued.record.key_id}",
                                  "Cache-Control": "no-store"})


async def revoke_key(request: Request) -> Response:
    access = _admin(request)
    await access.keys.revoke(request.path_params["key_id"])
    return empty()


async def list_policies(request: Request) -> Response:
    return json_response(_admin(request).listing())


async def create_policy(request: Request) -> Response:
    access = _admin(request)
    grant = await access.grant(await _object(request))
    return json_response(grant.to_json(), status=201,
                         headers={"Location": f"/admin/policies/{grant.id}"})


async def delete_policy(request: Request) -> Response:
    await _admin(request).revoke(request.path_params["grant_id"])
    return empty()


routes = [
    Route("/admin/apikeys", list_keys, methods=["GET"]),
    Route("/admin/apikeys", create_key, methods=["POST"]),
    Route("/admin/apikeys/{key_id}", revoke_key, methods=["DELETE"]),
    Route("/admin/policies", list_policies, methods=["GET"]),
    Route("/admin/policies", create_policy, methods=["POST"]),
    Route("/admin/policies/{grant_id}", delete_policy, methods=["DELETE"]),
]
