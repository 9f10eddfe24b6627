"""Security events (failed-login bursts, audit verification failures, bad device
signatures…): logged, counted on /metrics and raised as NGSI-LD `Alert` entities (Smart Data
Models Alert: category, subCategory, severity, description, dateIssued, alertSource) in
the admin tenant, where operators and subscriptions see them."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from cityos.broker.entities import EntityService
from cityos.metrics import Counters
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity

log = logging.getLogger("cityos.security")
ADMIN_TENANT = "cityos-admin"
ALERT_TYPE = "Alert"
Severity = Literal["informational", "low", "medium", "high", "critical"]


@dataclass(frozen=True)
class SecurityEvent:
    """sub_category names what happened ("deviceSignatureInvalid", "loginFailureBurst",
    "auditVerificationFailed"…); source is the component that saw it; subject the caller
    or device involved, if known."""

    sub_category: str
    severity: Severity
    description: str
    source: str
    subject: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def alert_body(event: SecurityEvent, issued: datetime) -> dict[str, Any]:
    stamp = issued.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:Alert:security:{uuid.uuid4()}",
        "type": ALERT_TYPE,
        "category": {"type": "Property", "value": "security"},
        "subCategory": {"type": "Property", "value": event.sub_category},
        "severity": {"type": "Property", "value": event.severity},
        "description": {"type": "Property", "value": event.description},
        "dateIssued": {"type": "Property", "value": {"@type": "DateTime", "@value": stamp}},
        "alertSource": {"type": "Property", "value": event.source},
    }
    if event.subject is not None:
        body["subject"] = {"type": "Property", "value": event.subject}
    if event.details:
        body["data"] = {"type": "JsonProperty", "json": event.details}
    return body


class SecurityEvents:
    """Where every part of the platform reports a security event."""

    def __init__(self, entities: EntityService, counters: Counters) -> None:
        self._entities = entities
        self._counters = counters

    async def raise_event(self, event: SecurityEvent) -> str:
        """Log, count and store the event as an Alert; returns the Alert's id. Storing
        never raises: a failure to store is logged and counted, the event still is."""
        log.warning("security event %s (%s) from %s: %s", event.sub_category, event.severity,
                    event.source, event.description)
        self._counters.inc("cityos_security_events_total", "Security events raised.",
                           sub_category=event.sub_category, severity=event.severity)
        body = alert_body(event, datetime.now(UTC))
        try:
            await self._entities.create(ADMIN_TENANT, parse_entity(body, core_context()))
        except Exception:
            log.exception("could not store security event %s as an Alert", body["id"])
            self._counters.inc("cityos_security_event_store_failures_total",
                               "Security events that could not be stored as Alerts.")
        return str(body["id"])
