"""Rendering NGSI-LD payloads into HTTP responses with the right @context (§6.3.5)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

import orjson
from starlette.responses import Response

from cityos.api.ldcontext import RequestContext
from cityos.api.negotiation import CONTEXT_REL, GEO_JSON, JSON, JSON_LD
from cityos.ngsild.errors import NgsiLdError

_LINK_TEMPLATE = '<{}>; rel="' + CONTEXT_REL + '"; type="application/ld+json"'


def link_header(url: str) -> str:
    return _LINK_TEMPLATE.format(url)


# Characters kept literally in a pagination link's query values; `,` `;` `&` `+` `=` and
# the rest are percent-encoded so that the Link header stays unambiguous.
_LINK_SAFE = ":/*@!$'()?|"


def page_links(path: str, params: Iterable[tuple[str, str]], *, offset: int, limit: int,
               more: bool, media: str) -> list[str]:
    """§5.5.9 / §4.12 pagination: Link values for the previous and next page, the
    request's other parameters kept (sorted by name), `limit` and `offset` set."""
    if limit <= 0:
        return []
    kept = sorted(((k, v) for k, v in params if k not in ("limit", "offset")),
                  key=lambda item: item[0])

    def link(page_offset: int, rel: str) -> str:
        items = sorted([*kept, ("limit", str(limit)), ("offset", str(page_offset))],
                       key=lambda item: item[0])
        query = "&".join(f"{quote(k, safe=_LINK_SAFE)}={quote(v, safe=_LINK_SAFE)}"
                         for k, v in items)
        return f'<{path}?{query}>; rel="{rel}"; type="{media}"'

    links = []
    if offset > 0:
        links.append(link(max(0, offset - limit), "prev"))
    if more:
        links.append(link(offset + limit, "next"))
    return links


def with_context(payload: Any, media: str, ctx: RequestContext) -> Any:
    """JSON-LD responses carry @context in the body (each item of an array)."""
    if media != JSON_LD:
        return payload
    if isinstance(payload, list):
        return [{**item, "@context": ctx.reference} for item in payload]
    return {**payload, "@context": ctx.reference}


def ngsi_response(payload: Any, media: str, ctx: RequestContext, *, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    all_headers = dict(headers or {})
    if media in (JSON, GEO_JSON):
        extra = all_headers.get("Link")
        all_headers["Link"] = link_header(ctx.link_url) + (f", {extra}" if extra else "")
    body = orjson.dumps(with_context(payload, media, ctx))
    return Response(body, status_code=status, media_type=media, headers=all_headers)


def empty(status: int = 204, headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=status, headers=headers)


def json_response(payload: Any, status: int = 200,
                  headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON,
                    headers=headers)


def batch_result_payload(success: list[str], errors: list[tuple[str, NgsiLdError]]) -> Any:
    """§5.2.16 BatchOperationResult with §5.2.17 BatchEntityError entries."""
    return {"success": success,
            "errors": [{"entityId": entity_id, "error": error.problem()}
                       for entity_id, error in errors]}
