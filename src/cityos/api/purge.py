"""Purge entities, DELETE /entities (ETSI GS CIM 009 V1.9 §5.6.21, §6.4.3.3).

Deletes every entity matching the query, or with `drop` / `keep` only some of their
attributes. A purge must be narrowed by a qualifying filter (§5.6.21.4): a type, an
attribute list or a q naming at least one non-system attribute, a geo-query, or local=true.
"""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response

from cityos.api.ldcontext import context_for_read
from cityos.api.negotiation import reject_unknown_parameters
from cityos.api.params import entity_query, is_narrowed
from cityos.api.responses import empty
from cityos.api.state import api_state, tenant_of
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.query import parse_attribute_list

PAGE = 1000
# §6.4.3.3 (V1.9): the query parameters of DELETE /entities; join/joinLevel are listed to
# answer them with a clear error rather than as unknown.
PURGE_PARAMETERS = frozenset({
    "id", "type", "idPattern", "attrs", "q", "csf", "scopeQ", "georel", "geometry",
    "coordinates", "geoproperty", "local", "keep", "drop", "join", "joinLevel",
})


async def purge_entities(request: Request) -> Response:
    params = request.query_params
    reject_unknown_parameters(request, PURGE_PARAMETERS)
    ctx = await context_for_read(request)
    if "keep" in params and "drop" in params:
        raise BadRequestData("keep and drop cannot be used together")
    if "join" in params or "joinLevel" in params or "{" in params.get("attrs", ""):
        raise BadRequestData("a purge cannot use linked entities")
    attrs = None
    if "attrs" in params:
        attrs = frozenset(s.name for s in parse_attribute_list(params["attrs"],
                                                               ctx.compiled.expand_term))
    query = entity_query(params, ctx.compiled, attrs, require_filter=False)
    if not is_narrowed(query, params.get("local") == "true", scope_counts=False):
        raise BadRequestData("a purge needs a type, attrs, q over a non-system attribute, a "
                             "geo-query or local=true; it would otherwise empty the tenant")
    keep = drop = None
    if "keep" in params:
        keep = frozenset(s.name for s in parse_attribute_list(params["keep"],
                                                              ctx.compiled.expand_term))
    if "drop" in params:
        drop = frozenset(s.name for s in parse_attribute_list(params["drop"],
                                                              ctx.compiled.expand_term))
    service = api_state(request).entities
    tenant = tenant_of(request)
    ids: list[str] = []
    page_query = dataclasses.replace(query, limit=PAGE, offset=0, count=False)
    while True:
        page = await service.query(tenant, page_query)
        ids.extend(e["id"] for e in page.entities)
        if len(page.entities) < PAGE:
            break
        page_query = dataclasses.replace(page_query, offset=page_query.offset + PAGE)
    for start in range(0, len(ids), PAGE):
        await service.purge(tenant, ids[start:start + PAGE], keep=keep, drop=drop)
    return empty()
