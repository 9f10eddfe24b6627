"""Admin API of identity (JSON), reachable only by `may_administer` principals: an
operator with the admin role signed in with both factors (or development mode). A caller
without credentials gets 401, any other 403, as ProblemDetails.

GET    /admin/operators                         list operators
POST   /admin/operators                         {"username", "roles"} → one-time password
POST   /admin/operators/{username}/disable      and /enable
POST   /admin/operators/{username}/reset-totp   enrol again at the next login
POST   /admin/operators/{username}/reset-password  → a new one-time password
GET    /admin/oidc/clients                      list OIDC clients
POST   /admin/oidc/clients                      {"clientId", "name", "roles",
                                                 "redirectUris", "public"} → secret, once
DELETE /admin/oidc/clients/{client_id}
POST   /admin/oidc/keys/rotate                  new signing key → {"kid"}

Every POST must be sent as application/json (a cross-site HTML form cannot), on top of
the SameSite=Strict session cookie."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.ngsild.errors import (
    AlreadyExists,
    BadRequestData,
    Forbidden,
    ResourceNotFound,
    Unauthenticated,
    UnsupportedMediaType,
)
from cityos.security.identity import Identity
from cityos.security.oidc.clients import ClientError
from cityos.security.operators import OperatorError
from cityos.security.passwords import one_time_password
from cityos.security.principal import may_administer, principal_of


def require_admin(request: Request) -> None:
    principal = principal_of(request.scope)
    if may_administer(principal):
        return
    if principal.is_anonymous:
        raise Unauthenticated("sign in as an operator with the admin role (password and "
                              "second factor) to use the admin API")
    raise Forbidden("the admin API needs an operator with the admin role who completed "
                    "the second factor")


async def _json_body(request: Request) -> dict[str, Any]:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("admin requests are sent as application/json")
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise BadRequestData(f"the body is not JSON: {error}") from error
    if not isinstance(body, dict):
        raise BadRequestData("the body must be a JSON object")
    return body


def _strings(body: dict[str, Any], name: str) -> list[str]:
    value = body.get(name, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequestData(f"{name} must be a list of strings")
    return list(value)


class AdminApi:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def routes(self) -> list[BaseRoute]:
        return [Route("/admin/operators", self.list_operators, methods=["GET"]),
                Route("/admin/operators", self.create_operator, methods=["POST"]),
                Route("/admin/operators/{username}/{action}", self.operator_action,
                      methods=["POST"]),
                Route("/admin/oidc/clients", self.list_clients, methods=["GET"]),
                Route("/admin/oidc/clients", self.create_client, methods=["POST"]),
                Route("/admin/oidc/clients/{client_id}", self.delete_client,
                      methods=["DELETE"]),
                Route("/admin/oidc/keys/rotate", self.rotate_keys, methods=["POST"])]

    async def list_operators(self, request: Request) -> Response:
        require_admin(request)
        return JSONResponse([op.public() for op in await self.identity.operators.all()])

    async def create_operator(self, request: Request) -> Response:
        require_admin(request)
        body = await _json_body(request)
        username = body.get("username")
        if not isinstance(username, str):
            raise BadRequestData("username is required")
        password = one_time_password()
        try:
            operator = await self.identity.operators.create(
                username, password, _strings(body, "roles"), one_time=True)
        except OperatorError as error:
            raise (AlreadyExists if "exists" in str(error) else BadRequestData)(
                str(error)) from error
        return JSONResponse({**operator.public(), "oneTimePassword": password},
                            status_code=201, headers={"Cache-Control": "no-store"})

    async def operator_action(self, request: Request) -> Response:
        require_admin(request)
        await _json_body(request)
        username, action = request.path_params["username"], request.path_params["action"]
        operators = self.identity.operators
        try:
            if action == "disable":
                operator = await operators.set_disabled(username, True)
                await self.identity.sessions.end_all(username)
            elif action == "enable":
                operator = await operators.set_disabled(username, False)
            elif action == "reset-password":
                password = one_time_password()
                operator = await operators.set_password(username, password)
                operator.must_change_password = True
                await operators.save(operator)
                await self.identity.sessions.end_all(username)
                return JSONResponse({**operator.public(), "oneTimePassword": password},
                                    headers={"Cache-Control": "no-store"})
            elif action == "reset-totp":
                operator = await operators.reset_totp(username)
                await self.identity.second_factor.drop_recovery_codes(username)
                await self.identity.sessions.end_all(username)
            else:
                raise ResourceNotFound(f"no action {action!r} on operators")
        except OperatorError as error:
            raise ResourceNotFound(str(error)) from error
        return JSONResponse(operator.public())

    async def list_clients(self, request: Request) -> Response:
        require_admin(request)
        return JSONResponse([c.describe() for c in await self.identity.clients.all()])

    async def create_client(self, request: Request) -> Response:
        require_admin(request)
        body = await _json_body(request)
        client_id = body.get("clientId")
        if not isinstance(client_id, str):
            raise BadRequestData("clientId is required")
        try:
            client, secret = await self.identity.clients.create(
                client_id, name=str(body.get("name") or ""), roles=_strings(body, "roles"),
                redirect_uris=_strings(body, "redirectUris"), public=body.get("public") is True)
        except ClientError as error:
            raise (AlreadyExists if "exists" in str(error) else BadRequestData)(
                str(error)) from error
        answer = client.describe()
        if secret is not None:
            answer["clientSecret"] = secret
        return JSONResponse(answer, status_code=201, headers={"Cache-Control": "no-store"})

    async def delete_client(self, request: Request) -> Response:
        require_admin(request)
        if not await self.identity.clients.delete(request.path_params["client_id"]):
            raise ResourceNotFound("no such client")
        return Response(status_code=204)

    async def rotate_keys(self, request: Request) -> Response:
        require_admin(request)
        await _json_body(request)
        return JSONResponse({"kid": await self.identity.keys.rotate()})
