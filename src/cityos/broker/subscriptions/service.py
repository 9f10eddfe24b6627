"""The Subscription service (ETSI GS CIM 009 V1.8.1 §5.8.1–§5.8.5): create, update,
retrieve, query and delete Subscriptions per tenant, keep the live index the matcher uses,
run the periodic-notification timer, and tell delivery whether any Subscription exists
(the change journal is only written while one does).

Several processes on one PostgreSQL share the Subscriptions through the store: each
change increments a generation counter in its own transaction, and a process whose index
was loaded at another generation reloads it — before every matching pass (so the process
matching the journal never matches a change committed after a Subscription it has not
loaded) and whenever another process announces a change (cityos.broker.subscriptions.
sharing).
"""

from __future__ import annotations

import asyncio
import contextlib
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
Announce = Callable[[], Awaitable[None]]
DocumentCheck = Callable[[dict[str, Any]], None]
OwnerProblem = Callable[[str, dict[str, Any]], "str | None"]


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
        self.announce: Announce | None = None  # tells other processes of a change
        self.reconcile_interval = 30.0  # seconds between generation checks (shared store)
        self._generation: int | None = None
        self._reload_lock = asyncio.Lock()
        self._reconciler: asyncio.Task[None] | None = None
        # Why a Subscription (tenant, document) may not notify because of its owner (a
        # revoked key, no read grant left); None: owners are not checked (security off).
        self.owner_problem: OwnerProblem | None = None

    # -- lifecycle ------------------------------------------------------------------------
    async def load(self) -> int:
        """Index every stored Subscription and start the timer; how many were loaded."""
        self._generation = await self._stored_generation()
        self._index_all(await self.store.all_subscriptions())
        self.periodic.start()
        self._presence_changed(force=True)
        if self._generation is not None:
            self._reconciler = asyncio.create_task(self._reconcile(),
                                                   name="subscription-reconcile")
        return len(self.index)

    async def close(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
            self._reconciler = None
        await self.periodic.close()

    def _index_all(self, records: list[SubscriptionRecord]) -> None:
        for record in records:
            try:
                self._index(record)
            except Exception:  # one unreadable record must not stop the broker
                log.exception("subscription %s could not be loaded", record.doc.get("id"))

    async def _stored_generation(self) -> int | None:
        """The shared store's subscription generation; None for a single-process store."""
        generation = getattr(self.store, "generation", None)
        return None if generation is None else int(await generation())

    async def refresh(self) -> bool:
        """Reload the index if another process changed a Subscription since it was
        loaded; whether it did. The generation is read before the Subscriptions, so a
        change committed in between only causes one more reload later."""
        async with self._reload_lock:
            generation = await self._stored_generation()
            if generation is None or generation == self._generation:
                return False
            records = await self.store.all_subscriptions()
            stored = {(r.tenant, str(r.doc["id"])) for r in records}
            for live in self.index.all():
                if live.key not in stored:
                    self.index.remove(live.key)
            self._index_all([r for r in records if self._differs(r)])
            self._generation = generation
            self._presence_changed()
            return True

    def _differs(self, record: SubscriptionRecord) -> bool:
        """Whether a stored record is new or changed (unchanged ones keep their timers)."""
        live = self.index.get((record.tenant, str(record.doc["id"])))
        return live is None or live.doc != record.doc or live.context != record.context

    async def _reconcile(self) -> None:
        """Safety net for lost announcements (and the way without a shared bus)."""
        while True:
            await asyncio.sleep(self.reconcile_interval)
            try:
                if await self.refresh():
                    log.info("subscriptions reloaded: changed by another process")
            except Exception:
                log.exception("could not check the stored subscriptions for changes")

    async def _changed(self) -> None:
        """This process changed a Subscription: note the generation it caused (ours) is
        known, and tell the other processes."""
        if self.announce is not None:
            try:
                await self.announce()
            except Exception:  # the periodic reconciliation still catches up
                log.exception("could not announce a subscription change")

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
        async with self._reload_lock:  # a reload running meanwhile must not drop it
            if not await self.store.insert_subscription(record):
                raise AlreadyExists(f"subscription {doc['id']} already exists")
            self._index(record)
        self._presence_changed()
        await self._changed()
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
        async with self._reload_lock:
            if not await self.store.replace_subscription(updated):
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            self._index(updated)
        await self._changed()

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
        async with self._reload_lock:
            if not await self.store.delete_subscription(tenant, subscription_id):
                raise ResourceNotFound(f"subscription {subscription_id} does not exist")
            self.index.remove((tenant, subscription_id))
        self._presence_changed()
        await self._changed()

    def exists(self, tenant: str, subscription_id: str) -> bool:
        """Whether the subscription exists (delivery drops what deleted ones left queued)."""
        return self.index.get((tenant, subscription_id)) is not None

    def delivers(self, tenant: str, subscription_id: str) -> bool:
        """Whether what the subscription left queued may still be sent: it exists and its
        owner may still read (checked before every send, retries included)."""
        live = self.index.get((tenant, subscription_id))
        return live is not None and self.delivery_problem(tenant, live.doc) is None

    def delivery_problem(self, tenant: str, doc: dict[str, Any]) -> str | None:
        """Why the subscription does not notify because of its owner, if it does not."""
        return None if self.owner_problem is None else self.owner_problem(tenant, doc)

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
