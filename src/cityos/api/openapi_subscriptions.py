"""The Subscription part of the OpenAPI document (ETSI GS CIM 009 V1.8.1 §6.10, §6.11,
data types §5.2.12, §5.2.14, §5.2.15)."""

from __future__ import annotations

from cityos.api.openapi import (
    API,
    ARRAY,
    BOOL,
    CREATED,
    DATETIME,
    INT,
    JSON,
    JSON_LD,
    MERGE_PATCH,
    NO_CONTENT,
    STR,
    STRINGS,
    URI,
    Schema,
    _any,
    _array,
    _errors,
    _obj,
    _ok,
    _op,
    _p,
    _s,
)

TAG = "Subscriptions"
TRIGGERS = ["entityCreated", "entityUpdated", "entityDeleted", "attributeCreated",
            "attributeUpdated", "attributeDeleted"]
COUNT_AND_LINKS = {"NGSILD-Results-Count": {"description": "Total (count=true).",
                                            "schema": INT},
                   "Link": {"description": "@context, and prev/next pages.", "schema": STR}}


def subscription_schemas() -> dict[str, Schema]:
    pairs = _array(_obj({"key": STR, "value": STR}, "key", "value"))
    endpoint = _obj({"uri": URI, "accept": {"enum": [JSON, JSON_LD, "application/geo+json"]},
                     "receiverInfo": pairs, "notifierInfo": pairs}, "uri",
                    description="Where to notify: http(s) or mqtt(s) URI (§5.2.15).")
    names = {**STRINGS, "minItems": 1}
    notification = _obj({
        "attributes": names, "pick": names, "omit": names,
        "format": {"enum": ["normalized", "keyValues", "simplified", "concise"]},
        "showChanges": BOOL, "sysAttrs": BOOL, "join": {"enum": ["flat", "inline"]},
        "joinLevel": {"type": "integer", "minimum": 1}, "endpoint": endpoint,
        "status": {"enum": ["ok", "failed"]}, "timesSent": INT, "timesFailed": INT,
        "consecutiveErrors": INT, "lastNotification": DATETIME, "lastSuccess": DATETIME,
        "lastFailure": DATETIME}, "endpoint", additionalProperties=True)
    selector = _obj({"id": URI, "idPattern": STR, "type": STR}, "type")
    geo_q = _obj({"geometry": STR, "georel": STR, "geoproperty": STR,
                  "coordinates": _any(ARRAY, STR)}, "geometry", "georel", "coordinates")
    members = {
        "id": URI, "type": {"const": "Subscription"}, "subscriptionName": STR,
        "description": STR, "entities": _array(selector, minItems=1),
        "watchedAttributes": names, "notificationTrigger": _array({"enum": TRIGGERS}),
        "timeInterval": {"type": "number", "exclusiveMinimum": 0}, "q": STR,
        "geoQ": geo_q, "scopeQ": STR, "csf": STR, "isActive": BOOL, "expiresAt": DATETIME,
        "throttling": {"type": "number", "exclusiveMinimum": 0}, "lang": STR,
        "datasetId": STRINGS, "notification": notification, "jsonldContext": URI,
        "@context": _s("LdContext")}
    return {
        "Subscription": _obj(members, "type", "notification", additionalProperties=True,
                             description="A Subscription (§5.2.12): entities or "
                                         "watchedAttributes are needed."),
        "SubscriptionFragment": _obj(members, additionalProperties=True,
                                     description="Members to replace; null removes one."),
        "SubscriptionOutput": _obj({**members, "status": {
            "enum": ["active", "paused", "expired"]}, "createdAt": DATETIME,
            "modifiedAt": DATETIME}, "id", "type", "notification", "status",
            additionalProperties=True),
    }


def subscription_paths() -> dict[str, Schema]:
    many = _ok("Subscriptions in creation order.", _array(_s("SubscriptionOutput")),
               headers=COUNT_AND_LINKS)
    one = _ok("The Subscription.", _s("SubscriptionOutput"))
    subscriptions, subscription = f"{API}/subscriptions", f"{API}/subscriptions/{{subscriptionId}}"
    return {
        subscriptions: {
            "post": _op(TAG, "Create subscription", _p("link"),
                        {**CREATED, **_errors("409", "413", "415")}, _s("Subscription"),
                        description="Endpoints the operator forbids (notification target "
                                    "policy) are refused with 400."),
            "get": _op(TAG, "Query subscriptions",
                       _p("limit", "offset", "count", "options", "link"),
                       {"200": many, **_errors("403", "406")}),
        },
        subscription: {
            "get": _op(TAG, "Retrieve subscription", _p("subscriptionId", "options", "link"),
                       {"200": one, **_errors("404", "406")}),
            "patch": _op(TAG, "Update subscription", _p("subscriptionId", "link"),
                         {**NO_CONTENT, **_errors("404", "413", "415")},
                         _s("SubscriptionFragment"), (JSON, JSON_LD, MERGE_PATCH)),
            "delete": _op(TAG, "Delete subscription", _p("subscriptionId"),
                          {**NO_CONTENT, **_errors("404")}),
        },
    }
