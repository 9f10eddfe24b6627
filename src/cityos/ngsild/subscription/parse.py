"""Parsing and validating a Subscription (ETSI GS CIM 009 V1.8.1 §5.2.12, §5.8.1, §5.8.2).

A Subscription is held in one stored form independent of any @context, like entities:
attribute and type names are expanded IRIs, type expressions are trees (see types_json),
q is kept as written together with the IRIs its names expanded to (`qTerms`), so it can be
parsed again without the @context. Status members (§5.2.12 "output only") are never taken
from a client. Every invalid member is a BadRequestData (HTTP 400).
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import unquote

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.geo import parse_geo_query_object
from cityos.ngsild.model.names import is_uri, parse_datetime, require_datetime
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.query import parse_q, parse_scope_q, parse_type_expression
from cityos.ngsild.subscription.params import (
    attribute_list,
    bad,
    parse_notification,
    require_bool,
    require_text,
)
from cityos.ngsild.subscription.types_json import type_to_json
from cityos.ngsild.types import JsonObject

SUBSCRIPTION_TYPE = "Subscription"
TRIGGERS = ("entityCreated", "entityUpdated", "entityDeleted",
            "attributeCreated", "attributeUpdated", "attributeDeleted")
# §5.2.12: without notificationTrigger, Attribute creations and updates notify.
DEFAULT_TRIGGERS = ["attributeCreated", "attributeUpdated"]
ID_PREFIX = "urn:ngsi-ld:Subscription:"
# Members a PATCH may change (§5.8.2); id and type are fixed.
UPDATABLE = frozenset({
    "subscriptionName", "description", "entities", "watchedAttributes", "notificationTrigger",
    "timeInterval", "q", "geoQ", "scopeQ", "csf", "isActive", "expiresAt", "throttling",
    "lang", "datasetId", "notification", "jsonldContext"})


def new_subscription_id() -> str:
    return ID_PREFIX + str(uuid.uuid4())


def parse_subscription(body: Any, ctx: TermMapper, now: datetime) -> JsonObject:
    """§5.8.1 Create Subscription: the stored form of a request body (its @context already
    resolved to `ctx`). An absent id is generated; createdAt/modifiedAt are set by the
    service."""
    if not isinstance(body, dict) or not body:
        raise bad("a Subscription must be a non-empty JSON object")
    if body.get("type") != SUBSCRIPTION_TYPE:
        raise bad("a Subscription must have type 'Subscription'")
    if "id" in body:
        if not is_uri(body["id"]):
            raise bad(f"the subscription id must be an absolute URI, got {body['id']!r}")
        sub_id = body["id"]
    else:
        sub_id = new_subscription_id()
    doc: JsonObject = {"id": sub_id, "type": SUBSCRIPTION_TYPE}
    members = {k: v for k, v in body.items() if k in UPDATABLE and v is not None}
    if "notification" not in members:
        raise bad("a Subscription needs a notification member")
    doc.update(parse_members(members, ctx, now))
    doc.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    check_whole(doc)
    return doc


def parse_update(fragment: Any, ctx: TermMapper, now: datetime) -> JsonObject:
    """§5.8.2 Update Subscription: the fragment's members in stored form; a member whose
    value is null maps to None (it is removed)."""
    if not isinstance(fragment, dict):
        raise bad("a Subscription fragment must be a JSON object")
    if "type" in fragment and fragment["type"] != SUBSCRIPTION_TYPE:
        raise bad("a Subscription fragment's type must be 'Subscription'")
    members = {k: v for k, v in fragment.items() if k in UPDATABLE}
    parsed: JsonObject = {k: None for k, v in members.items() if v is None}
    if "q" in parsed:
        parsed["qTerms"] = None
    parsed.update(parse_members({k: v for k, v in members.items() if v is not None}, ctx, now))
    return parsed


def apply_update(doc: JsonObject, changes: JsonObject, modified_at: str) -> JsonObject:
    """The Subscription after an update: each member of the fragment replaces the stored
    one (null removes it), then the whole is checked again (§5.8.2)."""
    updated = {k: v for k, v in doc.items() if k not in changes}
    updated.update({k: v for k, v in changes.items() if v is not None})
    if "notification" not in updated:
        raise bad("notification is mandatory and cannot be removed")
    updated.setdefault("notificationTrigger", list(DEFAULT_TRIGGERS))
    updated["modifiedAt"] = modified_at
    check_whole(updated)
    return updated


def check_whole(doc: JsonObject) -> None:
    """§5.2.12 rules between members."""
    if "entities" not in doc and "watchedAttributes" not in doc:
        raise bad("a Subscription needs entities or watchedAttributes")
    if "timeInterval" in doc:
        if "watchedAttributes" in doc:
            raise bad("timeInterval and watchedAttributes cannot be used together")
        if "throttling" in doc:
            raise bad("timeInterval and throttling cannot be used together")


_PARSERS: dict[str, Callable[[Any, TermMapper, datetime], Any]] = {}


def _member(name: str) -> Callable[[Callable[[Any, TermMapper, datetime], Any]],
                                   Callable[[Any, TermMapper, datetime], Any]]:
    def register(fn: Callable[[Any, TermMapper, datetime], Any]
                 ) -> Callable[[Any, TermMapper, datetime], Any]:
        _PARSERS[name] = fn
        return fn
    return register


def parse_members(members: JsonObject, ctx: TermMapper, now: datetime) -> JsonObject:
    out: JsonObject = {}
    for name, value in members.items():
        parsed = _PARSERS[name](value, ctx, now)
        if isinstance(parsed, dict) and name == "q":
            out.update(parsed)
        else:
            out[name] = parsed
    return out


@_member("subscriptionName")
def _name(value: Any, ctx: TermMapper, now: datetime) -> str:
    return require_text(value, "subscriptionName")


@_member("description")
def _description(value: Any, ctx: TermMapper, now: datetime) -> str:
    return require_text(value, "description")


@_member("entities")
def _entities(value: Any, ctx: TermMapper, now: datetime) -> list[JsonObject]:
    """§5.2.33 EntitySelector: type (a clause 4.17 type expression) with id or idPattern."""
    if not isinstance(value, list) or not value:
        raise bad("entities must be a non-empty array of EntitySelectors")
    return [_selector(item, ctx) for item in value]


def _selector(item: Any, ctx: TermMapper) -> JsonObject:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise bad("each EntitySelector must be an object with a type")
    selector: JsonObject = {}
    if item.get("id") is not None:
        if not is_uri(item["id"]):
            raise bad(f"EntitySelector id must be an absolute URI, got {item['id']!r}")
        selector["id"] = item["id"]
    if item.get("idPattern") is not None:
        pattern = item["idPattern"]
        if not isinstance(pattern, str) or len(pattern) > 1024:
            raise bad("EntitySelector idPattern must be a regular expression")
        try:
            re.compile(pattern)
        except re.error as exc:
            raise bad(f"EntitySelector idPattern is not a valid regular expression: {exc}"
                      ) from None
        selector["idPattern"] = pattern
    try:
        selector["type"] = type_to_json(parse_type_expression(item["type"], ctx.expand_term))
    except NgsiLdError as exc:
        raise bad(f"invalid EntitySelector type: {exc.detail}") from None
    return selector


@_member("watchedAttributes")
def _watched(value: Any, ctx: TermMapper, now: datetime) -> list[str]:
    return attribute_list(value, "watchedAttributes", ctx.expand_term)


@_member("notificationTrigger")
def _triggers(value: Any, ctx: TermMapper, now: datetime) -> list[str]:
    if not isinstance(value, list) or not value or any(t not in TRIGGERS for t in value):
        raise bad("notificationTrigger must be a non-empty array of "
                  + ", ".join(TRIGGERS))
    return list(dict.fromkeys(value))


def _positive_number(value: Any, what: str) -> float | int:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        raise bad(f"{what} must be a number of seconds greater than 0")
    return value


@_member("timeInterval")
def _time_interval(value: Any, ctx: TermMapper, now: datetime) -> float | int:
    return _positive_number(value, "timeInterval")


@_member("throttling")
def _throttling(value: Any, ctx: TermMapper, now: datetime) -> float | int:
    return _positive_number(value, "throttling")


_PERCENT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


def decoded_q(text: str) -> str:
    """A q written as it would appear in a URL (`name=="Eiffel%20Tower"`, as clients copy
    it from a query string) means what it means there: percent escapes are decoded, as
    for the `q` parameter of a query. A `%` not followed by two hex digits stays."""
    return unquote(text) if _PERCENT_ESCAPE.search(text) else text


@_member("q")
def _q(value: Any, ctx: TermMapper, now: datetime) -> JsonObject:
    """Clause 4.9 q; the names it uses are recorded with their IRIs (`qTerms`). Percent
    escapes are decoded first (`decoded_q`)."""
    text = decoded_q(require_text(value, "q"))
    terms: dict[str, str] = {}

    def expand(term: str) -> str:
        terms[term] = ctx.expand_term(term)
        return terms[term]

    try:
        parse_q(text, expand)
    except NgsiLdError as exc:
        raise bad(f"invalid q: {exc.detail}") from None
    return {"q": text, "qTerms": terms}


@_member("csf")
def _csf(value: Any, ctx: TermMapper, now: datetime) -> str:
    """Context source filter: validated (clause 4.9 syntax) and kept; it only matters for
    distributed operations, which this broker does not perform."""
    text = require_text(value, "csf")
    try:
        parse_q(text, ctx.expand_term)
    except NgsiLdError as exc:
        raise bad(f"invalid csf: {exc.detail}") from None
    return text


@_member("geoQ")
def _geo_q(value: Any, ctx: TermMapper, now: datetime) -> JsonObject:
    """§5.2.13 GeoQuery; geoproperty stored expanded."""
    query = parse_geo_query_object(value, ctx.expand_term)
    geo = query.to_geoq()
    if isinstance(value, dict) and value.get("geoproperty"):
        geo["geoproperty"] = query.geoproperty_iri
    return geo


@_member("scopeQ")
def _scope_q(value: Any, ctx: TermMapper, now: datetime) -> str:
    text = require_text(value, "scopeQ")
    try:
        parse_scope_q(text)
    except NgsiLdError as exc:
        raise bad(f"invalid scopeQ: {exc.detail}") from None
    return text


@_member("isActive")
def _is_active(value: Any, ctx: TermMapper, now: datetime) -> bool:
    return require_bool(value, "isActive")


@_member("expiresAt")
def _expires_at(value: Any, ctx: TermMapper, now: datetime) -> str:
    """§5.8.1 / §5.8.2: expiresAt is a DateTime in the future."""
    text = require_datetime(value, "expiresAt")
    if parse_datetime(text, "expiresAt") <= now:
        raise bad(f"expiresAt {text} is not in the future")
    return text


@_member("lang")
def _lang(value: Any, ctx: TermMapper, now: datetime) -> str:
    return require_text(value, "lang")


@_member("datasetId")
def _dataset_id(value: Any, ctx: TermMapper, now: datetime) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value \
            or any(v != "@none" and not is_uri(v) for v in value):
        raise bad("datasetId must be a URI or a non-empty array of URIs")
    return list(dict.fromkeys(value))


@_member("notification")
def _notification(value: Any, ctx: TermMapper, now: datetime) -> JsonObject:
    return parse_notification(value, ctx)


@_member("jsonldContext")
def _jsonld_context(value: Any, ctx: TermMapper, now: datetime) -> str:
    """§5.2.12 jsonldContext: the URL of the @context notifications are compacted with
    (it is resolved by the broker before the Subscription is accepted)."""
    if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
        raise bad(f"jsonldContext must be an http(s) URL of a JSON-LD @context, got {value!r}")
    return value
