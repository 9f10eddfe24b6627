"""Scenario: temporal history of one entity with 1,000,000 instances (one reading a
second, ~11.6 days): hourly `avg` aggregation through the temporal service (target
≤ 200 ms), the size of a stored instance in bytes, and the load rate.

Baseline: a raw SQLite `SELECT avg(num)` over the same rows in one pass (no buckets),
same run, same file — the floor any bucketed aggregation can reach.

With `--backends=sqlite,postgresql` the same scenario also runs on PostgreSQL (schema
`cityos_bench` of BENCH_POSTGRES_URL, see bench/postgres.py; VACUUM ANALYZE after the load,
as autovacuum would, so that aggregation reads the index alone), with its own raw
`SELECT avg(num)` baseline, and a `postgresql_vs_sqlite` entry gives the ratios.

Run: python -m bench.temporal_aggregation [--backends=sqlite,postgresql]
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import common
from cityos.broker.temporal import TemporalService
from cityos.ngsild.temporal.diff import HistoryRecord
from cityos.ngsild.temporal.params import parse_temporal_query
from cityos.ngsild.temporal.times import format_micros, parse_micros
from cityos.storage.base import TemporalStore
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.postgres.temporal import PostgresTemporalStore
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.temporal import SqliteTemporalStore

N_INSTANCES = 1_000_000
CHUNK = 50_000
RUNS = 7
TARGET_MS = 200.0
ENTITY = "urn:ngsi-ld:CrowdSensor:kaga-station"
PEOPLE = common.DEFAULT_CONTEXT + "people"
START = "2024-05-01T00:00:00Z"


def _records(first: int, count: int, rng: random.Random) -> list[HistoryRecord]:
    base = parse_micros(START)
    stamp = format_micros(base)
    return [HistoryRecord(PEOPLE, {"type": "Property", "value": rng.randint(0, 500),
                                   "observedAt": format_micros(base + n * 1_000_000),
                                   "createdAt": stamp, "modifiedAt": stamp})
            for n in range(first, first + count)]


async def _load(history: TemporalStore) -> float:
    rng = random.Random(common.SEED)
    started = time.perf_counter()
    for first in range(0, N_INSTANCES, CHUNK):
        await history.append("", ENTITY, [common.DEFAULT_CONTEXT + "CrowdSensor"],
                             _records(first, CHUNK, rng), None)
    return time.perf_counter() - started


async def _aggregate_ms(service: TemporalService) -> list[float]:
    query = parse_temporal_query({"timerel": "after", "timeAt": START, "aggrMethods": "avg",
                                  "aggrPeriodDuration": "PT1H"}, aggregated=True)
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        page = await service.retrieve("", ENTITY, query, None, None)
        timings.append((time.perf_counter() - started) * 1000)
    series = page.entities[0]["aggregates"][PEOPLE][0]
    assert len(series.values["avg"]) == -(-N_INSTANCES // 3600)
    return timings


def _baseline_ms(path: str) -> list[float]:
    conn = sqlite3.connect(path)
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        conn.execute("SELECT avg(num) FROM temporal_instances WHERE ek = 1 AND ak = 1"
                     ).fetchone()
        timings.append((time.perf_counter() - started) * 1000)
    conn.close()
    return timings


def _bytes_per_instance(path: str) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    used = conn.execute("SELECT sum(pgsize) FROM dbstat WHERE name IN "
                        "('temporal_instances', 'temporal_by_observed', "
                        "'temporal_by_modified')").fetchone()[0]
    conn.close()
    return round(used / N_INSTANCES, 1)


async def _measure(directory: str) -> dict[str, Any]:
    path = str(Path(directory) / "temporal.db")
    store = SqliteStore(path)
    history = SqliteTemporalStore(store)
    await store.open()
    load_s = await _load(history)
    service = TemporalService(store, history, instance_limit=1000)
    timings = await _aggregate_ms(service)
    await store.close()
    baseline = _baseline_ms(path)
    measured = statistics.median(timings)
    base = statistics.median(baseline)
    return {
        "scenario": "temporal hourly avg over 1,000,000 instances of one entity",
        "backend": "sqlite", "date": common.now_iso(),
        "unit": "ms (median of 7)",
        "target": TARGET_MS,
        "measured": round(measured, 1),
        "meets_target": measured <= TARGET_MS,
        "baseline": round(base, 1),
        "baseline_name": "raw SQLite SELECT avg(num) over the same rows, one pass",
        "ratio": common.ratio(measured, base),
        "all_runs_ms": [round(t, 1) for t in timings],
        "buckets": -(-N_INSTANCES // 3600),
        "bytes_per_instance": _bytes_per_instance(path),
        "load_instances_per_s": round(N_INSTANCES / load_s, 1),
        "machine": common.machine_info(),
    }


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cityos-bench-temporal-") as directory:
        return asyncio.run(_measure(directory))


# The instance rows and every index on them (primary key included), over the instances.
_PG_BYTES = ("SELECT pg_total_relation_size('temporal_instances'), "
             "pg_relation_size('temporal_instances'), count(*) FROM temporal_instances")


def _pg_baseline_and_size(url: str) -> tuple[list[float], dict[str, float]]:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE temporal_instances")
        timings = []
        for _ in range(RUNS):
            started = time.perf_counter()
            conn.execute("SELECT avg(num) FROM temporal_instances WHERE ek = 1 AND ak = 1"
                         ).fetchone()
            timings.append((time.perf_counter() - started) * 1000)
        total, heap, count = conn.execute(_PG_BYTES).fetchone() or (0, 0, 1)
    return timings, {"bytes_per_instance": round(total / count, 1),
                     "heap_bytes_per_instance": round(heap / count, 1),
                     "index_bytes_per_instance": round((total - heap) / count, 1)}


async def _measure_postgres(url: str) -> dict[str, Any]:
    store = PostgresStore(url)
    history = PostgresTemporalStore(store)
    await store.open()
    try:
        load_s = await _load(history)
        baseline, sizes = await asyncio.to_thread(_pg_baseline_and_size, url)
        timings = await _aggregate_ms(TemporalService(store, history, instance_limit=1000))
    finally:
        await store.close()
    measured, base = statistics.median(timings), statistics.median(baseline)
    return {
        "scenario": "temporal hourly avg over 1,000,000 instances of one entity",
        "backend": "postgresql", "date": common.now_iso(), "unit": "ms (median of 7)",
        "target": TARGET_MS, "measured": round(measured, 1),
        "meets_target": measured <= TARGET_MS, "baseline": round(base, 1),
        "baseline_name": "raw PostgreSQL SELECT avg(num) over the same rows, one pass",
        "ratio": common.ratio(measured, base), "all_runs_ms": [round(t, 1) for t in timings],
        "buckets": -(-N_INSTANCES // 3600), **sizes,
        "load_instances_per_s": round(N_INSTANCES / load_s, 1),
        "machine": common.machine_info(),
    }


def measure_postgres() -> dict[str, Any]:
    from bench.postgres import bench_schema
    with bench_schema() as url:
        return asyncio.run(_measure_postgres(url))


def main() -> None:
    backends = ["sqlite"]
    for arg in sys.argv[1:]:
        if arg.startswith("--backends="):
            backends = arg.removeprefix("--backends=").split(",")
    runs = {b: measure() if b == "sqlite" else measure_postgres() for b in backends}
    results: list[dict[str, Any]] = list(runs.values())
    if {"sqlite", "postgresql"} <= runs.keys():
        lite, pg = runs["sqlite"], runs["postgresql"]
        results.append({"scenario": "temporal_aggregation_postgresql_vs_sqlite",
                        "baseline_name": "the same scenario on SQLite, same run",
                        "ratio_ms": common.ratio(pg["measured"], lite["measured"]),
                        "ratio_bytes_per_instance": common.ratio(
                            pg["bytes_per_instance"], lite["bytes_per_instance"]),
                        "ratio_load_rate": common.ratio(pg["load_instances_per_s"],
                                                        lite["load_instances_per_s"])})
    common.emit(results[0] if len(results) == 1 else {"scenarios": results})


if __name__ == "__main__":
    main()
