"""Scenario 3: GET /ngsi-ld/v1/entities?type=…&q=… over 100,000 entities; p50/p95/p99 of
sequential requests. Baseline: the equivalent hand-written SQL run directly on the same
SQLite file with Python's sqlite3 (json_extract on the stored document), same run.
Also reported: the server's own compiled SQL run in-process (no HTTP, no rendering).

Run: python -m bench.query_q
"""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import quote

from bench import common
from bench._latency import http_latency, latency_report, sql_latency, verdict

N_ENTITIES = common.LARGE_N
TARGET_P95_MS = 20.0
COUNT_IRI = common.DEFAULT_CONTEXT + "count"
TYPE_IRI = common.DEFAULT_CONTEXT + common.ENTITY_TYPE

# name → (q, limit, count)
QUERIES: dict[str, tuple[str, int, bool]] = {
    "selective": ("count==12345", 20, False),
    "selective_count": ("count==12345", 20, True),
    "broad": ("count>50000", 20, False),
    "broad_count": ("count>50000", 20, True),
}

_RAW_WHERE = (
    "e.tenant = '' AND EXISTS (SELECT 1 FROM entity_types t WHERE t.tenant = e.tenant "
    "AND t.pk = e.pk AND t.type = ?) AND json_extract(e.doc, ?) {op} ?")


def _raw_sql(q: str, limit: int, count: bool) -> Any:
    """The hand-written equivalent: first instance's value of `count`, typed compare."""
    op, literal = ("==", q.split("==")[1]) if "==" in q else (">", q.split(">")[1])
    where = _RAW_WHERE.format(op="=" if op == "==" else ">")
    path = f'$.attrs."{COUNT_IRI}"[0].value'
    params = (TYPE_IRI, path, int(literal))

    def work(conn: sqlite3.Connection, _: int) -> object:
        rows = conn.execute(f"SELECT e.doc FROM entities e WHERE {where} "
                            "ORDER BY e.pk LIMIT ?", (*params, limit)).fetchall()
        docs = [common.json_loads(r[0]) for r in rows]
        total = None
        if count:
            total = conn.execute(f"SELECT count(*) FROM entities e WHERE {where}",
                                 params).fetchone()[0]
        return docs, total
    return work


def _server_sql(q: str, limit: int, count: bool) -> Any:
    """The SQL the server compiles for the query, run in-process (None if unavailable)."""
    try:
        from cityos.ngsild.query.ast import TypeName
        from cityos.ngsild.query.parser import parse_q
        from cityos.storage.base import EntityQuery
        from cityos.storage.sqlite import reads
        from cityos.storage.sqlite.query_sql import register_sql_functions
    except ImportError:
        return None
    query = EntityQuery(types=TypeName(TYPE_IRI),
                        q=parse_q(q, lambda term: common.DEFAULT_CONTEXT + term),
                        limit=limit, count=count)

    def work(conn: sqlite3.Connection, _: int) -> object:
        return reads.query_entities(conn, "", query)
    return work, register_sql_functions


def measure() -> dict[str, Any]:
    results: dict[str, Any] = {}
    db_source, load_s = common.dataset(N_ENTITIES)
    with common.cityos_server(db_source=db_source) as server:
        client = common.Client(server.port)
        for name, (q, limit, count) in QUERIES.items():
            path = (f"{common.API}/entities?type={common.ENTITY_TYPE}&q={quote(q)}"
                    f"&limit={limit}" + ("&count=true" if count else ""))
            results[name] = {"request": "GET " + path,
                             "cityos": http_latency(client, [path])}
        client.close()
        assert server.db_path is not None
        conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
        server_conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
        compiled_ok = True
        for name, (q, limit, count) in QUERIES.items():
            results[name]["raw_sql"] = sql_latency(conn, _raw_sql(q, limit, count))
            if not compiled_ok:
                continue
            compiled = _server_sql(q, limit, count)
            if compiled is None:
                compiled_ok = False
                continue
            work, register = compiled
            register(server_conn)
            results[name]["server_sql_in_process"] = sql_latency(server_conn, work, min_n=3)
        conn.close()
        server_conn.close()
    for entry in results.values():
        entry.update(verdict(entry["cityos"]["p95_ms"], TARGET_P95_MS,
                             entry["raw_sql"]["p95_ms"]))
    return latency_report("query_q", results, TARGET_P95_MS,
                          "hand-written SQL (json_extract) on the same SQLite file, sqlite3",
                          load_s)


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
