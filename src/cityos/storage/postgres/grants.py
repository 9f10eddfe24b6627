"""API keys and policy grants on PostgreSQL (storage.security); tables of migration
0003_api_keys_policies."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.storage.grants import KEY_COLUMNS, ApiKeyRecord, key_of, key_row
from cityos.storage.postgres.store import PostgresStore

_INSERT_KEY = (f"INSERT INTO security_api_keys ({KEY_COLUMNS}) "
               "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)")
_GET_KEY = f"SELECT {KEY_COLUMNS} FROM security_api_keys WHERE key_id = %s"
_ALL_KEYS = f"SELECT {KEY_COLUMNS} FROM security_api_keys ORDER BY created_at, key_id"
_REVOKE = ("UPDATE security_api_keys SET revoked_at = %s "
           "WHERE key_id = %s AND revoked_at IS NULL")
_PUT_POLICY = ("INSERT INTO security_policies (id, doc) VALUES (%s, %s::jsonb) "
               "ON CONFLICT (id) DO UPDATE SET doc = excluded.doc")
_DELETE_POLICY = "DELETE FROM security_policies WHERE id = %s"
_ALL_POLICIES = "SELECT doc FROM security_policies ORDER BY pk"


class PostgresSecurityStore:
    """SecurityStore on the PostgresStore's connection pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def insert_api_key(self, record: ApiKeyRecord) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_INSERT_KEY, key_row(record))
        await self._store.write(work)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord | None:
        async def work(conn: AsyncConnection[Any]) -> ApiKeyRecord | None:
            row = await (await conn.execute(_GET_KEY, (key_id,))).fetchone()
            return None if row is None else key_of(row)
        return await self._store.read(work)

    async def list_api_keys(self) -> list[ApiKeyRecord]:
        async def work(conn: AsyncConnection[Any]) -> list[ApiKeyRecord]:
            return [key_of(row) for row in await (await conn.execute(_ALL_KEYS)).fetchall()]
        return await self._store.read(work)

    async def revoke_api_key(self, key_id: str, at: str) -> bool:
        async def work(conn: AsyncConnection[Any]) -> bool:
            return (await conn.execute(_REVOKE, (at, key_id))).rowcount == 1
        return await self._store.write(work)

    async def put_policy(self, grant: dict[str, Any]) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_PUT_POLICY, (grant["id"], orjson.dumps(grant).decode()))
        await self._store.write(work)

    async def delete_policy(self, grant_id: str) -> bool:
        async def work(conn: AsyncConnection[Any]) -> bool:
            return (await conn.execute(_DELETE_POLICY, (grant_id,))).rowcount == 1
        return await self._store.write(work)

    async def list_policies(self) -> list[dict[str, Any]]:
        async def work(conn: AsyncConnection[Any]) -> list[dict[str, Any]]:
            rows = await (await conn.execute(_ALL_POLICIES)).fetchall()
            return [dict(row[0]) for row in rows]
        return await self._store.read(work)
