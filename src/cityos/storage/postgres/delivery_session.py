"""The database session that identifies one delivering process on PostgreSQL.

Each process keeps one dedicated connection. Its backend (pid, backend_start) names the
process as owner of the outbox rows it delivers; when the process dies its session ends,
and other processes may claim those rows (see outbox_sql.py). The same session holds the
matcher lock, a session-level advisory lock scoped to the schema: only the process
holding it matches journal changes, so changes are matched once and in order even when
several processes share the database; another takes over as soon as its session ends.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import psycopg
from psycopg import AsyncConnection

# pg_try_advisory_lock(class, object) key of the matcher: a fixed class ("cm") and the
# hash of the schema, so that databases shared by several schemas do not block each other.
MATCHER_LOCK_CLASS = 0x636D
_TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(current_schema()))"
_IDENTITY = ("SELECT pid, backend_start FROM pg_stat_activity "
             "WHERE pid = pg_backend_pid()")


class DeliverySession:
    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: AsyncConnection[Any] | None = None
        self._opening = asyncio.Lock()
        self.owner: tuple[int, datetime] | None = None
        self.leader = False

    async def connection(self) -> AsyncConnection[Any]:
        """The session connection, (re)opened when missing or broken; a new session is a
        new owner and must win the matcher lock again."""
        async with self._opening:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = await psycopg.AsyncConnection.connect(self._url, autocommit=True)
                row = await (await self._conn.execute(_IDENTITY)).fetchone()
                assert row is not None
                self.owner = (int(row[0]), row[1])
                self.leader = False
            return self._conn

    async def identity(self) -> tuple[int, datetime]:
        await self.connection()
        assert self.owner is not None
        return self.owner

    async def lead(self) -> bool:
        """Whether this process is (or has just become) the matcher."""
        conn = await self.connection()
        if not self.leader:
            row = await (await conn.execute(_TRY_LOCK, (MATCHER_LOCK_CLASS,))).fetchone()
            self.leader = bool(row and row[0])
        return self.leader

    async def close(self) -> None:
        """Ending the session releases the matcher lock and frees the owned rows."""
        if self._conn is not None:
            await self._conn.close()
        self._conn = None
        self.leader = False
