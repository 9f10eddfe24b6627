"""Entity stores of either backend for the storage contract tests: `database_url` (from
tests/conftest.py) names a fresh SQLite file or PostgreSQL schema."""

from __future__ import annotations

from typing import Any

from cityos.app import Store, open_delivery_log, open_subscription_store, open_temporal_store
from cityos.config import load_settings
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.sqlite.store import SqliteStore

__all__ = ["new_store", "open_delivery_log", "open_subscription_store",
           "open_temporal_store", "raw_rows"]


def new_store(database_url: str) -> Store:
    """An unopened store on the database (sibling stores are added before opening)."""
    settings = load_settings({"database_url": database_url, "dev": True}, environ={})
    if settings.sqlite_path is not None:
        return SqliteStore(settings.sqlite_path)
    assert settings.postgres_url is not None
    return PostgresStore(settings.postgres_url, pool_min=1, pool_max=4)


async def raw_rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a constant query, read straight from the backend's tables."""
    if isinstance(store, SqliteStore):
        return await store.read(lambda conn: conn.execute(sql).fetchall())
    assert isinstance(store, PostgresStore)

    async def work(conn: Any) -> list[tuple[Any, ...]]:
        return list(await (await conn.execute(sql)).fetchall())
    return await store.read(work)
