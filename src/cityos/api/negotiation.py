"""Media types, Link headers and request bodies (ETSI GS CIM 009 §6.3.4–§6.3.6)."""

from __future__ import annotations

import re
from typing import Any

import orjson
from starlette.requests import Request

from cityos.ngsild.errors import (
    BadRequestData,
    InvalidRequest,
    NotAcceptable,
    PayloadTooLarge,
    UnsupportedMediaType,
)

JSON = "application/json"
JSON_LD = "application/ld+json"
GEO_JSON = "application/geo+json"
MERGE_PATCH = "application/merge-patch+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"
_LINK = re.compile(r'<([^>]*)>\s*((?:;\s*[^;,]+)*)')


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def require_content_type(request: Request, allowed: tuple[str, ...] = (JSON, JSON_LD)) -> str:
    """§6.3.4: bodies must be JSON or JSON-LD (or merge-patch for PATCH); else 415."""
    media = content_type(request)
    if media not in allowed:
        raise UnsupportedMediaType(f"Content-Type {media or '(none)'} is not supported; "
                                   f"use one of {', '.join(allowed)}")
    return media


def choose_response_type(request: Request, offered: tuple[str, ...] = (JSON, JSON_LD)) -> str:
    """§6.3.6: pick the response media type from Accept (q-values honoured); else 406."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return offered[0]
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept.split(",")):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        ranked.append((-quality, position, media.lower()))
    for negative_quality, _, media in sorted(ranked):
        if negative_quality == 0:
            continue
        if media in offered:
            return media
        if media in ("*/*", "application/*", "application/json+ld"):
            return offered[0]
    raise NotAcceptable(f"none of the accepted media types ({accept}) can be produced; "
                        f"available: {', '.join(offered)}")


def link_context(request: Request) -> str | None:
    """The @context URL from a Link header with the JSON-LD context relation, if any."""
    header = request.headers.get("link")
    if not header:
        return None
    for match in _LINK.finditer(header):
        params = match.group(2)
        if CONTEXT_REL in params:
            url = match.group(1).strip()
            if not url:
                raise BadRequestData("the Link header's @context URL is empty")
            return url
    return None


async def read_body(request: Request, limit: int) -> Any:
    """The parsed JSON body; oversize → 413, malformed → 400 InvalidRequest."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes")
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        raise InvalidRequest("the request body is empty")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
