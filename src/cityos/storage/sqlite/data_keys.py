"""Wrapped data keys of field-level encryption on SQLite (storage.data_keys.DataKeyStore)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from cityos.storage.data_keys import WrappedDataKey
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS encryption_data_keys (
    id TEXT PRIMARY KEY,
    master_key_id TEXT NOT NULL,
    wrapped TEXT NOT NULL,
    created TEXT NOT NULL
);
"""
_ALL = "SELECT id, master_key_id, wrapped, created FROM encryption_data_keys ORDER BY created, id"
_ADD = ("INSERT INTO encryption_data_keys (id, master_key_id, wrapped, created) "
        "VALUES (?, ?, ?, ?)")
_REWRAP = "UPDATE encryption_data_keys SET master_key_id = ?, wrapped = ? WHERE id = ?"


class SqliteDataKeyStore:
    """Construct before the store is opened (it adds its table)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def data_keys(self) -> list[WrappedDataKey]:
        def work(conn: sqlite3.Connection) -> list[WrappedDataKey]:
            return [WrappedDataKey(*row) for row in conn.execute(_ALL)]

        return await self._store.read(work)

    async def add_data_key(self, key: WrappedDataKey) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_ADD, (key.id, key.master_key_id, key.wrapped, key.created))

        await self._store.write(work)

    async def rewrap(self, keys: Sequence[WrappedDataKey]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(_REWRAP, [(k.master_key_id, k.wrapped, k.id) for k in keys])

        await self._store.write(work)
