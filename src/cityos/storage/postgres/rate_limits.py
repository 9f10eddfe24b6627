"""Shared rate-limit buckets on PostgreSQL (storage.rate_limits); the UNLOGGED table of
migration 0010_rate_limit_buckets. One statement per exchange, whatever the number of
keys; keys are sorted so that two processes lock the same rows in the same order."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from psycopg import AsyncConnection

from cityos.storage.postgres.store import PostgresStore

_EXCHANGE = """
INSERT INTO rate_limit_buckets AS b (kind, key, tokens, updated)
SELECT %(kind)s, u.key, %(burst)s - u.taken, extract(epoch FROM clock_timestamp())
FROM unnest(%(keys)s::text[], %(taken)s::integer[]) AS u(key, taken)
ORDER BY u.key
ON CONFLICT (kind, key) DO UPDATE SET
    tokens = LEAST(%(burst)s::double precision,
                   b.tokens + GREATEST(0, excluded.updated - b.updated) * %(rate)s)
             - (%(burst)s - excluded.tokens),
    updated = GREATEST(b.updated, excluded.updated)
RETURNING key, tokens
"""
_FORGET = """
DELETE FROM rate_limit_buckets
WHERE kind = %(kind)s
  AND tokens + (extract(epoch FROM clock_timestamp()) - updated) * %(rate)s >= %(burst)s
"""


class PostgresRateLimits:
    """SharedBuckets in the PostgresStore's database."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def exchange(self, kind: str, rate: float, burst: int,
                       usage: Sequence[tuple[str, int]]) -> dict[str, float]:
        ordered = sorted(usage)
        params = {"kind": kind, "rate": rate, "burst": burst,
                  "keys": [key for key, _ in ordered], "taken": [n for _, n in ordered]}

        async def work(conn: AsyncConnection[Any]) -> dict[str, float]:
            cursor = await conn.execute(_EXCHANGE, params)
            return {str(key): float(tokens) for key, tokens in await cursor.fetchall()}

        return await self._store.write(work)

    async def forget_full(self, kind: str, rate: float, burst: int) -> int:
        async def work(conn: AsyncConnection[Any]) -> int:
            cursor = await conn.execute(_FORGET, {"kind": kind, "rate": rate,
                                                  "burst": burst})
            return cursor.rowcount

        return await self._store.write(work)
