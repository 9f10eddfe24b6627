"""Audits every HTTP request: one `AuditEntry` per call, queued when the response starts
(or when the app fails), so a request never waits for the audit write.

The operation is the method and the route template (`PATCH
/ngsi-ld/v1/entities/{entity_id}/attrs`); the target is the entity or subscription id when
the route has one, else the path. The purpose comes from the `X-Purpose` request header.
Each request gets an id (the client's `X-Request-Id` if it sent one, else a new one),
echoed in the `X-Request-Id` response header so a caller can quote it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from cityos.security.audit import AuditTrail, now_text
from cityos.security.authentication import header_map
from cityos.security.principal import principal_of
from cityos.storage.audit import AuditEntry

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


def _target(path: str, params: dict[str, Any]) -> str:
    for name in _TARGET_PARAMS:
        if name in params:
            return str(params[name])
    return path


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
        headers = _headers(scope)
        request_id = headers.get(REQUEST_ID_HEADER) or f"{self._prefix}-{next(self._ids)}"
        status = {"code": 500}

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message = {**message, "headers": [*message.get("headers", ()),
                                                  (REQUEST_ID_HEADER, request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, observed)
        finally:
            self.trail.record(self._entry(scope, headers, request_id, status["code"]))

    def _entry(self, scope: Scope, headers: dict[bytes, str], request_id: str,
               status: int) -> AuditEntry:
        principal = principal_of(scope)
        params: dict[str, Any] = scope.get("path_params") or {}
        path: str = scope.get("path", "")
        client = scope.get("client")
        return AuditEntry(
            time=now_text(), subject=principal.subject, kind=principal.kind,
            client_id=principal.client_id, issuer=principal.issuer,
            tenant=headers.get(b"ngsild-tenant"),
            operation=f"{scope.get('method', '')} {route_template(path, params)}",
            target=_target(path, params), purpose=headers.get(PURPOSE_HEADER),
            result=str(status), remote=client[0] if client else None, request_id=request_id)


_WANTED = (b"ngsild-tenant", PURPOSE_HEADER, REQUEST_ID_HEADER)


def _headers(scope: Scope) -> dict[bytes, str]:
    present = header_map(scope)
    return {name: present[name][:_MAX_HEADER] for name in _WANTED if name in present}
