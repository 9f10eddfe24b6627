"""Numbered migrations: applied once, recorded, never by two processes at once."""

from __future__ import annotations

import asyncio

import psycopg
from tests.postgres_support import fresh_schema

from cityos.storage.postgres.migrate import available_migrations, migrate_database
from cityos.storage.postgres.store import PostgresStore


def test_migrations_are_numbered_in_order() -> None:
    versions = [m.version for m in available_migrations()]
    assert versions == sorted(set(versions)) and versions[0] == 1
    assert "CREATE EXTENSION IF NOT EXISTS postgis" in available_migrations()[0].sql


async def test_concurrent_migrations_run_once() -> None:
    with fresh_schema() as url:
        first, second = await asyncio.gather(migrate_database(url), migrate_database(url))
        everything = [m.version for m in available_migrations()]
        # One caller applied every migration; the other waited for the lock and found
        # nothing left to do (without the lock both would try and one would fail).
        assert sorted([first, second]) == [[], everything]
        assert await migrate_database(url) == []
        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT version, name FROM schema_migrations "
                                "ORDER BY version").fetchall()
        assert [(m.version, m.name) for m in available_migrations()] == rows


async def test_two_processes_starting_together_share_one_schema() -> None:
    with fresh_schema() as url:
        stores = [PostgresStore(url, pool_min=1, pool_max=2) for _ in range(3)]
        await asyncio.gather(*(store.open() for store in stores))
        try:
            assert all([await store.tenants() == [] for store in stores])
        finally:
            await asyncio.gather(*(store.close() for store in stores))
