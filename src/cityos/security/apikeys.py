"""API keys for devices and services.

A key reads `ck_<id>_<secret>`: the id is public (it names the key in listings, logs and
policies as `subject:apikey:<id>`), the secret is 256 random bits shown once at creation.
Only the SHA-256 of the secret is stored — the secret is high-entropy, so a slow password
hash would add nothing — and it is compared in constant time. A key carries roles, may be
limited to tenants and may expire; a revoked or expired key is refused with 401, never
treated as anonymous.

Presented as `X-API-Key: <key>` or `Authorization: ApiKey <key>`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from cityos.ngsild.errors import BadRequestData, ResourceNotFound, Unauthenticated
from cityos.security.authentication import Scope, header
from cityos.security.principal import Principal
from cityos.storage.grants import ApiKeyRecord, SecurityStore

PREFIX = "ck_"
SUBJECT_PREFIX = "apikey:"  # a key's principal is apikey:<id>
_KEY = re.compile(r"ck_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")
_ROLE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
KINDS = ("client", "device")
CACHE_SECONDS = 5.0  # how long another process may still accept a key revoked elsewhere


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def presented_key(scope: Scope) -> str | None:
    """The API key a request carries, if any."""
    value = header(scope, b"x-api-key")
    if value is not None:
        return value.strip()
    value = header(scope, b"authorization")
    if value is not None and value[:7].lower() == "apikey ":
        return value[7:].strip()
    return None


def principal_for(record: ApiKeyRecord) -> Principal:
    return Principal(subject=f"{SUBJECT_PREFIX}{record.key_id}",
                     kind="device" if record.kind == "device" else "client",
                     roles=record.roles, tenants=record.tenants,
                     client_id=record.key_id, display_name=record.name)


@dataclass(frozen=True)
class IssuedKey:
    """A newly created key: `key` is the only time the secret is ever shown."""

    key: str
    record: ApiKeyRecord


def _expiry(expires_at: str | None) -> str | None:
    if expires_at is None:
        return None
    try:
        moment = datetime.fromisoformat(expires_at.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequestData("expiresAt must be an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expired(record: ApiKeyRecord) -> bool:
    return record.expires_at is not None and record.expires_at <= now_text()


class ApiKeys:
    """Creating, listing, revoking and checking API keys."""

    def __init__(self, store: SecurityStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, ApiKeyRecord | None]] = {}
        # presented key → (valid until, monotonic; principal): skips hashing on repeats
        self._verified: dict[str, tuple[float, Principal]] = {}
        # every key by id as last listed (refresh_standing) or changed here: whether the
        # owner of a Subscription is still a valid key, without a database read
        self._standing: dict[str, ApiKeyRecord] = {}

    async def create(self, name: str, *, roles: frozenset[str], kind: str = "client",
                     tenants: frozenset[str] | None = None,
                     expires_at: str | None = None) -> IssuedKey:
        if kind not in KINDS:
            raise BadRequestData("kind must be client or device")
        if not name or len(name) > 200:
            raise BadRequestData("a key needs a name of at most 200 characters")
        if not all(_ROLE.fullmatch(role) for role in roles):
            raise BadRequestData("roles are 1 to 64 letters, digits, '_', '.', ':' or '-'")
        key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
        record = ApiKeyRecord(key_id=key_id, secret_hash=secret_hash(secret), name=name,
                              kind=kind, roles=roles, tenants=tenants,
                              created_at=now_text(), expires_at=_expiry(expires_at))
        await self.store.insert_api_key(record)
        self._standing[key_id] = record
        return IssuedKey(f"{PREFIX}{key_id}_{secret}", record)

    async def list(self) -> list[ApiKeyRecord]:
        return await self.store.list_api_keys()

    async def revoke(self, key_id: str) -> None:
        if not await self.store.revoke_api_key(key_id, now_text()):
            raise ResourceNotFound(f"no active API key {key_id}")
        self._cache.pop(key_id, None)
        self._verified = {key: entry for key, entry in self._verified.items()
                          if entry[1].client_id != key_id}
        known = self._standing.get(key_id)
        if known is not None:
            self._standing[key_id] = replace(known, revoked_at=now_text())

    async def refresh_standing(self) -> None:
        """Re-read every key's record (revocations made by the CLI or another process)."""
        self._standing = {record.key_id: record for record in await self.store.list_api_keys()}

    def standing(self, subject: str) -> str | None:
        """Why the principal `subject` may no longer act, if it is an API key that was
        revoked or has expired (None: valid, not a key, or not listed yet)."""
        if not subject.startswith(SUBJECT_PREFIX):
            return None
        record = self._standing.get(subject[len(SUBJECT_PREFIX):])
        if record is None:
            return None
        if record.revoked_at is not None:
            return f"the owner's API key {record.key_id} was revoked at {record.revoked_at}"
        if _expired(record):
            return f"the owner's API key {record.key_id} expired at {record.expires_at}"
        return None

    async def _record(self, key_id: str) -> ApiKeyRecord | None:
        cached = self._cache.get(key_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < CACHE_SECONDS:
            return cached[1]
        record = await self.store.get_api_key(key_id)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key_id] = (now, record)
        return record

    async def verify(self, key: str) -> Principal:
        """The principal of a valid key; Unauthenticated for anything else."""
        seen = self._verified.get(key)
        if seen is not None and time.monotonic() < seen[0]:
            return seen[1]
        principal, valid_for = await self._check(key)
        if len(self._verified) > 10_000:
            self._verified = {}
        self._verified[key] = (time.monotonic() + valid_for, principal)
        return principal

    async def _check(self, key: str) -> tuple[Principal, float]:
        """The key's principal and how many seconds that answer may be reused."""
        match = _KEY.fullmatch(key)
        if match is None:
            raise Unauthenticated("the API key is malformed")
        record = await self._record(match.group(1))
        presented = secret_hash(match.group(2))
        expected = record.secret_hash if record is not None else "0" * 64
        if not hmac.compare_digest(presented, expected) or record is None:
            raise Unauthenticated("the API key is not valid")
        if record.revoked_at is not None:
            raise Unauthenticated("the API key was revoked")
        if _expired(record):
            raise Unauthenticated("the API key has expired")
        valid_for = CACHE_SECONDS
        if record.expires_at is not None:
            expires = datetime.fromisoformat(record.expires_at.replace("Z", "+00:00"))
            valid_for = min(valid_for, (expires - datetime.now(UTC)).total_seconds())
        return principal_for(record), valid_for


class ApiKeyAuthenticator:
    """Authenticator (cityos.security.authentication) for `X-API-Key` and
    `Authorization: ApiKey`."""

    credential_headers = (b"x-api-key", b"authorization")

    def __init__(self, keys: ApiKeys) -> None:
        self.keys = keys

    async def authenticate(self, scope: Scope) -> Principal | None:
        key = presented_key(scope)
        if key is None:
            return None
        return await self.keys.verify(key)
