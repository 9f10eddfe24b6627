"""DeliveryLog on PostgreSQL (storage.delivery): the change journal, written in the entity
write transaction by a write observer, and the notification outbox.

Several processes may share the database:
- Matching: only the process holding the matcher lock (delivery_session.py) reads the
  journal; the others read nothing until the holder's session ends. The journal has no
  cursor: PostgreSQL hands out `seq` values when rows are inserted, not when they commit,
  so a change may become visible after one with a higher seq. Rows are therefore consumed
  by deleting exactly the rows matched, in the transaction that stores their
  notifications; a late row is read by the next pass. Changes of one entity commit in seq
  order (the entity row is locked until commit), so per-entity order holds.
- Sending: every outbox row is owned by the session that inserted or claimed it; a
  process resuming (`pending`) claims only rows without a live owner, with
  `FOR UPDATE SKIP LOCKED`, so two processes never deliver the same row at once.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.ngsild.types import JsonObject
from cityos.storage.delivery import JournalEntry, NotificationRecord, OutboxEntry
from cityos.storage.postgres import outbox_sql
from cityos.storage.postgres.delivery_session import DeliverySession
from cityos.storage.postgres.entity_rows import EntityChange
from cityos.storage.postgres.store import PostgresStore

_JOURNAL_INSERT = ("INSERT INTO change_journal (tenant, entity_id, before, after, "
                   "committed_at) VALUES (%s, %s, %s, %s, %s)")
_JOURNAL_INSERT_BATCH = (
    "INSERT INTO change_journal (tenant, entity_id, before, after, committed_at) "
    "SELECT %s, r.id, r.before, r.after, %s FROM unnest(%s::text[], %s::text[], %s::text[]) "
    "WITH ORDINALITY AS r(id, before, after, n) ORDER BY r.n")
_JOURNAL_READ = ("SELECT seq, tenant, entity_id, before, after, committed_at "
                 "FROM change_journal WHERE seq <> ALL(%s::bigint[]) ORDER BY seq LIMIT %s")
_JOURNAL_CONSUME = "DELETE FROM change_journal WHERE seq = ANY(%s::bigint[])"
_JOURNAL_COUNT = "SELECT count(*) FROM change_journal"


# Delivery bookkeeping (matched changes → outbox, removals, retry schedules) commits
# without waiting for the WAL flush: a server crash may undo the last of these
# transactions, each as a whole, which only ever re-sends (journal rows come back and are
# matched again, a removed notification comes back): at-least-once holds. Entity writes,
# and with them the journal rows, keep the server's synchronous_commit.
ASYNC_COMMIT = "SET LOCAL synchronous_commit = off"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(doc: JsonObject | None) -> str | None:
    return None if doc is None else orjson.dumps(doc).decode()


def _loads(text: str | None) -> JsonObject | None:
    return None if text is None else orjson.loads(text)


class JournalObserver:
    """A WriteObserver recording each change while `active` (off while this process knows
    of no subscription, so writes then cost nothing more)."""

    def __init__(self) -> None:
        self.active = False

    async def __call__(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                       before: JsonObject | None, after: JsonObject | None) -> None:
        if self.active:
            await conn.execute(_JOURNAL_INSERT, (tenant, entity_id, _json(before),
                                                 _json(after), _now()))

    async def observe_batch(self, conn: AsyncConnection[Any], tenant: str,
                            changes: Sequence[EntityChange]) -> None:
        """A batch's changes in one statement, in change order (seq order)."""
        if self.active:
            await conn.execute(_JOURNAL_INSERT_BATCH, (
                tenant, _now(), [c.entity_id for c in changes],
                [_json(c.before) for c in changes], [_json(c.after) for c in changes]))


class PostgresDeliveryLog:
    """Registers the journal observer on `store`; create it before `store.open()`."""

    shared = True

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self.session = DeliverySession(store.url)
        self.observer = JournalObserver()
        store.write_observers.append(self.observer)
        store.on_close.append(self.session.close)
        # Journal rows handed to the matcher and not yet consumed (one matcher per
        # process: the engine runs one pass at a time).
        self._handed: list[int] = []
        self._handed_by: tuple[int, datetime] | None = None

    def set_journal_active(self, active: bool) -> None:
        self.observer.active = active

    async def cursor(self) -> int:
        """Always 0: consumed rows are deleted, so every row left is pending."""
        return 0

    async def read_changes(self, after: int, limit: int) -> list[JournalEntry]:
        """Up to `limit` unconsumed changes not handed out yet in this process, in seq
        order (`after` is not needed: see the module doc); none unless this process is
        the matcher."""
        if not await self.session.lead():
            return []
        conn = await self.session.connection()
        if self._handed_by != self.session.owner:  # a new session: start afresh
            self._handed, self._handed_by = [], self.session.owner
        rows = await (await conn.execute(_JOURNAL_READ, (self._handed, limit))).fetchall()
        entries = [JournalEntry(seq, tenant, entity_id, _loads(before), _loads(doc),
                                committed_at)
                   for seq, tenant, entity_id, before, doc, committed_at in rows]
        self._handed.extend(e.seq for e in entries)
        return entries

    async def commit_matched(self, records: Sequence[NotificationRecord],
                             cursor: int) -> list[OutboxEntry]:
        """Store `records` and consume the changes handed out so far up to seq `cursor`,
        in one transaction (all of them, in the engine: it commits after matching)."""
        owner = await self.session.identity()
        handed, now = [seq for seq in self._handed if seq <= cursor], time.time()

        async def work(conn: AsyncConnection[Any]) -> list[OutboxEntry]:
            await conn.execute(ASYNC_COMMIT)
            entries = await _insert(conn, records, now, owner)
            if handed:
                await conn.execute(_JOURNAL_CONSUME, (handed,))
            return entries

        consumed = set(handed)
        try:
            entries = await self._store.write(work)
        finally:
            # Consumed, or (the transaction failed) to be read and matched again.
            self._handed = [seq for seq in self._handed if seq not in consumed]
        return entries

    async def add(self, records: Sequence[NotificationRecord]) -> list[OutboxEntry]:
        owner, now = await self.session.identity(), time.time()
        return await self._store.write(lambda conn: _insert(conn, records, now, owner))

    async def pending(self, after_id: int, limit: int) -> list[OutboxEntry]:
        """Claim up to `limit` undelivered notifications (id > `after_id`) that no other
        live process owns, and return them in id order."""
        return await self._claim(outbox_sql.CLAIM, after_id, limit)

    async def take_over(self, after_id: int, limit: int) -> list[OutboxEntry]:
        """Claim up to `limit` notifications (id > `after_id`) nobody owns or whose owner
        process ended, in id order."""
        return await self._claim(outbox_sql.TAKE_OVER, after_id, limit)

    async def _claim(self, sql: str, after_id: int, limit: int) -> list[OutboxEntry]:
        pid, since = await self.session.identity()
        params = {"pid": pid, "since": since, "after": after_id, "limit": limit}

        async def work(conn: AsyncConnection[Any]) -> list[OutboxEntry]:
            rows = await (await conn.execute(sql, params)).fetchall()
            return sorted((outbox_sql.entry(r) for r in rows), key=lambda e: e.id)
        return await self._store.write(work)

    async def remove(self, ids: Sequence[int]) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(ASYNC_COMMIT)
            await conn.execute(outbox_sql.DELETE, (list(ids),))
        await self._store.write(work)

    async def reschedule(self, entry_id: int, attempts: int, next_attempt_at: float,
                         error: str) -> None:
        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(ASYNC_COMMIT)
            await conn.execute(outbox_sql.RESCHEDULE,
                               (attempts, next_attempt_at, error[:500], entry_id))
        await self._store.write(work)

    async def backlog(self) -> tuple[int, int]:
        async def work(conn: AsyncConnection[Any]) -> tuple[int, int]:
            journal = await (await conn.execute(_JOURNAL_COUNT)).fetchone()
            outbox = await (await conn.execute(outbox_sql.COUNT)).fetchone()
            return (int(journal[0]) if journal else 0, int(outbox[0]) if outbox else 0)
        return await self._store.read(work)


async def _insert(conn: AsyncConnection[Any], records: Sequence[NotificationRecord],
                  now: float, owner: tuple[int, datetime]) -> list[OutboxEntry]:
    if not records:
        return []
    cursor = await conn.execute(outbox_sql.INSERT,
                                outbox_sql.insert_params(records, now, owner))
    ids = [row[0] for row in await cursor.fetchall()]
    return [OutboxEntry(i, r, now) for i, r in zip(ids, records, strict=True)]
