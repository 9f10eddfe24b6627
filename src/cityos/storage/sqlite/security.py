"""Security records on the embedded SQLite database (storage.security.SecurityRecords).

A sibling of SqliteStore: its table is created through the store's `extra_schema`, writes
go through the store's writer thread, reads through its reader pool."""

from __future__ import annotations

import sqlite3

import orjson

from cityos.ngsild.types import JsonObject
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS security_records (
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    doc TEXT NOT NULL,
    expires_at REAL,
    PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS security_records_expiry ON security_records (expires_at)
    WHERE expires_at IS NOT NULL;
"""
_GET = "SELECT doc FROM security_records WHERE kind = ? AND key = ?"
_PUT = ("INSERT INTO security_records (kind, key, doc, expires_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc, "
        "expires_at = excluded.expires_at")
_ADD = ("INSERT OR IGNORE INTO security_records (kind, key, doc, expires_at) "
        "VALUES (?, ?, ?, ?)")
_DELETE = "DELETE FROM security_records WHERE kind = ? AND key = ?"
_LIST = "SELECT doc FROM security_records WHERE kind = ? ORDER BY key"
_PURGE = "DELETE FROM security_records WHERE expires_at IS NOT NULL AND expires_at < ?"


class SqliteSecurityRecords:
    """SecurityRecords beside a SqliteStore; construct it before the store is opened."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def get_record(self, kind: str, key: str) -> JsonObject | None:
        def work(conn: sqlite3.Connection) -> JsonObject | None:
            row = conn.execute(_GET, (kind, key)).fetchone()
            return None if row is None else dict(orjson.loads(row[0]))

        # A primary-key lookup, on every authenticated request: on the loop's connection.
        return self._store.read_point(work)

    async def put_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> None:
        text = orjson.dumps(doc).decode()
        await self._store.write(lambda conn: conn.execute(_PUT, (kind, key, text, expires_at)))

    async def add_record(self, kind: str, key: str, doc: JsonObject,
                         expires_at: float | None = None) -> bool:
        text = orjson.dumps(doc).decode()

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(_ADD, (kind, key, text, expires_at)).rowcount == 1

        return await self._store.write(work)

    async def take_record(self, kind: str, key: str) -> JsonObject | None:
        def work(conn: sqlite3.Connection) -> JsonObject | None:
            # The writer thread is the only writer: read-then-delete is atomic there.
            row = conn.execute(_GET, (kind, key)).fetchone()
            if row is None:
                return None
            conn.execute(_DELETE, (kind, key))
            return dict(orjson.loads(row[0]))

        return await self._store.write(work)

    async def delete_record(self, kind: str, key: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(_DELETE, (kind, key)).rowcount == 1

        return await self._store.write(work)

    async def list_records(self, kind: str) -> list[JsonObject]:
        def work(conn: sqlite3.Connection) -> list[JsonObject]:
            return [dict(orjson.loads(row[0])) for row in conn.execute(_LIST, (kind,))]

        return await self._store.read(work)

    async def purge_expired(self, now: float) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return conn.execute(_PURGE, (now,)).rowcount

        return await self._store.write(work)
