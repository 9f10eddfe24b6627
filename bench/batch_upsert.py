"""Scenario 5: batch upsert, POST /ngsi-ld/v1/entityOperations/upsert with 1,000 entities
per request, into an empty database until it holds 100,000 entities (create path), then
10 batches again over existing entities (update path); entities/s.

Baseline: raw SQLite `INSERT … ON CONFLICT DO UPDATE` of the same JSON rows with
executemany, one transaction per 1,000 rows, on a fresh file with the server's schema and
connection settings, same run. Floor: SQLite inserting again every row the server wrote
for the created entities (all tables: type, geo, R*Tree, value index, temporal history;
bench._sqlite_floor), same run. The database loaded here is kept for the 100,000-entity
query scenarios when they run in the same process (bench.run_all).

Run: python -m bench.batch_upsert
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench import common
from bench._sqlite_floor import every_row_floor

N_ENTITIES = common.LARGE_N
BATCH = 1000
UPDATE_BATCHES = 10
TARGET_EPS = 50_000.0

_UPSERT = ("INSERT INTO entities (tenant, id, doc, created_at, modified_at) "
           "VALUES (?, ?, ?, ?, ?) ON CONFLICT (tenant, id) DO UPDATE SET "
           "doc = excluded.doc, modified_at = excluded.modified_at")


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds else 0.0


def _phase(durations: Sequence[float], batch: int = BATCH) -> dict[str, Any]:
    total = sum(durations)
    head, tail = durations[:10], durations[-10:]
    return {
        "batches": len(durations),
        "entities": len(durations) * batch,
        "seconds": round(total, 3),
        "entities_per_s": _rate(len(durations) * batch, total),
        "first_10_batches_entities_per_s": _rate(len(head) * batch, sum(head)),
        "last_10_batches_entities_per_s": _rate(len(tail) * batch, sum(tail)),
        "batch_latency": common.latency_summary(durations),
    }


def _connect(path: Path) -> sqlite3.Connection:
    """The server's schema and connection settings when importable, else equivalent DDL."""
    try:
        from cityos.storage.sqlite.schema import connect, create_schema
    except ImportError:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE entities (pk INTEGER PRIMARY KEY, tenant TEXT NOT NULL, "
                     "id TEXT NOT NULL, doc TEXT NOT NULL, created_at TEXT NOT NULL, "
                     "modified_at TEXT NOT NULL, UNIQUE (tenant, id))")
        return conn
    writer: sqlite3.Connection = connect(str(path), writer=True)
    create_schema(writer)
    return writer


def raw_sqlite(entities: Sequence[common.Json]) -> dict[str, Any]:
    """Create then update pass of raw upserts; the JSON text is prepared before timing."""
    stamp = common.now_iso()
    rows = [("", e["id"], json.dumps(e, separators=(",", ":")), stamp, stamp)
            for e in entities]
    with tempfile.TemporaryDirectory(prefix="cityos-raw-") as tmp:
        conn = _connect(Path(tmp) / "raw.db")

        def one_pass(selected: Sequence[tuple[str, str, str, str, str]]) -> list[float]:
            durations = []
            for start in range(0, len(selected), BATCH):
                chunk = selected[start:start + BATCH]
                t0 = time.perf_counter()
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_UPSERT, chunk)
                conn.execute("COMMIT")
                durations.append(time.perf_counter() - t0)
            return durations

        create = one_pass(rows)
        update = one_pass(rows[:UPDATE_BATCHES * BATCH])
        conn.close()
    return {"create": _phase(create), "update": _phase(update)}


def _create_then_update(entities: Sequence[common.Json]) -> dict[str, Any]:
    """Create every entity through the server, take SQLite's floor for the rows it wrote,
    then run the update pass on a server over the same database."""
    with common.cityos_server() as server:
        client = common.Client(server.port, timeout=600)
        start = time.perf_counter()
        create = common.upsert_all(client, entities, BATCH)
        create_wall = time.perf_counter() - start
        client.close()
        common.stop_server(server)
        assert server.db_path is not None
        common.register_dataset(N_ENTITIES, server.db_path)
        floor = every_row_floor(server.db_path, N_ENTITIES, BATCH)
    with common.cityos_server(db_source=common.dataset(N_ENTITIES)[0]) as server:
        client = common.Client(server.port, timeout=600)
        update = common.upsert_all(client, entities[:UPDATE_BATCHES * BATCH], BATCH)
        client.close()
    return {"create": create, "create_wall": create_wall, "update": update, "floor": floor}


def measure() -> dict[str, Any]:
    entities = [common.make_entity(i, p) for i, p in enumerate(common.kaga_points(N_ENTITIES))]
    runs = _create_then_update(entities)
    baseline = raw_sqlite(entities)
    measured = _phase(runs["create"])
    eps = measured["entities_per_s"]
    base_eps = baseline["create"]["entities_per_s"]
    update_phase = _phase(runs["update"])
    floor = runs["floor"]
    return {
        "scenario": "batch_upsert",
        "date": common.now_iso(),
        "unit": "entities/s",
        "target": TARGET_EPS,
        "measured": eps,
        "meets_target": eps >= TARGET_EPS,
        "baseline": base_eps,
        "baseline_name": "raw SQLite upsert (executemany, 1 transaction / 1,000 rows)",
        "ratio": common.ratio(eps, base_eps),
        "cityos": {"create": measured, "create_wall_s": round(runs["create_wall"], 3),
                   "update": update_phase},
        "update_ratio": common.ratio(update_phase["entities_per_s"],
                                     baseline["update"]["entities_per_s"]),
        "raw_sqlite": baseline,
        "every_row_floor": floor,
        "ratio_to_every_row_floor": common.ratio(eps, floor["entities_per_s"]),
        "batch_size": BATCH,
        "server": common.server_note(),
        "machine": common.machine_info(),
    }


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
