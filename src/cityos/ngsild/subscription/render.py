"""Rendering a stored Subscription for a client (ETSI GS CIM 009 V1.8.1 §5.2.12, §5.8.3).

Names are compacted with the requesting @context. Members the client did not set are not
invented (only `notificationTrigger`, whose default the spec fixes, and the output-only
status members are added). Delivery counters appear once something was sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from cityos.ngsild.model.names import parse_datetime
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.subscription.params import ENTITY_MEMBERS
from cityos.ngsild.subscription.types_json import type_to_text
from cityos.ngsild.types import JsonObject

PLAIN_MEMBERS = ("subscriptionName", "description", "notificationTrigger", "timeInterval",
                 "q", "scopeQ", "csf", "isActive", "expiresAt", "throttling", "lang",
                 "datasetId")

STATUS_REASON = "cityos:statusReason"  # why a Subscription is paused by the broker


@dataclass(frozen=True)
class DeliveryCounters:
    """§5.2.14 output-only members kept by the broker as notifications go out."""

    times_sent: int = 0
    times_failed: int = 0
    consecutive_errors: int = 0
    last_notification: str | None = None
    last_success: str | None = None
    last_failure: str | None = None
    last_status: str | None = None  # "ok" or "failed"


def subscription_status(doc: JsonObject, now: datetime) -> str:
    """§5.2.12 status: expired once expiresAt has passed, paused when isActive is false,
    else active."""
    expires = doc.get("expiresAt")
    if expires is not None and parse_datetime(expires, "expiresAt") <= now:
        return "expired"
    return "active" if doc.get("isActive", True) else "paused"


def render_subscription(doc: JsonObject, ctx: TermMapper, counters: DeliveryCounters,
                        now: datetime, *, sys_attrs: bool = False,
                        context_url: str | None = None,
                        held_back: str | None = None) -> JsonObject:
    """The §5.2.12 representation; `context_url` is the @context notifications use
    (jsonldContext when the client gave one). `held_back` says why an otherwise active
    Subscription does not notify (its owner's key was revoked, its grants no longer allow
    reading): it is then shown `paused`, with the reason in `cityos:statusReason`."""
    out: JsonObject = {"id": doc["id"], "type": doc["type"]}
    if "entities" in doc:
        out["entities"] = [_selector(s, ctx) for s in doc["entities"]]
    if "watchedAttributes" in doc:
        out["watchedAttributes"] = [ctx.compact_iri(a) for a in doc["watchedAttributes"]]
    for name in PLAIN_MEMBERS:
        if name in doc:
            out[name] = doc[name]
    if "geoQ" in doc:
        geo = dict(doc["geoQ"])
        if "geoproperty" in geo:
            geo["geoproperty"] = ctx.compact_iri(geo["geoproperty"])
        out["geoQ"] = geo
    out["notification"] = _notification(doc["notification"], ctx, counters)
    if doc.get("jsonldContext") or context_url:
        out["jsonldContext"] = doc.get("jsonldContext") or context_url
    out["status"] = subscription_status(doc, now)
    if held_back is not None and out["status"] == "active":
        out["status"] = "paused"
        out[STATUS_REASON] = held_back
    if sys_attrs:
        out["createdAt"] = doc["createdAt"]
        out["modifiedAt"] = doc["modifiedAt"]
    return out


def _selector(selector: JsonObject, ctx: TermMapper) -> JsonObject:
    out: JsonObject = {k: selector[k] for k in ("id", "idPattern") if k in selector}
    out["type"] = type_to_text(selector["type"], ctx.compact_iri)
    return out


def _names(names: list[str], ctx: TermMapper) -> list[str]:
    return [n if n in ENTITY_MEMBERS else ctx.compact_iri(n) for n in names]


def _notification(params: JsonObject, ctx: TermMapper, counters: DeliveryCounters) -> JsonObject:
    out: JsonObject = {}
    for name in ("attributes", "pick", "omit"):
        if name in params:
            out[name] = _names(params[name], ctx)
    for name in ("format", "showChanges", "sysAttrs", "join", "joinLevel"):
        if name in params:
            out[name] = params[name]
    out["endpoint"] = dict(params["endpoint"])
    if counters.times_sent:
        out["timesSent"] = counters.times_sent
        out["timesFailed"] = counters.times_failed
        out["consecutiveErrors"] = counters.consecutive_errors
    for member, value in (("status", counters.last_status),
                          ("lastNotification", counters.last_notification),
                          ("lastSuccess", counters.last_success),
                          ("lastFailure", counters.last_failure)):
        if value is not None:
            out[member] = value
    return out
