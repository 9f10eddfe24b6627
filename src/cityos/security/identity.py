"""Identity: operators, their login sessions and second factor, the built-in OpenID
Connect provider and the external issuers it trusts, assembled from the settings on the
platform's security records (storage.security)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cityos.config import Settings
from cityos.metrics import Counters
from cityos.security.clock import Clock
from cityos.security.events import SecurityEvents
from cityos.security.lockout import Lockout, LockoutPolicy
from cityos.security.oidc import tokens
from cityos.security.oidc.clients import OidcClients
from cityos.security.oidc.external import ExternalIssuers
from cityos.security.oidc.keys import SigningKeys
from cityos.security.operators import OperatorDirectory
from cityos.security.secret_box import SecretBox, default_key_file, load_or_create_key
from cityos.security.sessions import SessionPolicy, Sessions
from cityos.security.totp import SecondFactor
from cityos.storage.security import SecurityRecords


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


@dataclass(frozen=True)
class RoleMapping:
    """How roles of external tokens become local roles (oidc_role_claim, oidc_role_map)."""

    claim: str
    mapping: dict[str, str]

    @classmethod
    def from_settings(cls, settings: Settings) -> RoleMapping:
        pairs = [p.split("=", 1) for p in _csv(settings.oidc_role_map) if "=" in p]
        return cls(settings.oidc_role_claim, {k.strip(): v.strip() for k, v in pairs})

    def roles(self, claims: dict[str, Any]) -> frozenset[str]:
        value: Any = claims
        for step in self.claim.split("."):
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, str):
            value = value.split()
        if not isinstance(value, list):
            return frozenset()
        found = [str(v) for v in value]
        if not self.mapping:
            return frozenset(found)
        return frozenset(self.mapping[r] for r in found if r in self.mapping)


class Identity:
    """Everything identity needs, built once per app (Platform.identity)."""

    def __init__(self, settings: Settings, records: SecurityRecords, counters: Counters,
                 events: SecurityEvents | None, clock: Clock | None = None) -> None:
        self.settings = settings
        self.records = records
        self.counters = counters
        self.events = events
        self.clock = clock or Clock()
        key_file = Path(settings.identity_key_file) if settings.identity_key_file \
            else default_key_file(settings.database_url)
        self.key_file = key_file
        self.box = SecretBox(lambda: load_or_create_key(key_file))
        self.issuer = (settings.oidc_issuer or settings.public_url).rstrip("/")
        self.audience = settings.oidc_audience
        self.operators = OperatorDirectory(records, self.box, self.clock)
        self.second_factor = SecondFactor(records, self.clock)
        policy = LockoutPolicy(settings.login_lockout_threshold, settings.login_lockout_delay,
                               settings.login_lockout_max_delay,
                               settings.login_burst_threshold, settings.login_burst_window)
        self.lockout = Lockout(records, policy, self.clock, counters, events)
        self.sessions = Sessions(records, SessionPolicy(settings.session_idle_timeout,
                                                        settings.session_absolute_timeout),
                                 self.clock)
        self.clients = OidcClients(records, self.clock)
        self.keys = SigningKeys(records, self.box, self.clock, settings.access_token_lifetime)
        self.external = ExternalIssuers(_csv(settings.oidc_issuers), self.clock)
        self.role_mapping = RoleMapping.from_settings(settings)

    async def issue_access_token(self, subject: str, *, roles: list[str],
                                 client_id: str, scope: str = "",
                                 amr: list[str] | None = None) -> str:
        kid, key = await self.keys.signing_key()
        claims = tokens.new_claims(issuer=self.issuer, subject=subject, audience=self.audience,
                                   lifetime=self.settings.access_token_lifetime,
                                   now=self.clock.now(), client_id=client_id, roles=roles,
                                   scope=scope or None, amr=amr)
        return tokens.sign(claims, kid, key)

    async def issue_id_token(self, subject: str, *, client_id: str, nonce: str | None,
                             name: str) -> str:
        kid, key = await self.keys.signing_key()
        claims = tokens.new_claims(issuer=self.issuer, subject=subject, audience=client_id,
                                   lifetime=self.settings.access_token_lifetime,
                                   now=self.clock.now(), nonce=nonce, amr=["pwd", "otp"],
                                   preferred_username=name, azp=client_id)
        return tokens.sign(claims, kid, key)

    async def purge_expired(self) -> int:
        return await self.records.purge_expired(self.clock.now())
