"""Wrapped data keys of field-level encryption on PostgreSQL (migration 0004)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from cityos.storage.data_keys import WrappedDataKey
from cityos.storage.postgres.store import PostgresStore

_ALL = ("SELECT id, master_key_id, wrapped, created FROM encryption_data_keys "
        "ORDER BY created, id")
_ADD = ("INSERT INTO encryption_data_keys (id, master_key_id, wrapped, created) "
        "VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING")
_REWRAP = "UPDATE encryption_data_keys SET master_key_id = %s, wrapped = %s WHERE id = %s"


class PostgresDataKeyStore:
    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def data_keys(self) -> list[WrappedDataKey]:
        async def work(conn: AsyncConnection[Any]) -> list[WrappedDataKey]:
            cursor = await conn.execute(_ALL)
            return [WrappedDataKey(*row) for row in await cursor.fetchall()]

        return await self._store.read(work)

    async def add_data_key(self, key: WrappedDataKey) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(_ADD, (key.id, key.master_key_id, key.wrapped, key.created))

        await self._store.write(work)

    async def rewrap(self, keys: Sequence[WrappedDataKey]) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            async with conn.cursor() as cursor:
                await cursor.executemany(_REWRAP, [(k.master_key_id, k.wrapped, k.id)
                                                   for k in keys])

        await self._store.write(work)
