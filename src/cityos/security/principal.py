"""Who is calling: the principal an authenticated request carries.

Authentication (sessions, OIDC tokens, API keys, device credentials) turns a request into
a `Principal` and stores it in the ASGI scope under `PRINCIPAL_KEY`; everything after
(authorization, audit, apps) reads it with `principal_of`. A request nobody authenticated
is `ANONYMOUS`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

PRINCIPAL_KEY = "cityos.principal"

PrincipalKind = Literal["anonymous", "operator", "user", "client", "device", "developer"]


@dataclass(frozen=True)
class Principal:
    """subject: a stable unique id of the caller ("operator:alice", "client:shelter-app");
    roles: what policies grant by; tenants: the tenants it may act in (None = any the
    policies allow); mfa: whether a second factor was completed in this session."""

    subject: str
    kind: PrincipalKind
    roles: frozenset[str] = field(default_factory=frozenset)
    tenants: frozenset[str] | None = None
    mfa: bool = False
    client_id: str | None = None
    issuer: str | None = None
    display_name: str | None = None

    def __hash__(self) -> int:
        # Authorizers are cached by principal on every request: hash the fields once.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.subject, self.kind, self.roles, self.tenants, self.mfa,
                           self.client_id, self.issuer, self.display_name))
            object.__setattr__(self, "_hash", cached)
        return cached

    @property
    def is_anonymous(self) -> bool:
        return self.kind == "anonymous"

    def has_role(self, role: str) -> bool:
        return role in self.roles


ANONYMOUS = Principal(subject="anonymous", kind="anonymous")

# `cityos serve --dev`: every caller may do everything (local development, conformance runs).
DEVELOPER = Principal(subject="developer", kind="developer", roles=frozenset({"admin"}),
                      mfa=True, display_name="development mode")


def principal_of(scope: Mapping[str, Any]) -> Principal:
    principal = scope.get(PRINCIPAL_KEY)
    return principal if isinstance(principal, Principal) else ANONYMOUS


def may_administer(principal: Principal) -> bool:
    """Admin endpoints: an operator with the admin role who completed the second factor in
    this session, or development mode. Nothing else (API keys and service tokens included)
    reaches them."""
    if principal.kind == "developer":
        return True
    return principal.kind == "operator" and principal.mfa and principal.has_role("admin")
