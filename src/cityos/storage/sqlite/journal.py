"""The change journal on SQLite: written by a write observer inside the entity write
transaction, so a change and its journal row commit (or roll back) together."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime

import orjson

from cityos.ngsild.types import JsonObject
from cityos.storage.delivery import JournalEntry

# AUTOINCREMENT: seq must never be reused once pruned rows are gone, or a new change could
# get a seq at or below the cursor and never be matched.
JOURNAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS change_journal (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before TEXT,
    after TEXT,
    committed_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_cursor (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL
);
"""
_INSERT = ("INSERT INTO change_journal (tenant, entity_id, before, after, committed_at) "
           "VALUES (?, ?, ?, ?, ?)")
_READ = ("SELECT seq, tenant, entity_id, before, after, committed_at FROM change_journal "
         "WHERE seq > ? ORDER BY seq LIMIT ?")
_PRUNE = "DELETE FROM change_journal WHERE seq <= ?"
_CURSOR = "SELECT seq FROM delivery_cursor WHERE name = ?"
_SET_CURSOR = ("INSERT INTO delivery_cursor (name, seq) VALUES (?, ?) "
               "ON CONFLICT (name) DO UPDATE SET seq = excluded.seq")
_COUNT = "SELECT count(*) FROM change_journal"
CURSOR_NAME = "subscription-matcher"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(doc: JsonObject | None) -> str | None:
    return None if doc is None else orjson.dumps(doc).decode()


class JournalObserver:
    """A WriteObserver that records each change while `active`. Off while no subscription
    exists, so writes then cost nothing more than this attribute check."""

    def __init__(self) -> None:
        self.active = False

    def __call__(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                 before: JsonObject | None, after: JsonObject | None) -> None:
        if self.active:
            conn.execute(_INSERT, (tenant, entity_id, _json(before), _json(after), _now()))

    def observe_batch(self, conn: sqlite3.Connection, tenant: str,
                      changes: Sequence[tuple[str, JsonObject | None, JsonObject | None]]
                      ) -> None:
        """The changes of a whole write job, in their order, with one statement."""
        if self.active:
            now = _now()
            conn.executemany(_INSERT, [(tenant, entity_id, _json(before), _json(after), now)
                                       for entity_id, before, after in changes])


def read_changes(conn: sqlite3.Connection, after: int, limit: int) -> list[JournalEntry]:
    return [JournalEntry(seq, tenant, entity_id,
                         orjson.loads(before) if before is not None else None,
                         orjson.loads(doc) if doc is not None else None, committed_at)
            for seq, tenant, entity_id, before, doc, committed_at
            in conn.execute(_READ, (after, limit))]


def cursor(conn: sqlite3.Connection) -> int:
    row = conn.execute(_CURSOR, (CURSOR_NAME,)).fetchone()
    return int(row[0]) if row else 0


def advance(conn: sqlite3.Connection, seq: int) -> None:
    """Set the cursor and drop the changes it has passed (there is one consumer)."""
    conn.execute(_SET_CURSOR, (CURSOR_NAME, seq))
    conn.execute(_PRUNE, (seq,))


def count(conn: sqlite3.Connection) -> int:
    return int(conn.execute(_COUNT).fetchone()[0])
