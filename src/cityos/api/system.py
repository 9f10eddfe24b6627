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
from cityos.security.authentication import header_map

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class RequestMetrics:
    """Counts requests by method and status class; cheap enough for every request."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.errors: Counter[int] = Counter()  # answers with status >= 400, by status
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
                if status["code"] >= 400:
                    self.errors[status["code"]] += 1
        return counted

    def render(self) -> str:
        lines = ["# HELP cityos_http_requests_total HTTP requests served.",
                 "# TYPE cityos_http_requests_total counter"]
        for (method, status), n in sorted(self.requests.items()):
            lines.append(f'cityos_http_requests_total{{method="{method}",status="{status}"}} {n}')
        lines += ["# HELP cityos_http_errors_total HTTP answers with an error status "
                  "(4xx client errors, 5xx server errors), by status code.",
                  "# TYPE cityos_http_errors_total counter"]
        lines += [f'cityos_http_errors_total{{status="{code}"}} {n}'
                  for code, n in sorted(self.errors.items())]
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
    text = registry.render()
    delivery = getattr(request.app.state, "delivery", None)
    if delivery is not None:
        text += await delivery.metrics_text()
    text += request.app.state.platform.counters.render()
    for plugin in request.app.state.plugins:
        text += plugin.metrics_text()
    return PlainTextResponse(text, media_type="text/plain; version=0.0.4")


routes = [Route("/health", health, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]


_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
_LENGTH_REQUIRED = ({"type": "http.response.start", "status": 411,
                     "headers": [(b"content-length", b"0")]},
                    {"type": "http.response.body", "body": b""})


def request_rules(app: ASGIApp, metrics: RequestMetrics | None = None) -> ASGIApp:
    """The request-level HTTP rules that hold for every resource, in one layer (one pass
    over the request headers, one wrapper of `send`):

    - `/ngsi-ld/v1/entities/` and `/ngsi-ld/v1/entities` are the same resource; clients
      (and the ETSI test suite) use both: a trailing slash is dropped;
    - §6.3.14: an NGSILD-Tenant header of the request is present in the response too,
      errors included;
    - §6.3.4: POST, PATCH and PUT requests must carry Content-Length; otherwise the
      answer is 411 Length Required with no payload body (chunked transfer is no
      exemption), decided before anything else, the tenant included;
    - the request is counted in `metrics` by method and status class (411 answers are
      not: they never reach the application)."""

    async def handled(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = dict(scope)
            scope["path"] = path.rstrip("/") or "/"
            scope["raw_path"] = scope["path"].encode()
        headers = header_map(scope)  # built once, kept in the scope for the next layers
        tenant_text = headers.get(b"ngsild-tenant")
        tenant = None if tenant_text is None else tenant_text.encode("latin-1")
        has_length = b"content-length" in headers
        status = 500

        async def answered(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                if tenant is not None:
                    headers = list(message.get("headers", []))
                    if not any(name.lower() == b"ngsild-tenant" for name, _ in headers):
                        headers.append((b"ngsild-tenant", tenant))
                    message = {**message, "headers": headers}
            await send(message)

        if not has_length and scope["method"] in _BODY_METHODS:
            for message in _LENGTH_REQUIRED:
                await answered(dict(message))
            return
        if metrics is None:
            await app(scope, receive, answered)
            return
        try:
            await app(scope, receive, answered)
        finally:
            metrics.requests[(scope["method"], f"{status // 100}xx")] += 1
            if status >= 400:
                metrics.errors[status] += 1

    return handled


def strip_trailing_slash(app: ASGIApp) -> ASGIApp:
    """The request-level rules (`request_rules`) without request metrics."""
    return request_rules(app)
