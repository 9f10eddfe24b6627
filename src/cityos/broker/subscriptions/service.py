"""The Subscription service (ETSI GS CIM 009 V1.8.1 §5.8.1–§5.8.5): create, update,
retrieve, query and delete Subscriptions per tenant, keep the live index the matcher uses,
run the periodic-notification timer, and tell delivery whether any Subscription exists
(the change journal is only written while one does).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.subscriptions.caller import OWNER, CallerSubscriptions
from cityos.broker.subscriptions.index import LiveSubscription, SubscriptionIndex
from cityos.broker.subscriptions.matcher import OwnerRights, SubscriptionMatcher
from cityos.broker.subscriptions.periodic import PeriodicNotifier
from cityos.broker.subscriptions.status import StoredDeliveryStatus
from cityos.ngsild.context import CORE_CONTEXT_URL, is_core_context_url
from cityos.ngsild.errors import AlreadyExists, ResourceNotFound
from cityos.ngsild.model.names import format_timestamp, require_uri
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.subscription import apply_update, parse_subscription, parse_update
from cityos.security.policy import Authorizer
from cityos.storage.base import EntityStore, SubscriptionRecord, SubscriptionStore

log = logging.getLogger(__name__)
TargetCheck = Callable[[str], Awaitable[None]]
PresenceHook = Callable[[bool], None]
DocumentCheck = Callable[[dict[str, Any]], None]


class SubscriptionService:
    """Subscriptions of every tenant; `matcher`, `status` and `periodic.outbox` are what
    notification delivery plugs into."""

    def __init__(self, store: SubscriptionStore, resolver: ContextResolver,
                 entities: EntityStore, *, check_target: TargetCheck | None = None,
                 on_presence_changed: PresenceHook | None = None,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.store = store
        self.resolver = resolver
        self.index = SubscriptionIndex()
        self.matcher = SubscriptionMatcher(self.index, resolver, entities, clock=clock)
        self.periodic = PeriodicNotifier(self.index, resolver, entities, clock=clock)
        self.status = StoredDeliveryStatus(store)
        self.check_target = check_target
        self.on_presence_changed = on_presence_changed
        self._clock = clock
        self._present: bool | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def load(self) -> int:
        """Index every stored Subscription and start the timer; how many were loaded."""
        for record in await self.store.all_subscriptions():
            try:
                self._index(record)
            except Exception:  # one unreadable record must not stop the broker
                log.exception("subscription %s could not be loaded", record.doc.get("id"))
        self.periodic.start()
        self._presence_changed(force=True)
        return len(self.index)

    async def close(self) -> None:
        await self.periodic.close()

    def _index(self, record: SubscriptionRecord) -> LiveSubscription:
        live = LiveSubscription(record.tenant, record.doc, record.context,
                                self._context_url(record.context, record.tenant))
        self.index.put(live)
        self.periodic.schedule(live)
        return live

    def _presence_changed(self, force: bool = False) -> None:
        present = len(self.index) > 0
        if (force or present != self._present) and self.on_presence_changed is not None:
            self.on_presence_changed(present)
        self._present = present

    # -- operations -----------------------------------------------------------------------
    @property
    def owner_rights(self) -> OwnerRights | None:
        return self.matcher.owner_rights

    @owner_rights.setter
    def owner_rights(self, rights: OwnerRights | None) -> None:
        """What a Subscription's owner may read: notifications carry no more."""
        self.matcher.owner_rights = rights
        self.periodic.owner_rights = rights

    def for_caller(self, authz: Authorizer) -> SubscriptionService | CallerSubscriptions:
        return self if authz.unrestricted else CallerSubscriptions(self, authz)

    async def create(self, tenant: str, body: Any, ctx: TermMapper, reference: Any,
                     owner: dict[str, Any] | None = None,
                     check: DocumentCheck | None = None) -> str:
        """§5.8.1 Create Subscription; returns its id. `ctx` is the request's compiled
        @context and `reference` the @context itself (URL, object or array); `owner` the
        caller creating it (caller.owner_of); `check` may refuse the parsed document."""
        now = self._clock()
        doc = parse_subscription(body, ctx, now)
        doc.pop(OWNER, None)
        if owner is not None:
            doc[OWNER] = owner
        stamp = format_timestamp(now)
        doc["createdAt"] = doc["modifiedAt"] = stamp
        context = await self._notification_context(doc, reference, tenant)
        await self._check_endpoint(doc)
        if check is not None:
            check(doc)
        record = SubscriptionRecord(tenant, doc, context)
        if not await self.store.insert_subscription(record):
            raise AlreadyExists(f"subscription {doc['id']} already exists")
        self._index(record)
        self._presence_changed()
        return str(doc["id"])

    async def update(self, tenant: str, subscription_id: str, fragment: Any,
                     ctx: TermMapper, reference: Any,
                     check: DocumentCheck | None = None) -> None:
        """§5.8.2 Update Subscription: members of the fragment replace the stored ones."""
        record = await self._require(tenant, subscription_id)
        now = self._clock()
        changes = parse_update(fragment, ctx, now)
        doc = apply_update(record.doc, changes, format_timestamp(now))
        doc.pop(OWNER, None)
        if OWNER in record.doc:
            doc[OWNER] = record.doc[OWNER]
        context = record.context
        if "jsonldContext" in changes:
            context = await self._notification_context(doc, reference, tenant)
        if "notification" in changes:
            await self._check_endpoint(doc)
        if check is not None:
            check(doc)
        updated = SubscriptionRecord(tenant, doc, context)
        if not await self.store.replace_subscription(updated):
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        self._index(updated)

    async def retrieve(self, tenant: str, subscription_id: str) -> SubscriptionRecord:
        """§5.8.3 Retrieve Subscription."""
        return await self._require(tenant, subscription_id)

    async def query(self, tenant: str, limit: int,
                    offset: int) -> tuple[list[SubscriptionRecord], int]:
        """§5.8.4 Query Subscriptions: one page in creation order and the total."""
        return await self.store.query_subscriptions(tenant, limit, offset)

    async def delete(self, tenant: str, subscription_id: str) -> None:
        """§5.8.5 Delete Subscription."""
        require_uri(subscription_id, "the subscription id")
        if not await self.store.delete_subscription(tenant, subscription_id):
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        self.index.remove((tenant, subscription_id))
        self._presence_changed()

    def exists(self, tenant: str, subscription_id: str) -> bool:
        """Whether the subscription exists (delivery drops what deleted ones left queued)."""
        return self.index.get((tenant, subscription_id)) is not None

    def context_url(self, record: SubscriptionRecord) -> str:
        return self._context_url(record.context, record.tenant)

    # -- helpers --------------------------------------------------------------------------
    async def _require(self, tenant: str, subscription_id: str) -> SubscriptionRecord:
        require_uri(subscription_id, "the subscription id")
        record = await self.store.get_subscription(tenant, subscription_id)
        if record is None:
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        return record

    async def _notification_context(self, doc: dict[str, Any], reference: Any,
                                    tenant: str) -> Any:
        """§5.2.12 jsonldContext, else the creating request's @context: resolved now, so a
        Subscription is never accepted with an @context notifications cannot use."""
        if "jsonldContext" in doc:
            await self.resolver.resolve(doc["jsonldContext"], tenant)
            return doc["jsonldContext"]
        return reference

    async def _check_endpoint(self, doc: dict[str, Any]) -> None:
        """Refuse endpoints the operator's notification target policy forbids (SSRF)."""
        if self.check_target is not None:
            await self.check_target(doc["notification"]["endpoint"]["uri"])

    def _context_url(self, context: Any, tenant: str) -> str:
        """A URL naming the Subscription's @context (for Link headers): the single
        non-core URL of a reference, else the broker-hosted copy of an inline one."""
        if context is None:
            return CORE_CONTEXT_URL
        if isinstance(context, str):
            return context
        if isinstance(context, list):
            urls = [c for c in context if isinstance(c, str) and not is_core_context_url(c)]
            if len(urls) == 1 and all(isinstance(c, str) for c in context):
                return urls[0]
            if not urls and all(isinstance(c, str) for c in context):
                return CORE_CONTEXT_URL
        return self.resolver.context_url(context, tenant) or CORE_CONTEXT_URL


def target_checker(policy: Any) -> TargetCheck:
    """Adapt the delivery side's blocking `validate_notification_target` (it resolves
    host names) to the event loop."""
    from cityos.broker.delivery.targets import validate_notification_target

    async def check(uri: str) -> None:
        await asyncio.to_thread(validate_notification_target, uri, policy)

    return check
