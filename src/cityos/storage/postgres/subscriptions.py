"""Subscriptions on PostgreSQL (storage.base.SubscriptionStore), a sibling of
PostgresStore sharing its connection pool. The table comes from migration 0006; delivery
counters are columns of their own, so counting notifications is one small UPDATE per
Subscription and batch of outcomes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from psycopg import AsyncConnection

from cityos.storage.base import DeliveryTally, SubscriptionRecord
from cityos.storage.postgres.delivery_log import ASYNC_COMMIT
from cityos.storage.postgres.store import PostgresStore

_COLUMNS = ("tenant, doc, context, times_sent, times_failed, consecutive_errors, "
            "last_notification, last_success, last_failure, last_status")
_INSERT = ("INSERT INTO subscriptions (tenant, id, doc, context) "
           "VALUES (%s, %s, %s::jsonb, %s::jsonb) ON CONFLICT (tenant, id) DO NOTHING")
_REPLACE = ("UPDATE subscriptions SET doc = %s::jsonb, context = %s::jsonb "
            "WHERE tenant = %s AND id = %s")
_DELETE = "DELETE FROM subscriptions WHERE tenant = %s AND id = %s"
_GET = f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant = %s AND id = %s"
_PAGE = (f"SELECT {_COLUMNS} FROM subscriptions WHERE tenant = %s ORDER BY pk "
         "LIMIT %s OFFSET %s")
_COUNT = "SELECT count(*) FROM subscriptions WHERE tenant = %s"
_ALL = f"SELECT {_COLUMNS} FROM subscriptions ORDER BY pk"
_BUMP = "UPDATE subscription_generation SET generation = generation + 1"
_GENERATION = "SELECT generation FROM subscription_generation"
_COUNT_DELIVERIES = (
    "UPDATE subscriptions SET times_sent = times_sent + %s, "
    "times_failed = times_failed + %s, "
    "consecutive_errors = CASE WHEN %s THEN %s ELSE consecutive_errors + %s END, "
    "last_notification = %s, last_success = coalesce(%s, last_success), "
    "last_failure = coalesce(%s, last_failure), last_status = %s "
    "WHERE tenant = %s AND id = %s")


def _record(row: tuple[Any, ...]) -> SubscriptionRecord:
    tenant, doc, context, sent, failed, errors, last, success, failure, status = row
    return SubscriptionRecord(
        tenant=tenant, doc=doc, context=context, times_sent=int(sent),
        times_failed=int(failed), consecutive_errors=int(errors), last_notification=last,
        last_success=success, last_failure=failure, last_status=status)


def _json(value: object) -> str:
    return orjson.dumps(value).decode()


class PostgresSubscriptionStore:
    """SubscriptionStore beside a PostgresStore (any number of processes may share it)."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store

    async def _changed(self, sql: str, params: tuple[Any, ...]) -> bool:
        """Run one subscription change; a change that happened also increments the
        generation, in the same transaction (other processes reload when it moved)."""
        async def work(conn: AsyncConnection[Any]) -> bool:
            changed = (await conn.execute(sql, params)).rowcount == 1
            if changed:
                await conn.execute(_BUMP)
            return changed
        return await self._store.write(work)

    async def generation(self) -> int:
        """How many subscription changes were ever committed (any process)."""
        async def work(conn: AsyncConnection[Any]) -> int:
            row = await (await conn.execute(_GENERATION)).fetchone()
            return 0 if row is None else int(row[0])
        return await self._store.read(work)

    async def insert_subscription(self, record: SubscriptionRecord) -> bool:
        return await self._changed(_INSERT, (record.tenant, record.id, _json(record.doc),
                                             _json(record.context)))

    async def replace_subscription(self, record: SubscriptionRecord) -> bool:
        return await self._changed(_REPLACE, (_json(record.doc), _json(record.context),
                                              record.tenant, record.id))

    async def delete_subscription(self, tenant: str, subscription_id: str) -> bool:
        return await self._changed(_DELETE, (tenant, subscription_id))

    async def get_subscription(self, tenant: str,
                               subscription_id: str) -> SubscriptionRecord | None:
        async def work(conn: AsyncConnection[Any]) -> SubscriptionRecord | None:
            row = await (await conn.execute(_GET, (tenant, subscription_id))).fetchone()
            return None if row is None else _record(row)
        return await self._store.read(work)

    async def query_subscriptions(self, tenant: str, limit: int,
                                  offset: int) -> tuple[list[SubscriptionRecord], int]:
        async def work(conn: AsyncConnection[Any]) -> tuple[list[SubscriptionRecord], int]:
            rows = await (await conn.execute(_PAGE, (tenant, limit, offset))).fetchall()
            counted = await (await conn.execute(_COUNT, (tenant,))).fetchone()
            return [_record(r) for r in rows], int(counted[0]) if counted else 0
        return await self._store.read(work)

    async def all_subscriptions(self) -> list[SubscriptionRecord]:
        async def work(conn: AsyncConnection[Any]) -> list[SubscriptionRecord]:
            return [_record(r) for r in await (await conn.execute(_ALL)).fetchall()]
        return await self._store.read(work)

    async def record_deliveries(self, tallies: Sequence[DeliveryTally]) -> None:
        """Counted without waiting for the WAL flush (delivery_log.ASYNC_COMMIT): a server
        crash may lose the last counts, never a notification."""
        rows = [(t.sent, t.failed, t.any_success, t.trailing_failures, t.trailing_failures,
                 t.last_notification, t.last_success, t.last_failure, t.last_status,
                 t.tenant, t.subscription_id) for t in tallies]

        async def work(conn: AsyncConnection[Any]) -> None:
            await conn.execute(ASYNC_COMMIT)
            async with conn.cursor() as cursor:
                await cursor.executemany(_COUNT_DELIVERIES, rows)
        if rows:
            await self._store.write(work)
