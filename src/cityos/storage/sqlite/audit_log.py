"""The audit trail on the embedded SQLite database (storage.audit.AuditLog).

A sibling of SqliteStore: its tables are created through the store's `extra_schema`;
appends run on the store's writer thread, which serialises them, so reading the head and
inserting the sealed batch happen in one transaction with nothing in between. The table
has no index but its primary key: every request appends a row, and an export by time
(forensics, rare) may scan.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from cityos.storage.audit import GENESIS, AuditEntry, AuditHead, AuditRecord, Sealer
from cityos.storage.sqlite.store import SqliteStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    subject TEXT NOT NULL,
    kind TEXT NOT NULL,
    client_id TEXT,
    issuer TEXT,
    tenant TEXT,
    operation TEXT NOT NULL,
    target TEXT,
    purpose TEXT,
    result TEXT NOT NULL,
    remote TEXT,
    request_id TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size INTEGER NOT NULL,
    anchor INTEGER NOT NULL DEFAULT 0,
    doc TEXT NOT NULL,
    PRIMARY KEY (size, anchor)
);
"""
COLUMNS = ("seq, time, subject, kind, client_id, issuer, tenant, operation, target, "
           "purpose, result, remote, request_id, prev_hash, hash")
_INSERT = f"INSERT INTO audit_log ({COLUMNS}) VALUES ({', '.join('?' * 15)})"
ROWS_PER_INSERT = 64
_INSERT_MANY = (f"INSERT INTO audit_log ({COLUMNS}) VALUES "
                + ", ".join([f"({', '.join('?' * 15)})"] * ROWS_PER_INSERT))
_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_ANCHOR = "SELECT doc FROM audit_checkpoints WHERE anchor = 1 ORDER BY size DESC LIMIT 1"
_LATEST = "SELECT doc FROM audit_checkpoints WHERE anchor = 0 ORDER BY size DESC LIMIT 1"
_SAVE = "INSERT OR REPLACE INTO audit_checkpoints (size, anchor, doc) VALUES (?, ?, ?)"
_PURGE = "DELETE FROM audit_log WHERE seq <= ?"
_PAGE = (f"SELECT {COLUMNS} FROM audit_log WHERE seq > ? AND time >= ? AND time < ? "
         "ORDER BY seq LIMIT ?")
# Bounds that include every ISO 8601 time.
TIME_MIN, TIME_MAX = "", "\uffff"


def insert_rows(conn: sqlite3.Connection, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert sealed rows, ROWS_PER_INSERT to a statement. The sqlite3 module lets go of
    the GIL for every statement step; one step per row made the writer thread and the
    event loop hand the GIL back and forth for every audit record under load."""
    chunk: list[Any] = []
    for row in rows:
        chunk.extend(row)
        if len(chunk) == ROWS_PER_INSERT * len(row):
            conn.execute(_INSERT_MANY, chunk)
            chunk = []
    if chunk:
        conn.executemany(_INSERT, [tuple(chunk[i:i + 15]) for i in range(0, len(chunk), 15)])


def row_of(record: AuditRecord) -> tuple[Any, ...]:
    e = record.entry
    return (record.seq, e.time, e.subject, e.kind, e.client_id, e.issuer, e.tenant,
            e.operation, e.target, e.purpose, e.result, e.remote, e.request_id,
            record.prev_hash, record.hash)


def record_of(row: Sequence[Any]) -> AuditRecord:
    seq, *fields, prev_hash, digest = row
    return AuditRecord(int(seq), AuditEntry(*fields), str(prev_hash), str(digest))


def _head(conn: sqlite3.Connection) -> AuditHead:
    row = conn.execute(_LAST).fetchone()
    if row is not None:
        return AuditHead(int(row[0]), str(row[1]))
    anchor = conn.execute(_ANCHOR).fetchone()
    if anchor is not None:
        doc = orjson.loads(anchor[0])
        return AuditHead(int(doc["size"]), str(doc["head"]))
    return GENESIS


class SqliteAuditLog:
    """AuditLog beside a SqliteStore; construct it before the store is opened."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        store.extra_schema.append(SCHEMA)

    async def append(self, entries: Sequence[Any], seal: Sealer) -> None:
        def work(conn: sqlite3.Connection) -> None:
            insert_rows(conn, seal(_head(conn), entries))

        await self._store.write(work)

    async def records(self, after_seq: int, limit: int, *, since: str | None = None,
                      until: str | None = None) -> list[AuditRecord]:
        bounds = (after_seq, since or TIME_MIN, until or TIME_MAX, limit)

        def work(conn: sqlite3.Connection) -> list[AuditRecord]:
            return [record_of(row) for row in conn.execute(_PAGE, bounds)]

        return await self._store.read(work)

    async def head(self) -> AuditHead:
        return await self._store.read(_head)

    async def anchor(self) -> dict[str, Any] | None:
        return await self._store.read(lambda conn: _doc(conn, _ANCHOR))

    async def latest_checkpoint(self) -> dict[str, Any] | None:
        return await self._store.read(lambda conn: _doc(conn, _LATEST))

    async def purge_through(self, seq: int, anchor: dict[str, Any]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(_SAVE, (int(anchor["size"]), 1, orjson.dumps(anchor).decode()))
            return conn.execute(_PURGE, (seq,)).rowcount

        return await self._store.write(work)

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        doc = orjson.dumps(checkpoint).decode()

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(_SAVE, (int(checkpoint["size"]), 0, doc))

        await self._store.write(work)


def _doc(conn: sqlite3.Connection, statement: str) -> dict[str, Any] | None:
    row = conn.execute(statement).fetchone()
    return None if row is None else dict(orjson.loads(row[0]))
