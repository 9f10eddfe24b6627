"""The PostgreSQL/PostGIS backend: a psycopg 3 async connection pool; any number of
stateless `cityos serve` processes may share one database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

import orjson
import psycopg
from psycopg import AsyncConnection, errors
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool

from cityos.ngsild.types import JsonObject
from cityos.storage.base import (
    AttributeSummary,
    EntityQuery,
    MutationResult,
    Mutator,
    QueryPage,
    TypeSummary,
)
from cityos.storage.postgres import reads
from cityos.storage.postgres.entity_rows import WriteObserver, refused
from cityos.storage.postgres.migrate import migrate
from cityos.storage.postgres.mutations import apply_mutations

T = TypeVar("T")
Work = Callable[[AsyncConnection[Any]], Awaitable[T]]
_GET = "SELECT doc FROM entities WHERE tenant = %s AND id = %s"
_EXPIRING = ("SELECT tenant, id FROM entities WHERE expires_at <= %s "
             "ORDER BY expires_at LIMIT %s")
# A transaction PostgreSQL aborted to break a lock cycle or a serialization conflict, or
# a batch that created an entity another transaction created first, is run again:
# mutators are pure, so re-running them is safe.
_RETRIED = (errors.DeadlockDetected, errors.SerializationFailure, errors.UniqueViolation)
WRITE_ATTEMPTS = 5


async def _configure(conn: AsyncConnection[Any]) -> None:
    set_json_loads(orjson.loads, conn)


class PostgresStore:
    """EntityStore and ContextRecords on PostgreSQL. `open()` applies pending migrations
    (under an advisory lock) before the pool starts."""

    def __init__(self, url: str, *, pool_min: int = 2, pool_max: int = 10) -> None:
        self.url = url
        self._pool_sizes = (pool_min, pool_max)
        self._pool = self._new_pool()
        self._pool_opened = False
        self._known_tenants: set[str] = set()
        # Sibling stores (temporal history, change journal, …) add theirs before open();
        # each is awaited inside the entity's write transaction.
        self.write_observers: list[WriteObserver] = []
        # Sibling stores' own connections, closed (awaited) before the pool.
        self.on_close: list[Callable[[], Awaitable[None]]] = []

    def _new_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        return AsyncConnectionPool(self.url, min_size=self._pool_sizes[0],
                                   max_size=self._pool_sizes[1], kwargs={"autocommit": True},
                                   configure=_configure, open=False)

    async def open(self) -> None:
        async with await psycopg.AsyncConnection.connect(self.url, autocommit=True) as conn:
            await migrate(conn)
        if self._pool.closed and self._pool_opened:
            self._pool = self._new_pool()  # a closed pool cannot be opened again
        await self._pool.open(wait=True)
        self._pool_opened = True

    async def close(self) -> None:
        for close_sibling in self.on_close:
            await close_sibling()
        await self._pool.close()

    async def read(self, work: Work[T]) -> T:
        """Run `work` on a pooled connection in autocommit mode (for sibling stores)."""
        async with self._pool.connection() as conn:
            return await work(conn)

    async def write(self, work: Work[T]) -> T:
        """Run `work` inside one transaction, retried when PostgreSQL aborts it for a
        deadlock or serialization conflict; returns once it is committed."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                async with self._pool.connection() as conn, conn.transaction():
                    return await work(conn)
            except _RETRIED:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._known_tenants:
            return True
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT 1 FROM tenants WHERE name = %s", (tenant,))
            found = await cursor.fetchone() is not None
        if found:
            self._known_tenants.add(tenant)
        return found

    async def tenants(self) -> list[str]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute("SELECT name FROM tenants ORDER BY name COLLATE \"C\"")
            return [row[0] for row in await cursor.fetchall()]

    async def get_entity(self, tenant: str, entity_id: str) -> JsonObject | None:
        async with self._pool.connection() as conn:
            row = await (await conn.execute(_GET, (tenant, entity_id))).fetchone()
        return row[0] if row else None

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryPage:
        return await self.read(lambda conn: reads.query_entities(conn, tenant, query))

    async def apply(self, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]]) -> list[MutationResult]:
        known = tenant in self._known_tenants

        async def work(conn: AsyncConnection[Any]) -> list[MutationResult]:
            if not known:
                await conn.execute("INSERT INTO tenants (name) VALUES (%s) "
                                   "ON CONFLICT DO NOTHING", (tenant,))
            return await apply_mutations(conn, tenant, mutations, self.write_observers)

        try:
            results = await self.write(work)
        except (errors.DataError, errors.ProgramLimitExceeded) as error:
            # Unforeseen data PostgreSQL refuses (what is foreseen is checked before
            # writing): the whole call's entities are refused, nothing was written.
            return [MutationResult(entity_id, None, None, refused(error))
                    for entity_id, _ in mutations]
        self._known_tenants.add(tenant)
        return results

    async def expiring_entities(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        async with self._pool.connection() as conn:
            cursor = await conn.execute(_EXPIRING, (now, limit))
            return [(tenant, entity_id) for tenant, entity_id in await cursor.fetchall()]

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        return await self.read(lambda conn: reads.type_summaries(conn, tenant))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        return await self.read(lambda conn: reads.attribute_summaries(conn, tenant))

    # -- the /jsonldContexts store (storage.base.ContextRecords) ---------------------------
    async def put_context_record(self, local_id: str, tenant: str, record: JsonObject) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(
                "INSERT INTO jsonld_contexts (local_id, tenant, record) "
                "VALUES (%s, %s, %s::jsonb) ON CONFLICT (local_id) DO UPDATE "
                "SET tenant = excluded.tenant, record = excluded.record",
                (local_id, tenant, orjson.dumps(record).decode()))
        await self.write(work)

    async def delete_context_record(self, local_id: str) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute("DELETE FROM jsonld_contexts WHERE local_id = %s", (local_id,))
        await self.write(work)

    async def context_records(self) -> list[JsonObject]:
        async def work(conn: AsyncConnection[Any]) -> list[JsonObject]:
            cursor = await conn.execute(
                "SELECT record FROM jsonld_contexts ORDER BY local_id COLLATE \"C\"")
            return [row[0] for row in await cursor.fetchall()]
        return await self.read(work)
