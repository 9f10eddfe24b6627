"""Numbered SQL migrations (migrations/NNNN_name.sql), applied in order under a
PostgreSQL advisory lock, so that several processes starting at once never migrate
together: the first runs what is pending, the others wait and then find nothing to do.
`schema_migrations` records what ran, in the schema the connection's search_path selects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import psycopg
from psycopg import AsyncConnection

# pg_advisory_lock key of cityos migrations (any fixed 64-bit number; this one spells
# "cityos" in ASCII).
MIGRATION_LOCK = 0x636974796F73
_NAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")
_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def available_migrations() -> list[Migration]:
    """The migrations shipped with the package, by version."""
    found = []
    for entry in resources.files("cityos.storage.postgres.migrations").iterdir():
        match = _NAME.fullmatch(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2),
                                   entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


async def migrate(conn: AsyncConnection[Any]) -> list[int]:
    """Apply the pending migrations on an autocommit connection; returns the versions this
    call applied. Each migration runs in its own transaction with its ledger row."""
    await conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        await conn.execute(_LEDGER)
        cursor = await conn.execute("SELECT version FROM schema_migrations")
        done = {row[0] for row in await cursor.fetchall()}
        applied = []
        for migration in available_migrations():
            if migration.version in done:
                continue
            async with conn.transaction():
                # No parameters: psycopg sends the file as one simple-protocol query,
                # so it may hold several statements.
                await conn.execute(migration.sql.encode())
                await conn.execute("INSERT INTO schema_migrations (version, name) "
                                   "VALUES (%s, %s)", (migration.version, migration.name))
            applied.append(migration.version)
        return applied
    finally:
        await conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))


async def migrate_database(url: str) -> list[int]:
    """Connect to `url` and apply the pending migrations (`cityos db migrate`)."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        return await migrate(conn)
