"""SQLite's own cost of the rows the server wrote: every row of every table of a loaded
database (entities, type rows, geo rows and R*Tree, value index, temporal history, audit)
inserted again with `executemany` into a fresh file with the server's schema and
connection settings, one transaction per 1,000 entities' share of each table.

This is the floor under the batch-upsert scenario: no request, no JSON, no validation,
only SQLite inserting the same rows into the same indexes.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

Rows = list[tuple[Any, ...]]


def _virtual_tables(source: sqlite3.Connection) -> set[str]:
    return {name for (name,) in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL%'")}


def _shadow(name: str, virtual: set[str]) -> bool:
    """Is `name` one of the tables SQLite keeps behind a virtual table (R*Tree nodes)?"""
    return any(name.startswith(v + "_") for v in virtual)


def _copied_tables(source: sqlite3.Connection) -> dict[str, Rows]:
    """Each table's rows in rowid order, leaving out SQLite's own and R*Tree shadow tables
    (the R*Tree is filled through its virtual table, as the server does)."""
    virtual = _virtual_tables(source)
    names = [name for (name,) in source.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
    tables: dict[str, Rows] = {}
    for name in names:
        if _shadow(name, virtual):
            continue
        rows = source.execute(f'SELECT * FROM "{name}"').fetchall()
        if rows:
            tables[name] = rows
    return tables


def _empty_copy(source: sqlite3.Connection, path: Path) -> sqlite3.Connection:
    """A fresh file with the server's schema (and any table a module added) and no rows."""
    from cityos.storage.sqlite.schema import connect, create_schema

    target: sqlite3.Connection = connect(str(path), writer=True)
    create_schema(target)
    present = {name for (name,) in target.execute("SELECT name FROM sqlite_master")}
    virtual = _virtual_tables(source)
    for name, sql in source.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL"):
        if name not in present and not _shadow(name, virtual) \
                and not name.startswith("sqlite_"):
            target.execute(sql)
    for (name,) in target.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND sql NOT LIKE 'CREATE VIRTUAL%'").fetchall():
        if not _shadow(name, virtual):
            target.execute(f'DELETE FROM "{name}"')
    return target


def _insert_share(target: sqlite3.Connection, tables: dict[str, Rows], part: int,
                  parts: int) -> None:
    target.execute("BEGIN IMMEDIATE")
    for name, rows in tables.items():
        start, end = len(rows) * part // parts, len(rows) * (part + 1) // parts
        marks = ",".join("?" * len(rows[0]))
        target.executemany(f'INSERT INTO "{name}" VALUES ({marks})', rows[start:end])
    target.execute("COMMIT")


def every_row_floor(db_path: Path, entities: int, batch: int) -> dict[str, Any]:
    """Entities/s at which SQLite alone inserts every row the server wrote for `entities`
    entities, `batch` entities' share per transaction."""
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    tables = _copied_tables(source)
    parts = max(1, entities // batch)
    with tempfile.TemporaryDirectory(prefix="cityos-floor-") as tmp:
        target = _empty_copy(source, Path(tmp) / "floor.db")
        start = time.perf_counter()
        for part in range(parts):
            _insert_share(target, tables, part, parts)
        seconds = time.perf_counter() - start
        target.close()
    source.close()
    rows = {name: len(r) for name, r in tables.items()}
    return {
        "entities_per_s": round(entities / seconds, 1),
        "seconds": round(seconds, 3),
        "rows_per_entity": round(sum(rows.values()) / entities, 2),
        "rows_by_table": rows,
    }
