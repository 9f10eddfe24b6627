"""Security records on PostgreSQL (storage.security.SecurityRecords); the table comes
from migration 0002_security_records."""

from __future__ import annotations

from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.ngsild.types import JsonObject
from cityos.storage.postgres.store import PostgresStore

_GET = "SELECT doc FROM security_records WHERE kind = %s AND key = %s"
_PUT = ("INSERT INTO security_records (kind, key, doc, expires_at) "
        "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (kind, key) DO UPDATE "
        "SET doc = excluded.doc, expires_at = excluded.expires_at")
_ADD = ("INSERT INTO security_records (kind, key, doc, expires_at) "
        "VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (kind, key) DO NOTHING")
_TAKE = "DELETE FROM security_records WHERE kind = %s AND key = %s RETURNING doc"
_DELETE = "DELETE FROM security_records WHERE kind = %s AND key = %s"
_LIST = "SELECT doc FROM security_records WHERE kind = %s ORDER BY key COLLATE \"C\""
_PURGE = "DELETE FROM security_records WHERE expires_at IS NOT NULL AND expires_at < %s"

Conn = AsyncConnection[Any]


class PostgresSecurityRecords:
    """SecurityRecords on the PostgresStore's connection pool."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        async def work(conn: Conn) -> JsonObject | None:
            row = await (await conn.execute(_GET, (kind, key))).fetchone()
            return None if row is None else dict(row[0])

        return await self._store.read(work)

    async def put_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> None:
        text = orjson.dumps(doc).decode()

        async def work(conn: Conn) -> None:
            await conn.execute(_PUT, (kind, key, text, expires_at))

        await self._store.write(work)

    async def add_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> bool:
        text = orjson.dumps(doc).decode()

        async def work(conn: Conn) -> bool:
            return (await conn.execute(_ADD, (kind, key, text, expires_at))).rowcount == 1

        return await self._store.write(work)

    async def take_record(self, kind: str, key: str) -> JsonObject | None:
        async def work(conn: Conn) -> JsonObject | None:
            row = await (await conn.execute(_TAKE, (kind, key))).fetchone()
            return None if row is None else dict(row[0])

        return await self._store.write(work)

    async def delete_record(self, kind: str, key: str) -> bool:
        async def work(conn: Conn) -> bool:
            return (await conn.execute(_DELETE, (kind, key))).rowcount == 1

        return await self._store.write(work)

    async def list_records(self, kind: str) -> list[JsonObject]:
        async def work(conn: Conn) -> list[JsonObject]:
            rows = await (await conn.execute(_LIST, (kind,))).fetchall()
            return [dict(row[0]) for row in rows]

        return await self._store.read(work)

    async def purge_expired(self, now: float) -> int:
        async def work(conn: Conn) -> int:
            return (await conn.execute(_PURGE, (now,))).rowcount

        return await self._store.write(work)
