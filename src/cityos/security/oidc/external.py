"""External OpenID Connect issuers (setting oidc_issuers): Keycloak realms, the national
ID card login app, another City OS. For each, the discovery document
(ISSUER/.well-known/openid-configuration) and its JWKS are fetched over HTTP, cached,
and fetched again when a token names a key id not seen yet (the issuer rotated keys)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from cityos.ngsild.errors import Unauthenticated
from cityos.security.clock import Clock

log = logging.getLogger(__name__)
CACHE_SECONDS = 300.0
REFETCH_AFTER = 10.0  # at most one refetch per issuer this often for unknown key ids
TIMEOUT = 5.0


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass
class _IssuerKeys:
    keys: KeySet
    kids: frozenset[str]
    fetched_at: float


class ExternalIssuers:
    def __init__(self, issuers: list[str], clock: Clock,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.issuers = [i.rstrip("/") for i in issuers]
        self._clock = clock
        self._transport = transport
        self._cache: dict[str, _IssuerKeys] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def accepts(self, issuer: str) -> bool:
        return issuer.rstrip("/") in self.issuers

    async def _fetch_json(self, client: httpx.AsyncClient, url: str) -> dict[str, Any]:
        answer = await client.get(url, headers={"Accept": "application/json"})
        answer.raise_for_status()
        body = answer.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not answer a JSON object")
        return body

    async def _fetch(self, issuer: str) -> _IssuerKeys:
        async with httpx.AsyncClient(timeout=TIMEOUT, transport=self._transport,
                                     follow_redirects=False) as client:
            discovery = await self._fetch_json(client, discovery_url(issuer))
            if str(discovery.get("issuer", "")).rstrip("/") != issuer:
                raise ValueError(f"the discovery document of {issuer} names another issuer")
            jwks = await self._fetch_json(client, str(discovery["jwks_uri"]))
        keys = KeySet.import_key_set(jwks)  # type: ignore[arg-type]
        kids = frozenset(str(k.get("kid")) for k in jwks.get("keys", []) if k.get("kid"))
        return _IssuerKeys(keys, kids, self._clock.now())

    async def keys_for(self, issuer: str, kid: str | None) -> KeySet:
        """The issuer's current keys, fetched if not cached, stale, or missing `kid`."""
        issuer = issuer.rstrip("/")
        lock = self._locks.setdefault(issuer, asyncio.Lock())
        async with lock:
            cached = self._cache.get(issuer)
            now = self._clock.now()
            stale = cached is None or now - cached.fetched_at > CACHE_SECONDS or (
                kid is not None and kid not in cached.kids
                and now - cached.fetched_at > REFETCH_AFTER)
            if stale:
                try:
                    cached = await self._fetch(issuer)
                except (httpx.HTTPError, ValueError, KeyError, JoseError) as error:
                    log.warning("could not fetch the keys of issuer %s: %s", issuer, error)
                    if cached is None:
                        raise Unauthenticated(f"the keys of issuer {issuer} are not "
                                              "available") from error
                else:
                    self._cache[issuer] = cached
            assert cached is not None
            return cached.keys
