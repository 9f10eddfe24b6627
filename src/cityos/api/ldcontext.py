"""The @context of a request and of its response (ETSI GS CIM 009 §6.3.5, §5.5.7)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from cityos.api.negotiation import JSON_LD, content_type, link_context
from cityos.api.state import tenant_of
from cityos.broker.context_resolver import ContextResolver
from cityos.ngsild.context import CORE_CONTEXT_URL, CompiledContext, compile_context
from cityos.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError


@dataclass(frozen=True)
class RequestContext:
    """The compiled context to expand/compact with, and the reference to echo back."""

    compiled: CompiledContext
    reference: Any  # a URL string, an inline object, or an array of both
    link_url: str  # what the Link header of an application/json response points at


_CORE_ONLY = RequestContext(compile_context(None), CORE_CONTEXT_URL, CORE_CONTEXT_URL)


def _resolver(request: Request) -> ContextResolver:
    resolver: ContextResolver = request.app.state.resolver
    return resolver


async def _resolve(request: Request, reference: Any) -> RequestContext:
    """Resolve under the request's Tenant; relative @context URLs are resolved against the
    request URL as seen from this broker's public root (JSON-LD 1.1 API §4.1.2)."""
    resolver = _resolver(request)
    if reference is None:  # the common case: no Link header, the core context only
        return _CORE_ONLY
    tenant = tenant_of(request)
    reference = resolver.absolutize(reference, resolver.base_url + request.scope["path"])
    compiled = await resolver.resolve(reference, tenant)
    link = resolver.context_url(reference, tenant) or CORE_CONTEXT_URL
    return RequestContext(compiled, reference or CORE_CONTEXT_URL, link)


async def context_for_read(request: Request) -> RequestContext:
    """GET and DELETE requests: the Link header's context, else the core context."""
    return await _resolve(request, link_context(request))


async def context_for_body(request: Request, body: Any) -> RequestContext:
    """Requests with a body: JSON takes the Link header; JSON-LD must carry @context."""
    media = content_type(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    in_body = "@context" in body
    if media == JSON_LD:
        if link_context(request) is not None:
            raise BadRequestData("a JSON-LD request must not also carry a Link @context header")
        if not in_body:
            raise BadRequestData("a JSON-LD request body must contain @context")
        return await _resolve(request, body["@context"])
    if in_body:
        raise BadRequestData("@context in a JSON body is not allowed; "
                             "use Content-Type application/ld+json or a Link header")
    return await context_for_read(request)


async def context_for_items(request: Request,
                            items: list[Any]) -> list[RequestContext | NgsiLdError]:
    """Batch bodies (§6.3.5): with JSON-LD each entity carries its own @context, with JSON
    none may. A wrong or unavailable @context is an error of that entry only, reported in
    the batch result."""
    json_ld = content_type(request) == JSON_LD
    if json_ld and link_context(request) is not None:
        raise BadRequestData("a JSON-LD request must not also carry a Link @context header")
    shared = None if json_ld else await context_for_read(request)
    contexts: list[RequestContext | NgsiLdError] = []
    for item in items:
        has_context = isinstance(item, dict) and "@context" in item
        if shared is not None:
            contexts.append(BadRequestData("@context is not allowed in a JSON body; use "
                                           "application/ld+json") if has_context else shared)
        elif not has_context:
            contexts.append(BadRequestData("every entity of a JSON-LD batch must "
                                           "contain @context"))
        else:
            try:
                contexts.append(await _resolve(request, item["@context"]))
            except NgsiLdError as error:
                contexts.append(error)
    return contexts
