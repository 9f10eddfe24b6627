"""ProblemDetails responses (RFC 7807) for every error a client can see."""

from __future__ import annotations

import logging

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from cityos.ngsild.errors import (
    InternalError,
    InvalidRequest,
    MethodNotAllowed,
    NgsiLdError,
    ResourceNotFound,
)

log = logging.getLogger(__name__)
PROBLEM_MEDIA_TYPE = "application/json"


def problem_response(error: NgsiLdError, request: Request | None = None) -> Response:
    body = error.problem()
    headers = {"Allow": error.extra["allow"]} if "allow" in error.extra else None
    body.pop("allow", None)
    return Response(orjson.dumps(body), status_code=error.status,
                    media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def on_ngsi_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NgsiLdError)
    return problem_response(exc, request)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return problem_response(ResourceNotFound(f"no resource at {request.url.path}"))
    if exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        return problem_response(MethodNotAllowed(
            f"{request.method} is not supported on {request.url.path}", allow=allow))
    error = InvalidRequest(str(exc.detail))
    error.status = exc.status_code  # type: ignore[misc]
    return problem_response(error)


async def on_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return problem_response(InternalError("the server failed to handle the request"))
