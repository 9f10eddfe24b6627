"""Access control as the running platform holds it: the grants in force (stored ones,
those of the policy file, anonymous read of the public types), API keys, and the one call
every handler and app uses to learn what its caller may do: `authorizer_for(scope)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tomllib
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from cityos.ngsild.errors import BadRequestData, ResourceNotFound
from cityos.security.apikeys import ApiKeys
from cityos.security.operators import Operator, OperatorDirectory
from cityos.security.personal import PersonalAttributes
from cityos.security.policy import Authorizer, Grant, public_read_grants
from cityos.security.principal import Principal, principal_of
from cityos.storage.grants import SecurityStore

log = logging.getLogger("cityos.security")
AUTHORIZER_CACHE = 4096
REFRESH_SECONDS = 10.0  # grants changed by another process or the CLI apply within this
_AUTHZ_KEY = "cityos.authorizer"


def file_grants(path: str) -> list[Grant]:
    """Grants of a TOML policy file: `[[grant]]` tables with the JSON members (audience,
    operations, tenant, entityType, idPattern, attributes)."""
    if not path:
        return []
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"policy file {path}: {error}") from None
    entries = doc.get("grant", [])
    if not isinstance(entries, list):
        raise ValueError(f"policy file {path}: `grant` must be an array of tables")
    grants = []
    for number, entry in enumerate(entries, 1):
        try:
            grants.append(Grant.from_json({"id": f"file-{number}", **entry}))
        except BadRequestData as error:
            raise ValueError(f"policy file {path}, grant {number}: {error.detail}") from None
    return grants


class AccessControl:
    """The platform's grants and API keys. `dev` (development mode) lets the developer
    principal do everything without consulting grants."""

    def __init__(self, store: SecurityStore, *, personal: PersonalAttributes,
                 public_types: str = "", policy_file: str = "", dev: bool = False) -> None:
        self.store = store
        self.keys = ApiKeys(store)
        self.personal = personal
        self.dev = dev
        self._fixed = [*public_read_grants(public_types), *file_grants(policy_file)]
        self._stored: list[Grant] = []
        self.grants: tuple[Grant, ...] = tuple(self._fixed)
        self._refresher: asyncio.Task[None] | None = None
        self._authorizers: dict[tuple[Principal, str], Authorizer] = {}
        # Set by the wiring: operators as last listed, for the owners of Subscriptions.
        self.operators: OperatorDirectory | None = None
        self._operators: dict[str, Operator] = {}

    async def load(self) -> None:
        self._stored = [Grant.from_json(doc) for doc in await self.store.list_policies()]
        grants = (*self._fixed, *self._stored)
        if grants != self.grants:  # the periodic reload mostly finds nothing new
            self.grants = grants
            self._authorizers = {}
        await self.keys.refresh_standing()
        if self.operators is not None:
            self._operators = {o.username: o for o in await self.operators.all()}

    def start(self, interval: float = REFRESH_SECONDS) -> None:
        """Reload the stored grants and the keys' standing every `interval` seconds (other
        processes, the CLI)."""
        async def refresh() -> None:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.load()
                except Exception:
                    log.exception("could not reload the authorization grants")
        self._refresher = asyncio.create_task(refresh())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher

    # -- policies -------------------------------------------------------------------------
    async def grant(self, doc: Mapping[str, Any]) -> Grant:
        grant = Grant.from_json({k: v for k, v in doc.items() if k != "id"})
        await self.store.put_policy(grant.to_json())
        await self.load()
        return grant

    async def revoke(self, grant_id: str) -> None:
        if not await self.store.delete_policy(grant_id):
            raise ResourceNotFound(f"no stored grant {grant_id}")
        await self.load()

    def listing(self) -> list[dict[str, Any]]:
        """Every grant in force; `source` says where it comes from."""
        stored = {g.id for g in self._stored}
        return [{**g.to_json(), "source": "stored" if g.id in stored else (
            "public-types" if g.id.startswith("public-") else "policy-file")}
            for g in self.grants]

    # -- decisions ------------------------------------------------------------------------
    def authorizer(self, principal: Principal, tenant: str) -> Authorizer:
        """What `principal` may do in `tenant` under the grants in force (kept until the
        grants change: callers repeat)."""
        cache_key = (principal, tenant)
        found = self._authorizers.get(cache_key)
        if found is None:
            if len(self._authorizers) >= AUTHORIZER_CACHE:
                self._authorizers = {}
            found = Authorizer(principal, tenant, self.grants, self.personal,
                               unrestricted=principal.kind == "developer")
            self._authorizers[cache_key] = found
        return found

    def owner_now(self, owner: Principal) -> Principal | str:
        """The recorded owner of a Subscription as it stands now: an operator with the
        roles it holds today; or why it may not act any more (its API key was revoked or
        expired, the operator was disabled). Standing is as last reloaded (every
        REFRESH_SECONDS); an operator not listed yet keeps its recorded roles."""
        problem = self.keys.standing(owner.subject)
        if problem is not None:
            return problem
        if owner.kind != "operator":
            return owner
        username = owner.subject.removeprefix("operator:")
        operator = self._operators.get(username)
        if operator is None:
            return owner
        if operator.disabled:
            return f"the owner operator {username} is disabled"
        roles = frozenset(operator.roles)
        return owner if roles == owner.roles else replace(owner, roles=roles)

    def owner_problem(self, owner: Principal, tenant: str) -> str | None:
        """Why a Subscription owned by `owner` in `tenant` may not notify any more: its API
        key was revoked or expired, the operator was disabled, or it holds no read grant
        there (None: it may)."""
        now = self.owner_now(owner)
        if isinstance(now, str):
            return now
        if owner.tenants is not None and tenant not in owner.tenants:
            return f"the owner {owner.subject} may not act in tenant {tenant!r}"
        authz = self.authorizer(now, tenant)
        if not authz.unrestricted and not authz.grants("read"):
            return (f"the owner {owner.subject} holds no read grant in tenant {tenant!r} "
                    "any more")
        return None


def authorizer_for(scope: MutableMapping[str, Any], tenant: str) -> Authorizer:
    """What the caller of this request may do in `tenant` (computed once per request and
    tenant). Apps call it with `request.scope` and check `may(...)`, `readable(...)`,
    `check_write(...)` before acting for the caller."""
    cached = scope.get(_AUTHZ_KEY)
    if isinstance(cached, Authorizer) and cached.tenant == tenant:
        return cached
    access = scope["app"].state.access
    authorizer: Authorizer = access.authorizer(principal_of(scope), tenant)
    scope[_AUTHZ_KEY] = authorizer
    return authorizer


def owner_rights(access: AccessControl) -> Callable[[Any], Authorizer | None]:
    """For notifications: what a Subscription's recorded owner may read now (None when no
    owner was recorded or the owner is unrestricted). An owner whose key was revoked or
    expired may read nothing: its Subscriptions fall silent."""
    def rights(live: Any) -> Authorizer | None:
        owner: Principal | None = live.owner  # parsed once per Subscription, not per change
        if owner is None:
            return None
        now = access.owner_now(owner)
        if isinstance(now, str):
            return Authorizer(owner, live.tenant, (), access.personal)  # denies everything
        authz = access.authorizer(now, live.tenant)
        return None if authz.unrestricted else authz
    return rights


def owner_problem(access: AccessControl) -> Callable[[str, dict[str, Any]], str | None]:
    """For delivery and status: why the Subscription (tenant, document) may not notify
    any more because of its owner (None: it may, or no owner was recorded)."""
    from cityos.broker.subscriptions.caller import owner_principal

    def problem(tenant: str, doc: dict[str, Any]) -> str | None:
        owner = owner_principal(doc)
        return None if owner is None else access.owner_problem(owner, tenant)
    return problem
