"""API keys and policy grants on the embedded SQLite database (storage.security)."""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityos.storage.grants import KEY_COLUMNS, ApiKeyRecord, key_of, key_row
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS security_api_keys (
    key_id TEXT PRIMARY KEY,
    secret_hash TEXT NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    roles TEXT NOT NULL,
    tenants TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    revoked_at TEXT
);
CREATE TABLE IF NOT EXISTS security_policies (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL,
    pk INTEGER NOT NULL
);
"""
_INSERT_KEY = (f"INSERT INTO security_api_keys ({KEY_COLUMNS}) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_GET_KEY = f"SELECT {KEY_COLUMNS} FROM security_api_keys WHERE key_id = ?"
_ALL_KEYS = f"SELECT {KEY_COLUMNS} FROM security_api_keys ORDER BY created_at, key_id"
_REVOKE = ("UPDATE security_api_keys SET revoked_at = ? "
           "WHERE key_id = ? AND revoked_at IS NULL")
_PUT_POLICY = ("INSERT INTO security_policies (id, doc, pk) VALUES (?, ?, "
               "(SELECT coalesce(max(pk), 0) + 1 FROM security_policies)) "
               "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc")
_DELETE_POLICY = "DELETE FROM security_policies WHERE id = ?"
_ALL_POLICIES = "SELECT doc FROM security_policies ORDER BY pk"


class SqliteSecurityStore:
    """SecurityStore beside a SqliteStore; construct it before the store is opened."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        row = key_row(record)
        await self._store.write(lambda conn: conn.execute(_INSERT_KEY, row))

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        def work(conn: sqlite3.Connection) -> ApiKeyRecord | None:
            row = conn.execute(_GET_KEY, (key_id,)).fetchone()
            return None if row is None else key_of(row)
        return await self._store.read(work)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        return await self._store.read(
            lambda conn: [key_of(row) for row in conn.execute(_ALL_KEYS).fetchall()])

    async def revoke_api_key(self, key_id: str, at: str) -> bool:
        return await self._store.write(
            lambda conn: conn.execute(_REVOKE, (at, key_id)).rowcount == 1)

    async def put_policy(self, grant: dict[str, Any]) -> None:
        doc = orjson.dumps(grant).decode()
        await self._store.write(lambda conn: conn.execute(_PUT_POLICY, (grant["id"], doc)))

    async def delete_policy(self, grant_id: str) -> bool:
        return await self._store.write(
            lambda conn: conn.execute(_DELETE_POLICY, (grant_id,)).rowcount == 1)

    async def list_policies(self) -> list[dict[str, Any]]:
        return await self._store.read(lambda conn: [
            orjson.loads(str(row[0])) for row in conn.execute(_ALL_POLICIES).fetchall()])
