"""Sending one notification: the send-time target check, then HTTP or MQTT by scheme."""

from __future__ import annotations

from typing import Protocol

from cityos.broker.delivery.targets import TargetGuard
from cityos.broker.notification import OutgoingNotification
from cityos.ngsild.errors import BadRequestData


class DeliveryFailed(Exception):
    """An attempt failed. `unreachable` is True when the endpoint itself could not be
    reached (connection refused, timeout, broker down), which holds back every
    notification for that endpoint; an error answer concerns this notification only."""

    def __init__(self, reason: str, *, unreachable: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.unreachable = unreachable


class Sender(Protocol):
    async def send(self, notification: OutgoingNotification) -> None:
        """Deliver, or raise DeliveryFailed."""
        ...

    async def aclose(self) -> None: ...


class SenderRouter:
    """Checks the destination against the target policy (DNS may have changed since the
    subscription was created), then hands the notification to the sender of its scheme."""

    def __init__(self, guard: TargetGuard, http: Sender, mqtt: Sender) -> None:
        self._guard = guard
        self._by_scheme = {"http": http, "https": http, "mqtt": mqtt, "mqtts": mqtt}
        self._senders = (http, mqtt)

    async def send(self, notification: OutgoingNotification) -> None:
        uri = notification.endpoint.uri
        try:
            await self._guard.check(uri)
        except BadRequestData as refused:
            raise DeliveryFailed(refused.detail) from None
        sender = self._by_scheme.get(uri.split(":", 1)[0].lower())
        if sender is None:
            raise DeliveryFailed(f"no sender for {uri!r}")
        await sender.send(notification)

    async def aclose(self) -> None:
        for sender in self._senders:
            await sender.aclose()


def endpoint_origin(uri: str) -> str:
    """What notifications share a connection limit and an outage: scheme, host and port
    (user information dropped, paths ignored)."""
    scheme, _, rest = uri.partition("://")
    authority = rest.split("/", 1)[0].split("?", 1)[0].rsplit("@", 1)[-1]
    return f"{scheme.lower()}://{authority.lower()}"
