"""The notification outbox on SQLite: notifications waiting for (another) attempt."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import orjson

from cityos.storage.delivery import NotificationRecord, OutboxEntry

# AUTOINCREMENT: ids order notifications; they must keep growing after the table empties.
OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS notification_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    content_type TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT
);
"""
_INSERT = ("INSERT INTO notification_outbox (tenant, subscription_id, ordering_key, "
           "endpoint, content_type, body, headers, created_at) "
           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
_PENDING = ("SELECT id, tenant, subscription_id, ordering_key, endpoint, content_type, body, "
            "headers, created_at, attempts, next_attempt_at FROM notification_outbox "
            "WHERE id > ? ORDER BY id LIMIT ?")
_DELETE = "DELETE FROM notification_outbox WHERE id = ?"
_RESCHEDULE = ("UPDATE notification_outbox SET attempts = ?, next_attempt_at = ?, "
               "last_error = ? WHERE id = ?")
_COUNT = "SELECT count(*) FROM notification_outbox"


def insert(conn: sqlite3.Connection, records: Sequence[NotificationRecord],
           now: float) -> list[OutboxEntry]:
    entries = []
    for r in records:
        row = (r.tenant, r.subscription_id, r.ordering_key, orjson.dumps(r.endpoint).decode(),
               r.content_type, r.body, orjson.dumps(r.headers).decode(), now)
        entry_id = conn.execute(_INSERT, row).lastrowid
        assert entry_id is not None
        entries.append(OutboxEntry(entry_id, r, now))
    return entries


def pending(conn: sqlite3.Connection, after_id: int, limit: int) -> list[OutboxEntry]:
    entries = []
    for (entry_id, tenant, subscription_id, ordering_key, endpoint, content_type, body,
         headers, created_at, attempts, next_attempt_at) in conn.execute(
            _PENDING, (after_id, limit)):
        record = NotificationRecord(
            tenant, subscription_id, ordering_key, orjson.loads(endpoint), content_type,
            bytes(body), tuple((str(k), str(v)) for k, v in orjson.loads(headers)))
        entries.append(OutboxEntry(entry_id, record, created_at, attempts, next_attempt_at))
    return entries


def delete(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    conn.executemany(_DELETE, [(i,) for i in ids])


def reschedule(conn: sqlite3.Connection, entry_id: int, attempts: int,
               next_attempt_at: float, error: str) -> None:
    conn.execute(_RESCHEDULE, (attempts, next_attempt_at, error[:500], entry_id))


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute(_COUNT).fetchone()[0])
