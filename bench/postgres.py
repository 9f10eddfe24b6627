"""The PostgreSQL/PostGIS backend over BENCH_PG_ENTITIES entities (default 100,000):
batch upsert throughput while loading them, then retrieve by id, q (selective, broad, with
count) and geo `near;maxDistance==500`; p50/p95/p99 of sequential requests to a
`cityos serve` on PostgreSQL. Baselines, same run, same database, psycopg: for the load a
raw `COPY` of exactly the rows the server wrote for the first 100,000 entities (entities,
value index, geo index, temporal history) into empty tables with the same indexes; a
raw `SELECT doc … WHERE pk = …` (retrieve), the hand-written SQL of each query, and the
alternative index the q-language could use instead of the attribute-value side table, a
`jsonb_path_ops` GIN index on the documents (equality only; `>` scans; skipped with
BENCH_PG_SKIP_GIN=1).

Load: POST /entityOperations/upsert, 1,000 entities per request, BENCH_PG_CLIENTS
requests in flight (default 1); CPU seconds of the server process and of its PostgreSQL
backends are reported per entity (wall-clock rates on a shared machine are noisy).

Needs a PostgreSQL server with PostGIS: BENCH_POSTGRES_URL (default: database `test` on
127.0.0.1:5432, user postgres). Works in its own schema `cityos_bench`, dropped afterwards
(BENCH_PG_KEEP=1: kept, and reused without loading when it holds the entities).

Run: python -m bench.postgres
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench import _pg_load, common, query_geo
from bench._latency import http_latency, verdict

SERVER_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "cityos_bench"
N_ENTITIES = int(os.environ.get("BENCH_PG_ENTITIES", str(common.LARGE_N)))
LOAD_CLIENTS = int(os.environ.get("BENCH_PG_CLIENTS", "1"))
SKIP_GIN = os.environ.get("BENCH_PG_SKIP_GIN") == "1"
KEEP = os.environ.get("BENCH_PG_KEEP") == "1"
UPDATE_BATCHES = 10
TARGET_UPSERT_EPS = 30_000.0
TARGET_P95_MS = 30.0
COUNT_IRI = common.DEFAULT_CONTEXT + "count"
TYPE_IRI = common.DEFAULT_CONTEXT + common.ENTITY_TYPE
HALF = N_ENTITIES // 2
QUERIES: dict[str, tuple[str, bool]] = {
    "q_selective": ("count==12345", False),
    "q_selective_count": ("count==12345", True),
    "q_broad": ("count>50000", False),
    "q_broad_count": ("count>50000", True),
    # half of the entities, the later half in insertion order (as count>50000 at 100,000)
    "q_broad_half": (f"count>{HALF}", False),
}
Conn = psycopg.Connection[tuple[Any, ...]]


def schema_url() -> str:
    options = quote(f"-csearch_path={SCHEMA},public", safe="")
    return f"{SERVER_URL}{'&' if '?' in SERVER_URL else '?'}options={options}"


@contextlib.contextmanager
def bench_schema() -> Iterator[str]:
    """A fresh schema, dropped afterwards; with BENCH_PG_KEEP=1 kept afterwards and, when
    it already holds the entities, reused without loading them again."""
    with psycopg.connect(SERVER_URL, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS postgis SCHEMA public")
        if not KEEP:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    try:
        yield schema_url()
    finally:
        if not KEEP:
            with psycopg.connect(SERVER_URL, autocommit=True) as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def loaded_entities(conn: Conn) -> int:
    row = conn.execute("SELECT count(*) FROM entities").fetchone()
    return int(row[0]) if row else 0


@contextlib.contextmanager
def postgres_server(url: str, settings: dict[str, str] | None = None
                    ) -> Iterator[common.Server]:
    """`cityos serve --database postgresql://…` in development mode (the API is measured
    without security, as on SQLite), with extra CITYOS_* `settings`, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="cityos-b-") as workdir, \
            (Path(workdir) / "server.log").open("wb") as log:
        port = common.free_port()
        env = {**os.environ, "CITYOS_LOG_LEVEL": "warning", "CITYOS_DEMO": "false",
               "CITYOS_DEV": "true", **(settings or {})}
        process = subprocess.Popen(
            [sys.executable, "-m", "cityos", "serve", "--port", str(port), "--database", url],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=workdir)
        server = common.Server("cityos", port, process, Path(workdir),
                               log_path=Path(workdir) / "server.log")
        try:
            common._wait_ready(server, "/health")
            yield server
        finally:
            common._stop(process)


def sql_latency(conn: Conn, work: Callable[[Conn, int], object]) -> dict[str, Any]:
    state = {"i": 0}

    def one() -> None:
        work(conn, state["i"])
        state["i"] += 1
    return common.latency_summary(common.timed_samples(one, max_n=300, max_seconds=4.0,
                                                       min_n=5))


def _fetch(sql: str, params: Callable[[int], tuple[Any, ...]]) -> Callable[[Conn, int], object]:
    return lambda conn, i: conn.execute(sql, params(i)).fetchall()


_TYPED = "e.tenant = '' AND e.types @> ARRAY[%s]"
# The page's keys by index-only walks, then its documents (as the server does).
_SIDE = ("SELECT e.doc FROM entities e WHERE e.pk IN (SELECT e.pk FROM entities e WHERE "
         + _TYPED + " AND EXISTS (SELECT 1 FROM attr_values v WHERE v.pk = e.pk AND "
         "v.attr = %s AND v.num {op} %s) ORDER BY e.pk LIMIT 20) ORDER BY e.pk")
_SIDE_EQ = _SIDE.replace("{op}", "=")
_SIDE_GT = _SIDE.replace("{op}", ">")
_SIDE_COUNT = ("SELECT count(*) FROM entities e WHERE " + _TYPED + " AND EXISTS (SELECT 1 "
               "FROM attr_values v WHERE v.pk = e.pk AND v.attr = %s AND v.num > %s)")
_NEAR = ("SELECT e.doc FROM (SELECT g.pk, min(ST_Distance(g.geom::geography, r.geog)) AS dist "
         "FROM geo_index g, (SELECT ST_MakePoint(%s, %s)::geography AS geog) r "
         "WHERE g.attr = %s AND ST_DWithin(g.geom::geography, r.geog, 500) GROUP BY g.pk "
         "ORDER BY dist, g.pk LIMIT 20) p JOIN entities e ON e.pk = p.pk ORDER BY p.dist, p.pk")
_GIN_EQ = ("SELECT e.doc FROM entities e WHERE " + _TYPED + " AND e.doc @> %s::jsonb "
           "ORDER BY e.pk LIMIT 20")
_JSONPATH_GT = ("SELECT e.doc FROM entities e WHERE " + _TYPED + " AND e.doc @? %s::jsonpath "
                "ORDER BY e.pk LIMIT 20")


def baselines(conn: Conn) -> dict[str, Any]:
    """Raw SQL of each query; then the same with a jsonb_path_ops GIN index instead."""
    equal = (TYPE_IRI, COUNT_IRI, 12345)
    greater = (TYPE_IRI, COUNT_IRI, 50000)
    containment = f'{{"attrs": {{"{COUNT_IRI}": [{{"value": 12345}}]}}}}'
    path = f'$.attrs."{COUNT_IRI}"[*].value ? (@ > 50000)'
    ids = [common.entity_id(random.Random(i).randrange(N_ENTITIES)) for i in range(300)]
    out: dict[str, Any] = {
        "retrieve_by_pk": sql_latency(conn, _fetch(
            "SELECT doc FROM entities WHERE pk = %s",
            lambda i: (1 + random.Random(i).randrange(N_ENTITIES),))),
        "retrieve_by_tenant_id": sql_latency(conn, _fetch(
            "SELECT doc FROM entities WHERE tenant = '' AND id = %s",
            lambda i: (ids[i % len(ids)],))),
        "side_table_eq": sql_latency(conn, _fetch(_SIDE_EQ, lambda i: equal)),
        "side_table_gt": sql_latency(conn, _fetch(_SIDE_GT, lambda i: greater)),
        "side_table_gt_half": sql_latency(conn, _fetch(_SIDE_GT, lambda i: (TYPE_IRI, COUNT_IRI,
                                                                            HALF))),
        "side_table_gt_count": sql_latency(conn, _fetch(_SIDE_COUNT, lambda i: greater)),
        "near_500m_ordered": sql_latency(conn, _fetch(_NEAR, lambda i: (
            *query_geo.centres()[i % query_geo.N_CENTRES], common.LOCATION_IRI))),
        "near_500m": sql_latency(conn, _fetch(
            "SELECT e.doc FROM geo_index g JOIN entities e ON e.pk = g.pk WHERE g.attr = %s "
            "AND ST_DWithin(g.geom::geography, ST_MakePoint(%s, %s)::geography, 500) "
            "LIMIT 20", lambda i: (common.LOCATION_IRI,
                                   *query_geo.centres()[i % query_geo.N_CENTRES]))),
    }
    if SKIP_GIN:
        return out
    started = time.perf_counter()
    conn.execute("CREATE INDEX bench_doc_gin ON entities USING gin (doc jsonb_path_ops)")
    conn.execute("ANALYZE entities")
    out["gin_build_s"] = round(time.perf_counter() - started, 2)
    out["gin_eq"] = sql_latency(conn, _fetch(_GIN_EQ, lambda i: (TYPE_IRI, containment)))
    out["gin_jsonpath_gt"] = sql_latency(conn, _fetch(_JSONPATH_GT, lambda i: (TYPE_IRI, path)))
    sizes = conn.execute(
        "SELECT pg_relation_size('bench_doc_gin'), pg_total_relation_size('attr_values')"
    ).fetchone()
    assert sizes is not None
    out["gin_index_mb"] = round(sizes[0] / 1e6, 1)
    out["side_table_with_indexes_mb"] = round(sizes[1] / 1e6, 1)
    conn.execute("DROP INDEX bench_doc_gin")
    return out


def load(server: common.Server, conn: Conn) -> dict[str, Any]:
    """Create the N_ENTITIES entities through batch upsert, update 10 batches of them,
    and COPY the first 100,000 entities' rows as the baseline (same run)."""
    points = common.kaga_points(N_ENTITIES)
    meter = _pg_load.CpuMeter(conn, server.process.pid)
    create = _pg_load.upsert_phase(server.port, meter,
                                   _pg_load.entity_batches(0, N_ENTITIES, points),
                                   N_ENTITIES, LOAD_CLIENTS)
    conn.execute("VACUUM ANALYZE")
    n_update = min(N_ENTITIES, UPDATE_BATCHES * _pg_load.BATCH)
    meter = _pg_load.CpuMeter(conn, server.process.pid)
    update = _pg_load.upsert_phase(server.port, meter,
                                   _pg_load.entity_batches(0, n_update, points, generation=1),
                                   n_update, 1)
    copy = _pg_load.copy_baseline(conn, min(N_ENTITIES, 100_000))
    return {"create": create, "update": update, "raw_copy_baseline": copy,
            "target_entities_per_s": TARGET_UPSERT_EPS,
            "ratio_create_to_copy": common.ratio(create["entities_per_s"],
                                                 copy["entities_per_s"])}


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with bench_schema() as url, postgres_server(url) as server, \
            psycopg.connect(url, autocommit=True) as conn:
        loading = load(server, conn) if loaded_entities(conn) != N_ENTITIES else {}
        # After a bulk load, as autovacuum does later: statistics and the visibility map
        # (index-only scans skip the table only for pages marked all-visible).
        conn.execute("VACUUM ANALYZE")
        client = common.Client(server.port)
        ids = [common.entity_id(random.Random(i).randrange(N_ENTITIES)) for i in range(300)]
        results["retrieve"] = {"cityos": http_latency(
            client, [f"{common.API}/entities/{quote(i, safe='')}" for i in ids])}
        for name, (q, count) in QUERIES.items():
            path = (f"{common.API}/entities?type={common.ENTITY_TYPE}&q={quote(q)}"
                    "&limit=20" + ("&count=true" if count else ""))
            results[name] = {"request": "GET " + path, "cityos": http_latency(client, [path])}
        results["geo_near_500m"] = {"cityos": http_latency(client, query_geo._paths(False))}
        client.close()
        raw = baselines(conn)
    pairs = {"retrieve": "retrieve_by_pk", "q_selective": "side_table_eq",
             "q_selective_count": "side_table_eq", "q_broad": "side_table_gt",
             "q_broad_count": "side_table_gt_count", "q_broad_half": "side_table_gt_half",
             "geo_near_500m": "near_500m_ordered"}
    for name, baseline in pairs.items():
        results[name]["baseline"] = baseline
        results[name].update(verdict(results[name]["cityos"]["p95_ms"], TARGET_P95_MS,
                                     raw[baseline]["p95_ms"]))
    return {"scenario": "postgres", "date": common.now_iso(),
            "unit": "ms (sequential requests, one connection)",
            "baseline_name": "raw SQL on the same PostgreSQL schema, psycopg",
            "entities": N_ENTITIES, "batch_upsert": loading,
            "queries": results, "raw_sql": raw, "server": common.server_note(),
            "machine": common.machine_info()}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
