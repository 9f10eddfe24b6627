"""Stored JSON-LD @contexts (the /jsonldContexts store), one row per context."""

from __future__ import annotations

import sqlite3

import orjson

from cityos.ngsild.types import JsonObject

CONTEXT_SCHEMA = """
CREATE TABLE IF NOT EXISTS jsonld_contexts (local_id TEXT PRIMARY KEY, tenant TEXT NOT NULL,
                                            record TEXT NOT NULL) WITHOUT ROWID;
"""


def put_record(conn: sqlite3.Connection, local_id: str, tenant: str, record: JsonObject) -> None:
    conn.execute("INSERT INTO jsonld_contexts (local_id, tenant, record) VALUES (?, ?, ?) "
                 "ON CONFLICT (local_id) DO UPDATE SET tenant = excluded.tenant, "
                 "record = excluded.record", (local_id, tenant, orjson.dumps(record).decode()))


def delete_record(conn: sqlite3.Connection, local_id: str) -> None:
    conn.execute("DELETE FROM jsonld_contexts WHERE local_id = ?", (local_id,))


def all_records(conn: sqlite3.Connection) -> list[JsonObject]:
    return [orjson.loads(row[0]) for row in
            conn.execute("SELECT record FROM jsonld_contexts ORDER BY local_id")]
