"""Turning rendered entities into an OutgoingNotification for one Subscription
(ETSI GS CIM 009 V1.8.1 §5.2.14, §5.3.2, §6.3.5)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.linked import flat_views, linked_entities
from cityos.broker.notification import OutgoingNotification
from cityos.broker.subscriptions.index import LiveSubscription
from cityos.ngsild.context import CompiledContext, compile_context
from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.model.render import render_entity
from cityos.ngsild.subscription import notification_message
from cityos.ngsild.subscription.payload import linked_view
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityStore

log = logging.getLogger(__name__)


async def compiled_context(live: LiveSubscription, resolver: ContextResolver) -> CompiledContext:
    """The Subscription's @context, compiled once. If it cannot be resolved any more (a
    remote @context gone after a restart), the Core @context stands in rather than
    losing the notification."""
    if live.compiled is None:
        try:
            live.compiled = await resolver.resolve(live.context, live.tenant)
        except NgsiLdError as error:
            log.warning("subscription %s: @context unavailable (%s); notifying with the "
                        "core @context", live.doc["id"], error.detail)
            return compile_context(None)
    return live.compiled


async def linked_for(live: LiveSubscription, store: EntityStore,
                     entity: JsonObject) -> dict[str, JsonObject]:
    """§4.5.23 join in notifications: the entities linked from `entity`, if asked for."""
    if live.view.opts.join is None:
        return {}
    return await linked_entities(store, live.tenant, [entity], live.view.opts.join_level)


def flat_linked(live: LiveSubscription, entity: JsonObject | None,
                linked: dict[str, JsonObject], ctx: CompiledContext) -> list[JsonObject]:
    """With join=flat, the linked entities follow the notified one in `data`: those
    reached through the Relationships the notification shows, each whole (none for a
    deleted entity)."""
    if live.view.opts.join != "flat" or entity is None:
        return []
    views = flat_views([entity], linked, live.view.opts)
    opts = replace(linked_view(live.view.opts), join=None)
    return [render_entity(linked[i], ctx, opts) for i in views]


def outgoing(live: LiveSubscription, entities: Sequence[JsonObject], notified_at: str,
             ordering_key: str = "") -> OutgoingNotification:
    """One serialized Notification for the Subscription's endpoint."""
    endpoint = live.endpoint
    message = notification_message(
        live.doc["id"], entities, notified_at, accept=endpoint.accept, context=live.context,
        context_url=live.context_url, tenant=live.tenant,
        # §7.3: over MQTT, receiverInfo travels in the message's metadata like a header.
        receiver_info=endpoint.receiver_info)
    return OutgoingNotification(
        tenant=live.tenant, subscription_id=live.doc["id"], endpoint=endpoint,
        content_type=message.content_type, body=message.body, headers=message.headers,
        ordering_key=ordering_key)

