"""What the subscription engine and notification delivery exchange.

Committed entity changes come out of the change journal as `ChangeRecord`s (in commit
order). The subscription matcher turns them into `OutgoingNotification`s; delivery persists
those in the outbox *before* the first attempt, sends them (HTTP or MQTT) with retries, and
reports each outcome back through `DeliveryStatus` so the subscription's status members
(timesSent, lastSuccess, lastFailure, consecutiveErrors, status) stay true
(ETSI GS CIM 009 §5.2.12, §5.8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cityos.ngsild.types import JsonObject


@dataclass(frozen=True)
class ChangeRecord:
    """One committed entity change, in internal form; `before` is None for a creation,
    `after` is None for a deletion. `seq` grows with commit order."""

    seq: int
    tenant: str
    entity_id: str
    before: JsonObject | None
    after: JsonObject | None
    committed_at: str  # ISO 8601 UTC, "Z"


@dataclass(frozen=True)
class Endpoint:
    """§5.2.15 Endpoint: where and how to notify."""

    uri: str  # http://, https://, mqtt://, mqtts://
    accept: str = "application/json"  # or application/ld+json
    receiver_info: tuple[tuple[str, str], ...] = ()  # extra headers / MQTT user properties
    notifier_info: tuple[tuple[str, str], ...] = ()  # e.g. MQTT-QoS, MQTT-Version


@dataclass(frozen=True)
class OutgoingNotification:
    """One notification ready to send: the body is the complete serialized §5.2.14
    Notification (JSON or JSON-LD per endpoint.accept), headers are the HTTP headers
    beyond Content-Type (Link for an application/json body, NGSILD-Tenant, receiverInfo).
    Notifications with the same (subscription_id, ordering_key) are delivered in order."""

    tenant: str
    subscription_id: str
    endpoint: Endpoint
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...] = ()
    ordering_key: str = ""  # the entity id; "" for notifications about no single entity


class NotificationMatcher(Protocol):
    async def match(self, changes: Sequence[ChangeRecord]) -> list[OutgoingNotification]:
        """The notifications these changes cause, in change order."""
        ...


class Outbox(Protocol):
    async def enqueue(self, notifications: Sequence[OutgoingNotification]) -> None:
        """Persist, then deliver as soon as possible (periodic and on-demand sends)."""
        ...


@dataclass(frozen=True)
class DeliveryOutcome:
    """One attempt's outcome: `failure` is None when the endpoint accepted it, otherwise
    why not. `at` is when it was decided (ISO 8601 UTC, "Z")."""

    tenant: str
    subscription_id: str
    at: str
    failure: str | None = None


class DeliveryStatus(Protocol):
    async def record(self, outcomes: Sequence[DeliveryOutcome]) -> None:
        """Count these outcomes, given in the order they happened (a batch may hold many
        of one subscription: counting them together is what keeps this cheap)."""
        ...
