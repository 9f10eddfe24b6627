"""Delivery outcomes → the Subscription's status members (ETSI GS CIM 009 V1.8.1 §5.2.14:
timesSent, lastNotification, lastSuccess, lastFailure, status; consecutiveErrors and
timesFailed count failures)."""

from __future__ import annotations

import logging

from cityos.storage.base import SubscriptionStore

log = logging.getLogger(__name__)


class StoredDeliveryStatus:
    """`DeliveryStatus` that counts each outcome in the Subscription store (one small
    UPDATE; the Subscription document is not rewritten)."""

    def __init__(self, store: SubscriptionStore) -> None:
        self._store = store

    async def delivered(self, tenant: str, subscription_id: str, at: str) -> None:
        await self._store.record_delivery(tenant, subscription_id, at, ok=True)

    async def failed(self, tenant: str, subscription_id: str, at: str, reason: str) -> None:
        log.info("notification for subscription %s failed: %s", subscription_id, reason)
        await self._store.record_delivery(tenant, subscription_id, at, ok=False)
