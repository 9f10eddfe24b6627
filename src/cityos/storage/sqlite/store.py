"""The embedded SQLite backend: WAL, one writer thread, reader connections per thread."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import orjson

from cityos.ngsild.types import JsonObject
from cityos.storage.base import (
    AttributeSummary,
    EntityQuery,
    MutationResult,
    Mutator,
    QueryPage,
    TypeSummary,
)
from cityos.storage.sqlite import context_records, reads
from cityos.storage.sqlite.checkpoints import Checkpointer, configure_writer
from cityos.storage.sqlite.mutations import MutationJob, WriteObserver, epoch_micros
from cityos.storage.sqlite.schema import connect, create_schema, refresh_statistics
from cityos.storage.sqlite.writer import WriterThread

T = TypeVar("T")
_GET = "SELECT doc FROM entities WHERE tenant = ? AND id = ?"
_EXPIRING = ("SELECT e.tenant, e.id FROM entity_expiry x JOIN entities e ON e.pk = x.pk "
             "WHERE x.at <= ? ORDER BY x.at LIMIT ?")


class SqliteStore:
    """EntityStore on one SQLite file. Point reads run on the event loop's own connection
    (a primary-key lookup is microseconds); queries run on a small reader pool."""

    def __init__(self, path: str, *, readers: int = 4, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._synchronous = synchronous
        self._readers = readers
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._writer: WriterThread | None = None
        self._checkpointer: Checkpointer | None = None
        self._loop_conn: sqlite3.Connection | None = None
        self._known_tenants: set[str] = set()
        # Sibling stores (temporal history, change journal) add theirs before open().
        self.write_observers: list[WriteObserver] = []
        self.extra_schema: list[str] = []  # their tables, created by open()
        # Called on the writer thread after it rolled a transaction back (caches of rows
        # written in it must forget them).
        self.rollback_listeners: list[Callable[[], None]] = []
        # Called on the writer thread right after each COMMIT (before the writers' callers
        # hear of it), for sibling stores that publish what a transaction wrote.
        self.commit_listeners: list[Callable[[], None]] = []

    async def open(self) -> None:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        writer_conn = connect(self.path, writer=True, synchronous=self._synchronous)
        create_schema(writer_conn)
        for ddl in self.extra_schema:
            writer_conn.executescript(ddl)
        refresh_statistics(writer_conn)
        self._writer = WriterThread(writer_conn, refresh_statistics,
                                    on_rollback=self.rollback_listeners,
                                    on_commit=self.commit_listeners)
        self._writer.start()
        if self.path != ":memory:":
            configure_writer(writer_conn)
            self._checkpointer = Checkpointer(lambda: connect(self.path, writer=False))
            self._checkpointer.start()
        self._pool = ThreadPoolExecutor(self._readers, thread_name_prefix="cityos-sqlite-read")
        self._loop_conn = connect(self.path, writer=False)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.stop()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._loop_conn is not None:
            self._loop_conn.close()

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, writer=False)
            self._local.conn = conn
        return conn

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: work(self._reader()))

    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on a reader connection of the pool (for sibling stores)."""
        return await self._read(work)

    def read_point(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run a primary-key lookup on the event loop's own connection, like get_entity
        (microseconds: cheaper than a hop to the reader pool; for sibling stores)."""
        return work(self._conn())

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the writer thread, inside a group-committed transaction; returns
        once it is committed (for sibling stores)."""
        assert self._writer is not None, "store is not open"
        result: T = await self._writer.submit(work)
        return result

    def _conn(self) -> sqlite3.Connection:
        assert self._loop_conn is not None, "store is not open"
        return self._loop_conn

    async def tenant_exists(self, tenant: str) -> bool:
        if tenant in self._known_tenants:
            return True
        row = self._conn().execute("SELECT 1 FROM tenants WHERE name = ?", (tenant,)).fetchone()
        if row:
            self._known_tenants.add(tenant)
        return row is not None

    async def tenants(self) -> list[str]:
        return [r[0] for r in self._conn().execute("SELECT name FROM tenants ORDER BY name")]

    async def get_entity(self, tenant: str, entity_id: str) -> JsonObject | None:
        row = self._conn().execute(_GET, (tenant, entity_id)).fetchone()
        return orjson.loads(row[0]) if row else None

    async def query_entities(self, tenant: str, query: EntityQuery) -> QueryPage:
        return await self._read(lambda conn: reads.query_entities(conn, tenant, query))

    async def apply(self, tenant: str,
                    mutations: Sequence[tuple[str, Mutator]]) -> list[MutationResult]:
        assert self._writer is not None, "store is not open"
        results: list[MutationResult] = await self._writer.submit(
            MutationJob(tenant, mutations, self.write_observers))
        self._known_tenants.add(tenant)
        return results

    async def expiring_entities(self, now: datetime, limit: int) -> list[tuple[str, str]]:
        rows = self._conn().execute(_EXPIRING, (epoch_micros(now), limit)).fetchall()
        return [(tenant, entity_id) for tenant, entity_id in rows]

    async def type_summaries(self, tenant: str) -> list[TypeSummary]:
        return await self._read(lambda conn: reads.type_summaries(conn, tenant))

    async def attribute_summaries(self, tenant: str) -> list[AttributeSummary]:
        return await self._read(lambda conn: reads.attribute_summaries(conn, tenant))

    # -- the /jsonldContexts store (storage.base.ContextRecords) ---------------------------
    async def put_context_record(self, local_id: str, tenant: str, record: JsonObject) -> None:
        assert self._writer is not None, "store is not open"
        await self._writer.submit(
            lambda conn: context_records.put_record(conn, local_id, tenant, record))

    async def delete_context_record(self, local_id: str) -> None:
        assert self._writer is not None, "store is not open"
        await self._writer.submit(lambda conn: context_records.delete_record(conn, local_id))

    async def context_records(self) -> list[JsonObject]:
        return context_records.all_records(self._conn())
