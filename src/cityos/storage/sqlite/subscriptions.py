"""Subscriptions on the embedded SQLite database (storage.base.SubscriptionStore).

A sibling of SqliteStore: its table is created through the store's `extra_schema`, writes
go through the store's writer thread (group-committed), reads through its reader pool.
Delivery counters are columns of their own, so counting notifications is one small UPDATE
per Subscription and batch of outcomes that never rewrites the Subscription document.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from cityos.storage.base import DeliveryTally, SubscriptionRecord
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS subscriptions (
    pk INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    context TEXT NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    consecutive_errors INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    last_status TEXT,
    UNIQUE (tenant, id)
);
"""
_COLUMNS = ("tenant, doc, context, times_sent, times_failed, consecutive_errors, "
            "last_notification, last_success, last_failure, last_status")
_INSERT = ("INSERT OR IGNORE INTO subscriptions (tenant, id, doc, context) "
           "VALUES (?, ?, ?, ?)")
_REPLACE = "UPDATE subscriptions SET doc = ?, context = ? WHERE tenant = ? AND id = ?"
_DELETE = "DELETE FROM subscriptions WHERE tenant = ? AND id = ?"
_GET = f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant = ? AND id = ?"
_PAGE = f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant = ? ORDER BY pk LIMIT ? OFFSET ?"
_COUNT = "SELECT count(*) FROM subscriptions WHERE tenant = ?"
_ALL = f"SELECT {_COLUMNS} FROM subscriptions ORDER BY pk"
_COUNT_DELIVERIES = (
    "UPDATE subscriptions SET times_sent = times_sent + ?, times_failed = times_failed + ?, "
    "consecutive_errors = CASE WHEN ? THEN ? ELSE consecutive_errors + ? END, "
    "last_notification = ?, last_success = coalesce(?, last_success), "
    "last_failure = coalesce(?, last_failure), last_status = ? WHERE tenant = ? AND id = ?")


def tally_row(t: DeliveryTally) -> tuple[object, ...]:
    return (t.sent, t.failed, int(t.any_success), t.trailing_failures, t.trailing_failures,
            t.last_notification, t.last_success, t.last_failure, t.last_status, t.tenant,
            t.subscription_id)


def _record(row: tuple[object, ...]) -> SubscriptionRecord:
    tenant, doc, context, sent, failed, errors, last, success, failure, status = row
    return SubscriptionRecord(
        tenant=str(tenant), doc=orjson.loads(str(doc)), context=orjson.loads(str(context)),
        times_sent=int(str(sent)), times_failed=int(str(failed)),
        consecutive_errors=int(str(errors)),
        last_notification=None if last is None else str(last),
        last_success=None if success is None else str(success),
        last_failure=None if failure is None else str(failure),
        last_status=None if status is None else str(status))


class SqliteSubscriptionStore:
    """SubscriptionStore beside a SqliteStore; construct it before the store is opened."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def insert_subscription(self, record: SubscriptionRecord) -> bool:
        doc, context = orjson.dumps(record.doc).decode(), orjson.dumps(record.context).decode()

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(_INSERT, (record.tenant, record.id, doc, context))
            return cursor.rowcount == 1

        return await self._store.write(work)

    async def replace_subscription(self, record: SubscriptionRecord) -> bool:
        doc, context = orjson.dumps(record.doc).decode(), orjson.dumps(record.context).decode()

        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(_REPLACE, (doc, context, record.tenant,
                                           record.id)).rowcount == 1

        return await self._store.write(work)

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute(_DELETE, (tenant, subscription_id)).rowcount == 1

        return await self._store.write(work)

    async def get_subscription(self, tenant: str,
                               subscription_id: str) -> SubscriptionRecord | None:
        def work(conn: sqlite3.Connection) -> SubscriptionRecord | None:
            row = conn.execute(_GET, (tenant, subscription_id)).fetchone()
            return None if row is None else _record(row)

        return await self._store.read(work)

    async def query_subscriptions(self, tenant: str, limit: int,
                                  offset: int) -> tuple[list[SubscriptionRecord], int]:
        def work(conn: sqlite3.Connection) -> tuple[list[SubscriptionRecord], int]:
            rows = conn.execute(_PAGE, (tenant, limit, offset)).fetchall()
            total = conn.execute(_COUNT, (tenant,)).fetchone()[0]
            return [_record(r) for r in rows], int(total)

        return await self._store.read(work)

    async def all_subscriptions(self) -> list[SubscriptionRecord]:
        def work(conn: sqlite3.Connection) -> list[SubscriptionRecord]:
            return [_record(r) for r in conn.execute(_ALL)]

        return await self._store.read(work)

    async def record_deliveries(self, tallies: Sequence[DeliveryTally]) -> None:
        rows = [tally_row(t) for t in tallies]

        def work(conn: sqlite3.Connection) -> None:
            conn.executemany(_COUNT_DELIVERIES, rows)

        if rows:
            await self._store.write(work)
