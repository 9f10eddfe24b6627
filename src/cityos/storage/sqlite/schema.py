"""SQLite schema and connection settings for the embedded backend."""

from __future__ import annotations

import sqlite3

from cityos.storage.sqlite.context_records import CONTEXT_SCHEMA
from cityos.storage.sqlite.geo_sql import GEO_SCHEMA
from cityos.storage.sqlite.query_sql import register_sql_functions
from cityos.storage.sqlite.value_index import VALUE_SCHEMA

SCHEMA_VERSION = 1  # also written as PRAGMA user_version

ENTITY_SCHEMA = """
CREATE TABLE IF NOT EXISTS tenants (name TEXT PRIMARY KEY) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entities (
    pk INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS entity_types (
    pk INTEGER NOT NULL,
    tenant TEXT NOT NULL,
    type TEXT NOT NULL,
    PRIMARY KEY (tenant, type, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entity_types_pk ON entity_types (pk);
-- Lets a tenant's entities be read in pk order, so LIMIT stops early with no sort.
CREATE INDEX IF NOT EXISTS entities_tenant_pk ON entities (tenant, pk);
-- Transient entities (V1.9.1 §4.22): when the next thing in each entity expires, in epoch
-- microseconds, so the sweeper finds due entities without scanning.
CREATE TABLE IF NOT EXISTS entity_expiry (pk INTEGER PRIMARY KEY, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS entity_expiry_at ON entity_expiry (at);
"""


SYNCHRONOUS_MODES = {"NORMAL": "PRAGMA synchronous=NORMAL", "FULL": "PRAGMA synchronous=FULL"}


def connect(path: str, *, writer: bool, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """Open a connection in WAL mode. Writers commit with synchronous=NORMAL: in WAL mode a
    committed transaction survives a process crash (SIGKILL); only an OS crash or power loss
    can lose the last commits, which `CITYOS_SQLITE_SYNCHRONOUS=FULL` closes."""
    if synchronous not in SYNCHRONOUS_MODES:
        raise ValueError(f"sqlite synchronous mode must be NORMAL or FULL, not {synchronous!r}")
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                           timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=30000")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA mmap_size=268435456")
    conn.execute("PRAGMA temp_store=MEMORY")
    if writer:
        conn.execute(SYNCHRONOUS_MODES[synchronous])
    register_sql_functions(conn)
    return conn


def create_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(ENTITY_SCHEMA + GEO_SCHEMA + VALUE_SCHEMA + CONTEXT_SCHEMA)
    conn.execute("PRAGMA user_version=1")


def refresh_statistics(conn: sqlite3.Connection) -> bool:
    """ANALYZE when the planner's statistics are missing or the entity count has more than
    doubled since they were gathered: the choice between walking a tenant in pk order and
    probing an index depends on them. Returns whether it analyzed."""
    row = conn.execute("SELECT stat FROM sqlite_stat1 WHERE tbl = 'entities' LIMIT 1"
                       ).fetchone() if _has_stat_table(conn) else None
    analyzed = int(row[0].split()[0]) if row else 0
    current = conn.execute("SELECT coalesce(max(pk), 0) FROM entities").fetchone()[0]
    if current > 2 * analyzed + 1000:
        conn.execute("ANALYZE")
        return True
    return False


def _has_stat_table(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'"
                        ).fetchone() is not None
