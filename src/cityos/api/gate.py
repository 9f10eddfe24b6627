"""The first authorization check of every NGSI-LD route, before the request is even
parsed: the caller must hold some grant of the operation's kind in the tenant (read,
write, subscribe; admin for @context store writes). Finer checks (types, ids, attributes)
happen in the services the handlers reach through api_state. This gate makes sure an
anonymous caller is told to authenticate (401) rather than learning about body formats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cityos.api.state import tenant_of
from cityos.security.access import authorizer_for
from cityos.security.policy import Operation

Endpoint = Callable[[Request], Awaitable[Response]]
READ_BY_POST = ("/entityOperations/query",)


def operation_of(path: str, method: str) -> Operation | None:
    """The kind of operation a request on this route template is (None: open to all)."""
    if "/jsonldContexts" in path:
        return None if method in ("GET", "HEAD") else "admin"
    if "/subscriptions" in path:
        return "subscribe"
    if method in ("GET", "HEAD") or path.endswith(READ_BY_POST):
        return "read"
    return "write"


def gated(endpoint: Endpoint, path: str) -> Endpoint:
    async def handler(request: Request) -> Response:
        operation = operation_of(path, request.method)
        if operation is not None:
            authorizer_for(request.scope, tenant_of(request)).require_any(operation)
        return await endpoint(request)
    handler.__name__ = getattr(endpoint, "__name__", "handler")
    return handler


def gated_route(endpoint: Endpoint, path: str, methods: list[str]) -> Route:
    """A Route to `endpoint` behind the gate, run without Starlette's per-route exception
    layer: what an endpoint raises reaches the application's exception middleware, which
    holds the same handlers (one layer and one `send` wrapper less per request)."""
    route = Route(path, gated(endpoint, path), methods=methods)
    route.app = _direct(route.endpoint)
    return route


def _direct(endpoint: Endpoint) -> ASGIApp:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        response = await endpoint(Request(scope, receive, send))
        await response(scope, receive, send)
    return app

