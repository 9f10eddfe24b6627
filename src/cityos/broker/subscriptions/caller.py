"""Subscriptions as one caller may use them: creating needs a `subscribe` grant and records
the caller as the owner; a caller sees, changes and deletes only the Subscriptions it owns
(development mode: all). Notifications carry only what the owner may read at send time
(see SubscriptionMatcher.owner_rights)."""

from __future__ import annotations

from typing import Any

from cityos.ngsild.errors import ResourceNotFound
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.subscription.plan import compile_plan
from cityos.security.policy import Authorizer
from cityos.security.principal import Principal
from cityos.security.scoping import attribute_paths
from cityos.storage.base import SubscriptionRecord

OWNER = "cityos:owner"  # member of the stored document; never rendered
_ALL = 1_000_000


def owner_of(principal: Principal) -> dict[str, Any]:
    return {"subject": principal.subject, "kind": principal.kind,
            "roles": sorted(principal.roles),
            "tenants": None if principal.tenants is None else sorted(principal.tenants)}


def owner_principal(doc: dict[str, Any]) -> Principal | None:
    """The owner recorded in a Subscription document (None: created before owners were
    recorded)."""
    owner = doc.get(OWNER)
    if not isinstance(owner, dict):
        return None
    tenants = owner.get("tenants")
    return Principal(subject=str(owner["subject"]), kind=owner.get("kind", "client"),
                     roles=frozenset(owner.get("roles", ())),
                     tenants=None if tenants is None else frozenset(tenants))


class CallerSubscriptions:
    def __init__(self, service: Any, authz: Authorizer) -> None:
        self.service = service
        self.authz = authz

    def _mine(self, record: SubscriptionRecord) -> bool:
        owner = record.doc.get(OWNER)
        return isinstance(owner, dict) and owner.get("subject") == self.authz.principal.subject

    def _check(self, doc: dict[str, Any]) -> None:
        """A Subscription may not filter on, or watch, attributes its owner may not read:
        its notifications would reveal their values or changes."""
        plan = compile_plan(doc)
        looked_at = attribute_paths(plan.q) | set(plan.watched or ())
        for attribute in sorted(looked_at):
            if not self.authz.filterable(attribute):
                raise self.authz.denied("read", f"attribute {attribute}")

    async def create(self, tenant: str, body: Any, ctx: TermMapper, reference: Any) -> str:
        self.authz.require_any("subscribe")
        subscription_id: str = await self.service.create(
            tenant, body, ctx, reference, owner=owner_of(self.authz.principal),
            check=self._check)
        return subscription_id

    async def retrieve(self, tenant: str, subscription_id: str) -> SubscriptionRecord:
        self.authz.require_any("subscribe")
        record: SubscriptionRecord = await self.service.retrieve(tenant, subscription_id)
        if not self._mine(record):
            raise ResourceNotFound(f"subscription {subscription_id} does not exist")
        return record

    async def update(self, tenant: str, subscription_id: str, fragment: Any,
                     ctx: TermMapper, reference: Any) -> None:
        await self.retrieve(tenant, subscription_id)
        await self.service.update(tenant, subscription_id, fragment, ctx, reference,
                                  check=self._check)

    async def delete(self, tenant: str, subscription_id: str) -> None:
        await self.retrieve(tenant, subscription_id)
        await self.service.delete(tenant, subscription_id)

    async def query(self, tenant: str, limit: int,
                    offset: int) -> tuple[list[SubscriptionRecord], int]:
        self.authz.require_any("subscribe")
        records, _ = await self.service.query(tenant, _ALL, 0)
        mine = [r for r in records if self._mine(r)]
        return mine[offset:offset + limit], len(mine)

    def delivery_problem(self, tenant: str, doc: dict[str, Any]) -> str | None:
        problem: str | None = self.service.delivery_problem(tenant, doc)
        return problem

    def context_url(self, record: SubscriptionRecord) -> str:
        url: str = self.service.context_url(record)
        return url
