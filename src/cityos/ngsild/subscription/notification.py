"""The Notification data type (ETSI GS CIM 009 V1.8.1 §5.2.14 Notification, §5.3.2
"Notification behaviour", §6.3.5 @context conveyance).

`notification_message` builds the serialized body and the headers of one notification:
for `application/json` the @context travels in a Link header, for `application/ld+json` in
the body (top level and in each entity, so each entity stands on its own), for
`application/geo+json` the data is a FeatureCollection.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityos.ngsild.geo import entities_to_feature_collection
from cityos.ngsild.subscription.ids import NotificationIds
from cityos.ngsild.types import JsonObject

NOTIFICATION_ID_PREFIX = "urn:ngsi-ld:Notification:"
NOTIFICATION_IDS = NotificationIds(NOTIFICATION_ID_PREFIX)
os.register_at_fork(after_in_child=NOTIFICATION_IDS.reseed)
JSON, JSON_LD, GEO_JSON = "application/json", "application/ld+json", "application/geo+json"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


@dataclass(frozen=True)
class NotificationMessage:
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]


def link_header(context_url: str) -> str:
    return f'<{context_url}>; rel="{CONTEXT_REL}"; type="application/ld+json"'


def notification_body(subscription_id: str, data: Any, notified_at: str) -> JsonObject:
    """A §5.2.14 Notification with a fresh identifier."""
    return {"id": NOTIFICATION_IDS.next(), "type": "Notification",
            "subscriptionId": subscription_id, "notifiedAt": notified_at, "data": data}


def notification_message(subscription_id: str, entities: Sequence[JsonObject],
                         notified_at: str, *, accept: str, context: Any, context_url: str,
                         tenant: str = "",
                         receiver_info: Sequence[tuple[str, str]] = ()
                         ) -> NotificationMessage:
    """Serialize one notification for an endpoint accepting `accept`. `context` is the
    Subscription's @context (URL, object or array), `context_url` a URL naming it."""
    headers: list[tuple[str, str]] = []
    data: Any = list(entities)
    if accept == JSON_LD:
        data = [{**entity, "@context": context} for entity in entities]
    elif accept == GEO_JSON:
        data = entities_to_feature_collection(list(entities), "location", context)
    body = notification_body(subscription_id, data, notified_at)
    if accept == JSON_LD:
        body["@context"] = context
    else:
        headers.append(("Link", link_header(context_url)))
    if tenant:
        headers.append(("NGSILD-Tenant", tenant))
    headers.extend(receiver_info)
    content_type = accept if accept in (JSON_LD, GEO_JSON) else JSON
    return NotificationMessage(content_type, orjson.dumps(body), tuple(headers))
