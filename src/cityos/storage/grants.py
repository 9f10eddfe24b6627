"""Where API keys and authorization policies are kept (both backends): a small typed
protocol, implemented beside the entity store by storage.sqlite.security and
storage.postgres.security."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class ApiKeyRecord:
    """One API key. Only a hash of its secret is kept (`secret_hash`, hex SHA-256)."""

    key_id: str
    secret_hash: str
    name: str
    kind: str  # "client" or "device"
    roles: frozenset[str]
    tenants: frozenset[str] | None
    created_at: str
    expires_at: str | None = None
    revoked_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """What listings show: everything but the hash."""
        return {"id": self.key_id, "name": self.name, "kind": self.kind,
                "roles": sorted(self.roles),
                "tenants": None if self.tenants is None else sorted(self.tenants),
                "createdAt": self.created_at, "expiresAt": self.expires_at,
                "revokedAt": self.revoked_at}


class SecurityStore(Protocol):
    """API keys and policy grants (grants as their JSON form, cityos.security.policy)."""

    async def insert_api_key(self, record: ApiKeyRecord) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None: ...

    async def list_api_keys(self) -> list[ApiKeyRecord]: ...

    async def revoke_api_key(self, key_id: str, at: str) -> bool:
        """Mark the key revoked; False if there is no such key (or it already was)."""
        ...

    async def put_policy(self, grant: dict[str, Any]) -> None:
        """Store a grant by its `id` (replacing one with the same id)."""
        ...

    async def delete_policy(self, grant_id: str) -> bool: ...

    async def list_policies(self) -> list[dict[str, Any]]: ...


def key_row(record: ApiKeyRecord) -> tuple[Any, ...]:
    """The column values of a key, in the order both backends' tables use."""
    return (record.key_id, record.secret_hash, record.name, record.kind,
            ",".join(sorted(record.roles)),
            None if record.tenants is None else ",".join(sorted(record.tenants)),
            record.created_at, record.expires_at, record.revoked_at)


KEY_COLUMNS = ("key_id, secret_hash, name, kind, roles, tenants, created_at, expires_at, "
               "revoked_at")


def key_of(row: tuple[Any, ...] | Any) -> ApiKeyRecord:
    key_id, secret_hash, name, kind, roles, tenants, created, expires, revoked = row
    return ApiKeyRecord(
        key_id=str(key_id), secret_hash=str(secret_hash), name=str(name), kind=str(kind),
        roles=frozenset(r for r in str(roles).split(",") if r),
        tenants=None if tenants is None else frozenset(t for t in str(tenants).split(",")),
        created_at=str(created), expires_at=None if expires is None else str(expires),
        revoked_at=None if revoked is None else str(revoked))
