"""The change journal on SQLite: written by a write observer inside the entity write
transaction, so a change and its journal row commit (or roll back) together.

The observer also keeps the changes this process committed last in memory, so the matcher
reads them without reading back and parsing the rows it has just written; the rows stay
the record (after a restart, or when another process wrote in between, the matcher reads
them from the table)."""

from __future__ import annotations

import itertools
import sqlite3
import threading
from collections import deque
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
_LAST_SEQ = "SELECT last_insert_rowid()"
_MAX_SEQ = "SELECT max(seq) FROM change_journal"
RECENT_LIMIT = 20_000  # changes kept in memory for the matcher; older ones are read back
CURSOR_NAME = "subscription-matcher"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json(doc: JsonObject | None) -> str | None:
    return None if doc is None else orjson.dumps(doc).decode()


class JournalObserver:
    """A WriteObserver that records each change while `active`. Off while no subscription
    exists, so writes then cost nothing more than this attribute check.

    Written rows are held as pending entries until their transaction commits
    (`committed`, on the writer thread) and dropped if it rolls back; `recent_after`
    gives the matcher the committed ones. The documents are shared, never copied: no one
    changes a stored document in place (writes build new ones)."""

    def __init__(self, recent_limit: int = RECENT_LIMIT) -> None:
        self.active = False
        self._pending: list[JournalEntry] = []
        self._recent: deque[JournalEntry] = deque()
        self._recent_limit = recent_limit
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None  # the writer's, once it wrote here

    def __call__(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                 before: JsonObject | None, after: JsonObject | None) -> None:
        if self.active:
            now = _now()
            self._conn = conn
            row = conn.execute(_INSERT, (tenant, entity_id, _json(before), _json(after), now))
            self._pending.append(JournalEntry(int(row.lastrowid or 0), tenant, entity_id,
                                              before, after, now))

    def observe_batch(self, conn: sqlite3.Connection, tenant: str,
                      changes: Sequence[tuple[str, JsonObject | None, JsonObject | None]]
                      ) -> None:
        """The changes of a whole write job, in their order, with one statement. The
        transaction holds the database's write lock, so their seqs are consecutive."""
        if self.active and changes:
            now = _now()
            self._conn = conn
            conn.executemany(_INSERT, [(tenant, entity_id, _json(before), _json(after), now)
                                       for entity_id, before, after in changes])
            first = int(conn.execute(_LAST_SEQ).fetchone()[0]) - len(changes) + 1
            self._pending.extend(
                JournalEntry(seq, tenant, entity_id, before, after, now)
                for seq, (entity_id, before, after) in zip(itertools.count(first), changes))

    def committed(self) -> None:
        """The transaction committed: its changes become readable from memory."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        # The last row written must be the table's last: otherwise something undid rows
        # inside the transaction (or another process wrote since) and memory is not to be
        # trusted; the matcher then reads the table.
        assert self._conn is not None
        trusted = self._conn.execute(_MAX_SEQ).fetchone()[0] == pending[-1].seq
        with self._lock:
            if not trusted:
                self._recent.clear()
                return
            self._recent.extend(pending)
            for _ in range(len(self._recent) - self._recent_limit):
                self._recent.popleft()

    def rolled_back(self) -> None:
        self._pending = []

    def recent_after(self, after: int, limit: int) -> list[JournalEntry] | None:
        """Up to `limit` committed changes following seq `after`, if memory holds them
        without a gap; None when the table must be read (changes from before this process
        started or from another process, changes dropped for the limit, or none at all).
        Changes at or below `after` are forgotten: the one reader only moves forward."""
        with self._lock:
            recent = self._recent
            while recent and recent[0].seq <= after:
                recent.popleft()
            if not recent or recent[0].seq != after + 1:
                return None
            taken = list(itertools.islice(recent, limit))
        if taken[-1].seq != after + len(taken):
            return None
        return taken


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
