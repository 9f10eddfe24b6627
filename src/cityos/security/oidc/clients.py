"""OIDC clients of the built-in provider: services using client credentials (a secret,
shown once, stored as SHA-256) and public clients of the authorization code flow (PKCE,
exact redirect URIs)."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field

from cityos.ngsild.types import JsonObject
from cityos.security.clock import Clock
from cityos.storage.security import SecurityRecords

OIDC_CLIENT = "oidc-client"
CLIENT_ID = re.compile(r"[a-z0-9][a-z0-9._-]{1,63}")


class ClientError(ValueError):
    pass


def _secret_hash(secret: str) -> str:
    # Client secrets are 256-bit random values: a plain hash resists guessing.
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass
class OidcClient:
    client_id: str
    name: str
    roles: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)
    secret_hash: str | None = None
    created_at: float = 0.0

    @property
    def public(self) -> bool:
        return self.secret_hash is None

    def doc(self) -> JsonObject:
        return {"client_id": self.client_id, "name": self.name, "roles": self.roles,
                "redirect_uris": self.redirect_uris, "secret_hash": self.secret_hash,
                "created_at": self.created_at}

    def describe(self) -> JsonObject:
        return {"clientId": self.client_id, "name": self.name, "roles": self.roles,
                "redirectUris": self.redirect_uris, "public": self.public,
                "createdAt": self.created_at}

    @classmethod
    def from_doc(cls, doc: JsonObject) -> OidcClient:
        return cls(str(doc["client_id"]), str(doc.get("name") or ""),
                   [str(r) for r in doc.get("roles") or []],
                   [str(u) for u in doc.get("redirect_uris") or []],
                   doc.get("secret_hash"), float(doc.get("created_at") or 0.0))


class OidcClients:
    def __init__(self, records: SecurityRecords, clock: Clock) -> None:
        self._records = records
        self._clock = clock

    async def create(self, client_id: str, *, name: str = "", roles: list[str] | None = None,
                     redirect_uris: list[str] | None = None,
                     public: bool = False) -> tuple[OidcClient, str | None]:
        """A new client and its secret (None for a public client), shown this once."""
        if not CLIENT_ID.fullmatch(client_id):
            raise ClientError("a client id is 2–64 characters: lower-case letters, digits, "
                              "'.', '_' or '-', starting with a letter or digit")
        for uri in redirect_uris or []:
            if not uri.startswith(("https://", "http://127.0.0.1", "http://localhost")):
                raise ClientError(f"redirect URI {uri!r} must be https (or loopback http)")
        secret = None if public else secrets.token_urlsafe(32)
        client = OidcClient(client_id, name or client_id, sorted(set(roles or [])),
                            list(redirect_uris or []),
                            None if secret is None else _secret_hash(secret),
                            self._clock.now())
        if not await self._records.add_record(OIDC_CLIENT, client_id, client.doc()):
            raise ClientError(f"client {client_id!r} exists already")
        return client, secret

    async def get(self, client_id: str) -> OidcClient | None:
        doc = await self._records.get_record(OIDC_CLIENT, client_id)
        return None if doc is None else OidcClient.from_doc(doc)

    async def all(self) -> list[OidcClient]:
        return [OidcClient.from_doc(d) for d in await self._records.list_records(OIDC_CLIENT)]

    async def delete(self, client_id: str) -> bool:
        return await self._records.delete_record(OIDC_CLIENT, client_id)

    async def authenticate(self, client_id: str, secret: str | None) -> OidcClient | None:
        """The client if `secret` is its secret (public clients: no secret)."""
        client = await self.get(client_id)
        if client is None:
            return None
        if client.secret_hash is None:
            return client if not secret else None
        if secret is None:
            return None
        return client if hmac.compare_digest(client.secret_hash, _secret_hash(secret)) else None
