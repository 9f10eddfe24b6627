"""Operational endpoints: /health and /metrics (Prometheus text format)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from cityos import __version__
from cityos.api.responses import json_response

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """Counts requests by method and status class; cheap enough for every request."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.started = time.time()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        async def counted(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            status = {"code": 500}

            async def capture(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                self.requests[(scope["method"], f"{status['code'] // 100}xx")] += 1
        return counted

    def render(self) -> str:
        lines = ["# HELP cityos_http_requests_total HTTP requests served.",
                 "# TYPE cityos_http_requests_total counter"]
        for (method, status), n in sorted(self.requests.items()):
            lines.append(f'cityos_http_requests_total{{method="{method}",status="{status}"}} {n}')
        lines += ["# HELP cityos_uptime_seconds Seconds since the process started.",
                  "# TYPE cityos_uptime_seconds gauge",
                  f"cityos_uptime_seconds {time.time() - self.started:.1f}"]
        return "\n".join(lines) + "\n"


async def health(request: Request) -> Response:
    store = request.app.state.api.entities.store
    await store.tenants()
    return json_response({"status": "ok", "version": __version__})


async def metrics(request: Request) -> Response:
    registry: RequestMetrics = request.app.state.metrics
    return PlainTextResponse(registry.render(), media_type="text/plain; version=0.0.4")


routes = [Route("/health", health, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]


def strip_trailing_slash(app: ASGIApp) -> ASGIApp:
    """`/ngsi-ld/v1/entities/` and `/ngsi-ld/v1/entities` are the same resource; clients
    (and the ETSI test suite) use both."""

    async def normalised(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                scope["raw_path"] = scope["path"].encode()
        await app(scope, receive, send)

    return normalised
