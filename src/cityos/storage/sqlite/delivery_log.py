"""DeliveryLog on the SQLite store: journal and outbox tables in the entity database,
written through the store's single writer so they share its transactions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence

from cityos.storage.delivery import JournalEntry, NotificationRecord, OutboxEntry
from cityos.storage.sqlite import journal, outbox
from cityos.storage.sqlite.store import SqliteStore


class SqliteDeliveryLog:
    """Registers the journal observer and the tables on `store`; create it before
    `store.open()`."""

    shared = False  # one process: the outbox is read once, at start

    def __init__(self, store: SqliteStore, *,
                 recent_changes: int = journal.RECENT_LIMIT) -> None:
        self._store = store
        self.observer = journal.JournalObserver(recent_changes)
        # Set when the journal is off and a read of its table found nothing: with no
        # subscription the matcher is still woken by every commit, and need not ask.
        self._drained = False
        store.write_observers.append(self.observer)
        store.commit_listeners.append(self.observer.committed)
        store.rollback_listeners.append(self.observer.rolled_back)
        store.extra_schema.extend([journal.JOURNAL_SCHEMA, outbox.OUTBOX_SCHEMA])

    def set_journal_active(self, active: bool) -> None:
        self.observer.active = active
        self._drained = False

    async def cursor(self) -> int:
        return await self._store.read(journal.cursor)

    async def read_changes(self, after: int, limit: int) -> list[JournalEntry]:
        """From memory when this process committed them last (the usual case), else on
        the event loop's own connection: a range of the journal's primary key, read right
        after the commit that announced it, is cheaper than a hop to the reader pool and
        back (which, with the loop busy, waits for the interpreter lock)."""
        recent = self.observer.recent_after(after, limit)
        if recent is not None:
            return recent
        if self._drained:  # journal off, its table read to the end: nothing can follow
            return []
        changes = self._store.read_point(
            lambda conn: journal.read_changes(conn, after, limit))
        self._drained = not changes and not self.observer.active
        return changes

    async def commit_matched(self, records: Sequence[NotificationRecord],
                             cursor: int) -> list[OutboxEntry]:
        now = time.time()

        def job(conn: sqlite3.Connection) -> list[OutboxEntry]:
            entries = outbox.insert(conn, records, now)
            journal.advance(conn, cursor)
            return entries
        return await self._store.write(job)

    async def add(self, records: Sequence[NotificationRecord]) -> list[OutboxEntry]:
        now = time.time()
        return await self._store.write(lambda conn: outbox.insert(conn, records, now))

    async def pending(self, after_id: int, limit: int) -> list[OutboxEntry]:
        return await self._store.read(lambda conn: outbox.pending(conn, after_id, limit))

    async def take_over(self, after_id: int, limit: int) -> list[OutboxEntry]:
        """Nothing: no other process delivers from this file."""
        return []

    async def remove(self, ids: Sequence[int]) -> None:
        await self._store.write(lambda conn: outbox.delete(conn, ids))

    async def reschedule(self, entry_id: int, attempts: int, next_attempt_at: float,
                         error: str) -> None:
        await self._store.write(lambda conn: outbox.reschedule(
            conn, entry_id, attempts, next_attempt_at, error))

    async def backlog(self) -> tuple[int, int]:
        return await self._store.read(lambda conn: (journal.count(conn), outbox.count(conn)))
