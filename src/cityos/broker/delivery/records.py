"""Conversions between the contract's types and their stored form."""

from __future__ import annotations

from cityos.broker.notification import ChangeRecord, Endpoint, OutgoingNotification
from cityos.ngsild.types import JsonObject
from cityos.storage.delivery import JournalEntry, NotificationRecord, OutboxEntry


def change_record(entry: JournalEntry) -> ChangeRecord:
    return ChangeRecord(entry.seq, entry.tenant, entry.entity_id, entry.before, entry.after,
                        entry.committed_at)


def endpoint_json(endpoint: Endpoint) -> JsonObject:
    return {"uri": endpoint.uri, "accept": endpoint.accept,
            "receiverInfo": [list(pair) for pair in endpoint.receiver_info],
            "notifierInfo": [list(pair) for pair in endpoint.notifier_info]}


def endpoint_from_json(doc: JsonObject) -> Endpoint:
    return Endpoint(uri=doc["uri"], accept=doc.get("accept", "application/json"),
                    receiver_info=tuple((k, v) for k, v in doc.get("receiverInfo", ())),
                    notifier_info=tuple((k, v) for k, v in doc.get("notifierInfo", ())))


def stored(notification: OutgoingNotification) -> NotificationRecord:
    return NotificationRecord(
        tenant=notification.tenant, subscription_id=notification.subscription_id,
        ordering_key=notification.ordering_key, endpoint=endpoint_json(notification.endpoint),
        content_type=notification.content_type, body=notification.body,
        headers=tuple(notification.headers))


def outgoing(entry: OutboxEntry) -> OutgoingNotification:
    r = entry.record
    return OutgoingNotification(tenant=r.tenant, subscription_id=r.subscription_id,
                                endpoint=endpoint_from_json(r.endpoint),
                                content_type=r.content_type, body=r.body, headers=r.headers,
                                ordering_key=r.ordering_key)
