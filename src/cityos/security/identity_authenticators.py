"""The authenticators identity adds to the request pipeline (cityos.app
security_authenticators): operator session cookies, and Bearer JWTs of the built-in
provider and of the configured external issuers."""

from __future__ import annotations

from typing import Any

from cityos.ngsild.errors import Unauthenticated
from cityos.security.authentication import Authenticator, Scope, bearer_token
from cityos.security.identity import Identity
from cityos.security.oidc import tokens
from cityos.security.principal import Principal
from cityos.security.sessions import COOKIE, cookie_value, operator_principal


class SessionCookieAuthenticator:
    """An operator's browser session. A cookie that matches no live session is ignored
    (the browser sends it by itself; the login page must stay reachable), so the request
    is anonymous and pages redirect to the login."""

    credential_headers = (b"cookie",)

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def authenticate(self, scope: Scope) -> Principal | None:
        token = cookie_value(scope, COOKIE)
        if token is None:
            return None
        session = await self.identity.sessions.find(token)
        if session is None:
            return None
        operator = await self.identity.operators.get(session.username)
        if operator is None or operator.disabled:
            return None
        return operator_principal(operator.username, operator.roles,
                                  session.stage == "complete")


class BearerJwtAuthenticator:
    """`Authorization: Bearer <JWT>` from the built-in provider or an external issuer.
    Bearer values that are not JWTs are left to other authenticators (API keys)."""

    credential_headers = (b"authorization",)

    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    async def authenticate(self, scope: Scope) -> Principal | None:
        token = bearer_token(scope)
        if token is None or not tokens.looks_like_jwt(token):
            return None
        try:
            return await self._check(token)
        except Unauthenticated:
            self.identity.counters.inc("cityos_auth_failures_total",
                                       "Failed operator logins and token checks, by stage.",
                                       stage="bearer_token")
            raise

    async def _check(self, token: str) -> Principal:
        identity = self.identity
        issuer = tokens.unverified_issuer(token).rstrip("/")
        now = identity.clock.now()
        if issuer == identity.issuer:
            keys = await identity.keys.keyset(tokens.unverified_kid(token))
            claims = tokens.verify(token, keys, issuer=identity.issuer,
                                   audience=identity.audience, now=now)
            return await self._own_principal(claims)
        if identity.external.accepts(issuer):
            keys = await identity.external.keys_for(issuer, tokens.unverified_kid(token))
            claims = tokens.verify(token, keys, issuer=issuer, audience=identity.audience,
                                   now=now)
            return self._external_principal(issuer, claims)
        raise Unauthenticated(f"tokens of issuer {issuer!r} are not accepted here")

    async def _own_principal(self, claims: dict[str, Any]) -> Principal:
        subject, client_id = str(claims.get("sub")), claims.get("client_id")
        roles = frozenset(str(r) for r in claims.get("roles") or [])
        if isinstance(client_id, str) and subject == f"client:{client_id}":
            if await self.identity.clients.get(client_id) is None:
                raise Unauthenticated(f"client {client_id!r} no longer exists")
            return Principal(subject=subject, kind="client", roles=roles, client_id=client_id,
                             issuer=self.identity.issuer, display_name=client_id)
        return Principal(subject=f"{self.identity.issuer}#{subject}", kind="user",
                         roles=roles, mfa="otp" in (claims.get("amr") or []),
                         client_id=client_id if isinstance(client_id, str) else None,
                         issuer=self.identity.issuer, display_name=subject)

    def _external_principal(self, issuer: str, claims: dict[str, Any]) -> Principal:
        subject = str(claims.get("sub"))
        client_id = claims.get("client_id") or claims.get("clientId") or claims.get("azp")
        client_id = client_id if isinstance(client_id, str) else None
        service = client_id is not None and (
            subject == f"client:{client_id}"
            or str(claims.get("preferred_username", "")).startswith("service-account-"))
        amr = claims.get("amr") or []
        return Principal(subject=f"{issuer}#{subject}", kind="client" if service else "user",
                         roles=self.identity.role_mapping.roles(claims),
                         mfa=any(m in amr for m in ("otp", "mfa", "hwk", "sc")),
                         client_id=client_id, issuer=issuer,
                         display_name=str(claims.get("preferred_username") or subject))


def identity_authenticators(identity: Identity) -> list[Authenticator]:
    return [SessionCookieAuthenticator(identity), BearerJwtAuthenticator(identity)]
