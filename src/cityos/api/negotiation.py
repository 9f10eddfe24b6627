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


def _accept_ranges(accept: str) -> list[tuple[str, float]]:
    """The media ranges of an Accept header with their weights (RFC 9110 §12.5.1).

    A weight that is not a number is not one of the processing rules, so the range keeps
    the default weight 1."""
    ranges: list[tuple[str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(1.0, max(0.0, float(value.strip())))
                except ValueError:
                    quality = 1.0
        ranges.append((media.lower(), quality))
    return ranges


def _weight(offer: str, ranges: list[tuple[str, float]]) -> float:
    """The weight of one offered media type: the most specific matching range decides
    (RFC 9110 §12.5.1) — an exact type beats `type/*`, which beats `*/*`."""
    major = offer.split("/")[0]
    best: tuple[int, float] | None = None
    for media, quality in ranges:
        if media == offer:
            specificity = 2
        elif media == major + "/*":
            specificity = 1
        elif media == "*/*":
            specificity = 0
        else:
            continue
        if best is None or specificity > best[0]:
            best = (specificity, quality)
        elif specificity == best[0]:
            best = (specificity, max(quality, best[1]))
    return best[1] if best is not None else 0.0


def choose_response_type(request: Request, offered: tuple[str, ...] = (JSON, JSON_LD)) -> str:
    """§6.3.4: pick the response media type from Accept; else 406 NotAcceptable.

    Weights decide (RFC 9110); between equal weights the order of §6.3.4 — JSON, then
    JSON-LD, then GeoJSON, as in `offered` — wins. No Accept header means JSON."""
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return offered[0]
    ranges = _accept_ranges(accept)
    best_media, best_weight = "", 0.0
    for media in offered:
        weight = _weight(media, ranges)
        if weight > best_weight:
            best_media, best_weight = media, weight
    if best_weight <= 0:
        raise NotAcceptable(f"none of the accepted media types ({accept[:200]}) can be "
                            f"produced; available: {', '.join(offered)}")
    return best_media


def prefers_json_body(request: Request) -> bool:
    """§6.3.6: `Prefer: body=json` asks for a GeoJSON body without an embedded @context;
    the Link header conveys it instead."""
    for preference in request.headers.get("prefer", "").split(","):
        name, _, value = preference.split(";")[0].partition("=")
        if name.strip().lower() == "body" and value.strip().strip('"').lower() == "json":
            return True
    return False


def reject_unknown_parameters(request: Request, allowed: frozenset[str]) -> None:
    """Each resource defines its query parameters (the §6.x.3.1 tables); any other one is
    rejected with InvalidRequest instead of being silently ignored (§6.3.20 in GS CIM 009
    V1.9+ makes this explicit)."""
    unknown = sorted(set(request.query_params.keys()) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown query parameter(s) on {request.url.path}: "
                             f"{', '.join(repr(u) for u in unknown)}"[:300])


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
