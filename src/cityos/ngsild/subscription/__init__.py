"""NGSI-LD Subscriptions (ETSI GS CIM 009 V1.8.1 §5.2.12, §5.8, §5.11): parsing into a
context-free stored form, rendering, matching plans, change summaries and Notification
payloads. Pure code: no I/O."""

from cityos.ngsild.subscription.diff import ChangeSummary, fired, summarize
from cityos.ngsild.subscription.notification import NotificationMessage, notification_message
from cityos.ngsild.subscription.parse import (
    DEFAULT_TRIGGERS,
    TRIGGERS,
    apply_update,
    new_subscription_id,
    parse_subscription,
    parse_update,
)
from cityos.ngsild.subscription.payload import (
    NULL_URI,
    NotificationView,
    notification_view,
    notified_entity,
)
from cityos.ngsild.subscription.plan import MatchPlan, SelectorPlan, compile_plan
from cityos.ngsild.subscription.render import (
    DeliveryCounters,
    render_subscription,
    subscription_status,
)

__all__ = [
    "DEFAULT_TRIGGERS",
    "NULL_URI",
    "TRIGGERS",
    "ChangeSummary",
    "DeliveryCounters",
    "MatchPlan",
    "NotificationMessage",
    "NotificationView",
    "SelectorPlan",
    "apply_update",
    "compile_plan",
    "fired",
    "new_subscription_id",
    "notification_message",
    "notification_view",
    "notified_entity",
    "parse_subscription",
    "parse_update",
    "render_subscription",
    "subscription_status",
    "summarize",
]
