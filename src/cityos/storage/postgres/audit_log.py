"""The audit trail on PostgreSQL (storage.audit.AuditLog).

Several server processes may append at once: each append takes a transaction-scoped
advisory lock before reading the head, so batches are sealed one after another and the
chain has no forks or gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.types.json import Jsonb

from cityos.storage.audit import GENESIS, AuditHead, AuditRecord, Sealer
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.sqlite.audit_log import COLUMNS, TIME_MAX, TIME_MIN, record_of

# pg_advisory_xact_lock key of audit appends ("audit" in ASCII).
AUDIT_LOCK = 0x6175646974
_INSERT = f"INSERT INTO audit_log ({COLUMNS}) VALUES ({', '.join(['%s'] * 15)})"
_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_ANCHOR = "SELECT doc FROM audit_checkpoints WHERE anchor ORDER BY size DESC LIMIT 1"
_LATEST = "SELECT doc FROM audit_checkpoints WHERE NOT anchor ORDER BY size DESC LIMIT 1"
_SAVE = ("INSERT INTO audit_checkpoints (size, anchor, doc) VALUES (%s, %s, %s) "
         "ON CONFLICT (size, anchor) DO UPDATE SET doc = excluded.doc")
_PURGE = "DELETE FROM audit_log WHERE seq <= %s"
_PAGE = (f"SELECT {COLUMNS} FROM audit_log WHERE seq > %s AND time >= %s AND time < %s "
         "ORDER BY seq LIMIT %s")


async def _head(conn: AsyncConnection[Any]) -> AuditHead:
    row = await (await conn.execute(_LAST)).fetchone()
    if row is not None:
        return AuditHead(int(row[0]), str(row[1]))
    anchor = await _doc(conn, _ANCHOR)
    if anchor is not None:
        return AuditHead(int(anchor["size"]), str(anchor["head"]))
    return GENESIS


async def _doc(conn: AsyncConnection[Any], statement: str) -> dict[str, Any] | None:
    row = await (await conn.execute(statement)).fetchone()
    if row is None:
        return None
    value = row[0]
    return dict(orjson.loads(value) if isinstance(value, (str, bytes)) else value)


class PostgresAuditLog:
    """AuditLog in the PostgresStore's database (tables from migration 0004)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def append(self, entries: Sequence[Any], seal: Sealer) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
            rows = seal(await _head(conn), entries)
            async with conn.cursor() as cursor:
                await cursor.executemany(_INSERT, rows)

        await self._store.write(work)

    async def records(self, after_seq: int, limit: int, *, since: str | None = None,
                      until: str | None = None) -> list[AuditRecord]:
        bounds = (after_seq, since or TIME_MIN, until or TIME_MAX, limit)

        async def work(conn: AsyncConnection[Any]) -> list[AuditRecord]:
            cursor = await conn.execute(_PAGE, bounds)
            return [record_of(row) for row in await cursor.fetchall()]

        return await self._store.read(work)

    async def head(self) -> AuditHead:
        return await self._store.read(_head)

    async def anchor(self) -> dict[str, Any] | None:
        return await self._store.read(lambda conn: _doc(conn, _ANCHOR))

    async def latest_checkpoint(self) -> dict[str, Any] | None:
        return await self._store.read(lambda conn: _doc(conn, _LATEST))

    async def purge_through(self, seq: int, anchor: dict[str, Any]) -> int:
        async def work(conn: AsyncConnection[Any]) -> int:
            await conn.execute(_SAVE, (int(anchor["size"]), True, Jsonb(anchor)))
            return (await conn.execute(_PURGE, (seq,))).rowcount

        return await self._store.write(work)

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_SAVE, (int(checkpoint["size"]), False, Jsonb(checkpoint)))

        await self._store.write(work)
