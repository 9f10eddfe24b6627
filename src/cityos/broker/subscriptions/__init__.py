"""NGSI-LD Subscriptions in the broker: the service (§5.8), the matcher feeding
notification delivery (§5.11), periodic notifications and delivery status."""

from cityos.broker.subscriptions.matcher import SubscriptionMatcher
from cityos.broker.subscriptions.service import SubscriptionService, target_checker
from cityos.broker.subscriptions.status import StoredDeliveryStatus

__all__ = ["StoredDeliveryStatus", "SubscriptionMatcher", "SubscriptionService",
           "target_checker"]
