"""The storage contract for security records (operators, sessions, OIDC clients, signing
keys, one-time codes, lockout counters) on every backend.

Security records are few, small and read by key, so the contract is a keyed document
store: each record is a JSON object under (kind, key), with an optional expiry time used
to purge stale ones. `add_record` and `take_record` are atomic, which is what single-use
things (authorization codes, TOTP steps, recovery codes) need. What the records mean and
how they are protected is the business of cityos.security; secrets in them are already
hashed or encrypted when they arrive here.
"""

from __future__ import annotations

from typing import Protocol

from cityos.ngsild.types import JsonObject


class SecurityRecords(Protocol):
    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        """The record, or None if there is none."""
        ...

    async def put_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> None:
        """Create or replace the record. expires_at: epoch seconds after which
        `purge_expired` may delete it."""
        ...

    async def add_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> bool:
        """Create the record if there is none under (kind, key); False if there was one
        (which is left as it is)."""
        ...

    async def take_record(self, kind: str, key: str) -> JsonObject | None:
        """Delete the record and return it, atomically: of concurrent callers one gets it."""
        ...

    async def delete_record(self, kind: str, key: str) -> bool:
        ...

    async def list_records(self, kind: str) -> list[JsonObject]:
        """All records of a kind, in key order."""
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete the records whose expiry time has passed; returns how many."""
        ...
