"""Audits every HTTP request: one audit entry per call, queued when the call ends (or
fails), so a request never waits for the audit write. The request path only queues
scalars (cityos.security.audit_queue); the time text and the operation are formatted in
the batch that seals and stores the entry.

The operation is the method and the route template (`PATCH
/ngsi-ld/v1/entities/{entity_id}/attrs`); the target is the entity or subscription id when
the route has one, else the path. The purpose comes from the `X-Purpose` request header.
Each request gets an id (the client's `X-Request-Id` if it sent one, else a new one),
echoed in the `X-Request-Id` response header so a caller can quote it.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from cityos.security.authentication import header_map
from cityos.security.principal import ANONYMOUS, PRINCIPAL_KEY, Principal

if TYPE_CHECKING:
    from cityos.security.audit import AuditTrail

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PURPOSE_HEADER = b"x-purpose"
REQUEST_ID_HEADER = b"x-request-id"
UNAUDITED_PATHS = frozenset({"/health", "/metrics", "/favicon.ico"})
UNAUDITED_PREFIXES = ("/static/",)
_TARGET_PARAMS = ("entity_id", "subscription_id", "context_id", "type", "id")
_MAX_HEADER = 200


def route_template(path: str, params: dict[str, Any]) -> str:
    """The path with each path parameter's value put back as {name}."""
    for name, value in params.items():
        text = str(value)
        if text:
            path = path.replace("/" + text, "/{" + name + "}", 1)
    return path


def _template(scope: Scope, path: str, params: dict[str, Any]) -> str:
    """The matched route's own template when the router recorded the route (its
    parameters without converters) and it spans the whole path (a route inside a mounted
    app knows only its part), else rebuilt from the path."""
    template = getattr(scope.get("route"), "path_format", None)
    if isinstance(template, str) and template.count("{") == len(params) \
            and template.count("/") == path.count("/") \
            and path.startswith(template.split("{", 1)[0]):
        return template
    return route_template(path, params)


def _target(path: str, params: dict[str, Any]) -> str:
    for name in _TARGET_PARAMS:
        if name in params:
            return str(params[name])
    return path


def _clip(value: str | None) -> str | None:
    return None if value is None else value[:_MAX_HEADER]


class AuditMiddleware:
    def __init__(self, app: ASGIApp, trail: AuditTrail) -> None:
        self.app = app
        self.trail = trail
        self._ids = itertools.count(1)
        self._prefix = os.urandom(4).hex()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] != "http" or not self.trail.enabled or path in UNAUDITED_PATHS
                or path.startswith(UNAUDITED_PREFIXES)):
            await self.app(scope, receive, send)
            return
        headers = header_map(scope)
        given = headers.get(REQUEST_ID_HEADER)
        request_id = given[:_MAX_HEADER] if given else f"{self._prefix}-{next(self._ids)}"
        echoed = (REQUEST_ID_HEADER, request_id.encode("latin-1"))
        status = 500

        async def observed(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self.trail.record_request(_facts(scope, path, headers, request_id, status))


def _facts(scope: Scope, path: str, headers: dict[bytes, str], request_id: str,
           status: int) -> tuple[Any, ...]:
    """The queue items of one call (cityos.security.audit_queue): scalars only."""
    principal = scope.get(PRINCIPAL_KEY)
    who = principal if isinstance(principal, Principal) else ANONYMOUS
    params = scope.get("path_params")
    client = scope.get("client")
    return (time.time(), who.subject, who.kind, who.client_id, who.issuer,
            _clip(headers.get(b"ngsild-tenant")), scope.get("method", ""),
            _template(scope, path, params) if params else path,
            _target(path, params) if params else path,
            _clip(headers.get(PURPOSE_HEADER)), status, client[0] if client else None,
            request_id)
