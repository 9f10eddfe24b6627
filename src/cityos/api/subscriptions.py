"""HTTP handlers for /subscriptions (ETSI GS CIM 009 V1.8.1 §6.10, §6.11). Thin: parse,
call the subscription service, render with the request's @context."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from cityos.api import negotiation as media
from cityos.api.ldcontext import RequestContext, context_for_body, context_for_read
from cityos.api.params import DEFAULT_LIMIT, MAX_LIMIT, options_of
from cityos.api.responses import empty, ngsi_response, page_links
from cityos.api.state import api_state, tenant_of
from cityos.broker.subscriptions import SubscriptionService
from cityos.broker.subscriptions.caller import CallerSubscriptions
from cityos.ngsild.errors import BadRequestData, TooManyResults
from cityos.ngsild.subscription import DeliveryCounters, render_subscription
from cityos.ngsild.types import JsonObject
from cityos.storage.base import SubscriptionRecord

SUBSCRIPTION_PATH = "/ngsi-ld/v1/subscriptions/"
READ_TYPES = (media.JSON, media.JSON_LD)
PATCH_TYPES = (media.JSON, media.JSON_LD, media.MERGE_PATCH)
# §6.10.3.2 / §6.11.3.1: the query parameters each resource takes; others → 400.
QUERY_PARAMETERS = frozenset({"limit", "offset", "count", "options"})
RETRIEVE_PARAMETERS = frozenset({"options"})
_VERSION_PREFERENCE = re.compile(r"1\.\d+(?:\.\d+)?")


def _service(request: Request) -> SubscriptionService | CallerSubscriptions:
    service = api_state(request).subscriptions
    assert service is not None, "the subscription service is not assembled"
    return service


def _counters(record: SubscriptionRecord) -> DeliveryCounters:
    return DeliveryCounters(
        times_sent=record.times_sent, times_failed=record.times_failed,
        consecutive_errors=record.consecutive_errors,
        last_notification=record.last_notification, last_success=record.last_success,
        last_failure=record.last_failure, last_status=record.last_status)


def _render(request: Request, record: SubscriptionRecord, ctx: RequestContext) -> JsonObject:
    sys_attrs = "sysAttrs" in options_of(request.query_params)
    service = _service(request)
    return render_subscription(record.doc, ctx.compiled, _counters(record), datetime.now(UTC),
                               sys_attrs=sys_attrs, context_url=service.context_url(record),
                               held_back=service.delivery_problem(record.tenant, record.doc))


async def _body(request: Request, allowed: tuple[str, ...]) -> tuple[object, RequestContext]:
    media.require_content_type(request, allowed)
    body = await media.read_body(request, api_state(request).max_body_bytes)
    ctx = await context_for_body(request, body)
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "@context"}
    return body, ctx


async def create_subscription(request: Request) -> Response:
    """§6.10.3.1 POST /subscriptions → 201 with Location."""
    media.reject_unknown_parameters(request, frozenset())
    body, ctx = await _body(request, READ_TYPES)
    subscription_id = await _service(request).create(tenant_of(request), body, ctx.compiled,
                                                     ctx.reference)
    return empty(201, {"Location": SUBSCRIPTION_PATH + quote(subscription_id, safe=":")})


def _paging(request: Request) -> tuple[int, int, bool]:
    params = request.query_params
    values = []
    for name, default in (("limit", DEFAULT_LIMIT), ("offset", 0)):
        raw = params.get(name, str(default))
        if not re.fullmatch(r"\d{1,9}", raw):
            raise BadRequestData(f"{name} must be a non-negative integer, got {raw[:40]!r}")
        values.append(int(raw))
    limit, offset = values
    count = params.get("count", "false")
    if count not in ("true", "false"):
        raise BadRequestData("count must be true or false")
    if limit > MAX_LIMIT:
        raise TooManyResults(f"limit must not exceed {MAX_LIMIT}")
    if limit == 0 and count != "true":
        raise BadRequestData("limit=0 is only allowed together with count=true")
    return limit, offset, count == "true"


async def query_subscriptions(request: Request) -> Response:
    """§6.10.3.2 GET /subscriptions, paged (§5.5.9)."""
    media.reject_unknown_parameters(request, QUERY_PARAMETERS)
    accept = media.choose_response_type(request, READ_TYPES)
    limit, offset, count = _paging(request)
    ctx = await context_for_read(request)
    records, total = await _service(request).query(tenant_of(request), limit, offset)
    headers = {"NGSILD-Results-Count": str(total)} if count else {}
    links = page_links(request.url.path.rstrip("/"), request.query_params.multi_items(),
                       offset=offset, limit=limit, more=offset + len(records) < total,
                       media=accept)
    if links:
        headers["Link"] = ", ".join(links)
    payload = [_render(request, r, ctx) for r in records]
    return ngsi_response(payload, accept, ctx, headers=headers)


def _preference_applied(request: Request) -> dict[str, str]:
    """RFC 7240 `Prefer: ngsi-ld=<version>` (GS CIM 009 §6.3.x version negotiation): a
    Subscription reads the same in every 1.x version, so such a preference is applied."""
    for preference in request.headers.get("prefer", "").split(","):
        name, _, value = preference.split(";")[0].partition("=")
        version = value.strip().strip('"')
        if name.strip().lower() == "ngsi-ld" and _VERSION_PREFERENCE.fullmatch(version):
            return {"Preference-Applied": f"ngsi-ld={version}"}
    return {}


async def retrieve_subscription(request: Request) -> Response:
    """§6.11.3.1 GET /subscriptions/{subscriptionId}."""
    media.reject_unknown_parameters(request, RETRIEVE_PARAMETERS)
    accept = media.choose_response_type(request, READ_TYPES)
    ctx = await context_for_read(request)
    record = await _service(request).retrieve(tenant_of(request),
                                              request.path_params["subscription_id"])
    return ngsi_response(_render(request, record, ctx), accept, ctx,
                         headers=_preference_applied(request))


async def update_subscription(request: Request) -> Response:
    """§6.11.3.2 PATCH /subscriptions/{subscriptionId} → 204."""
    media.reject_unknown_parameters(request, frozenset())
    subscription_id = request.path_params["subscription_id"]
    body, ctx = await _body(request, PATCH_TYPES)
    if isinstance(body, dict) and "id" in body and body["id"] != subscription_id:
        raise BadRequestData("the subscription id in the body differs from the one in the URL")
    await _service(request).update(tenant_of(request), subscription_id, body, ctx.compiled,
                                   ctx.reference)
    return empty()


async def delete_subscription(request: Request) -> Response:
    """§6.11.3.3 DELETE /subscriptions/{subscriptionId} → 204."""
    media.reject_unknown_parameters(request, frozenset())
    await _service(request).delete(tenant_of(request), request.path_params["subscription_id"])
    return empty()


routes = [
    Route("/subscriptions", create_subscription, methods=["POST"]),
    Route("/subscriptions", query_subscriptions, methods=["GET"]),
    Route("/subscriptions/{subscription_id:path}", retrieve_subscription, methods=["GET"]),
    Route("/subscriptions/{subscription_id:path}", update_subscription, methods=["PATCH"]),
    Route("/subscriptions/{subscription_id:path}", delete_subscription, methods=["DELETE"]),
]
