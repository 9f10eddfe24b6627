"""The request body limit (CITYOS_MAX_BODY_BYTES) on every route, not only the NGSI-LD
ones that read their body through the API layer: a declared Content-Length over the limit
is answered 413 at once; a body that grows past it while streaming (a client that lies
about its length) makes the route's read fail with PayloadTooLarge, answered 413 as
ProblemDetails. Chunked bodies never get this far: POST/PATCH/PUT without Content-Length
are answered 411 (cityos.api.system.request_rules)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from cityos.ngsild.errors import PayloadTooLarge
from cityos.security.authentication import header_map

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _declared_length(scope: Scope) -> int | None:
    value = header_map(scope).get(b"content-length")
    if value is None:
        return None
    text = value.strip()
    return int(text) if text.isdigit() else None


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.limit = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0:
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.limit:
            await _too_large(send, self.limit)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise PayloadTooLarge(f"the request body exceeds {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


async def _too_large(send: Send, limit: int) -> None:
    body = orjson.dumps(PayloadTooLarge(f"the request body exceeds {limit} bytes").problem())
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
