"""Scenario 4: geo-query `near;maxDistance==500` around points of Kaga over 100,000 Point
entities spread over lon 136.24–136.50, lat 36.13–36.38; p50/p95/p99 of sequential
requests. Baseline: the raw SQLite R*Tree bounding-box query (candidates of a 1 km box,
then the documents of the first 20), same file, same run.

Run: python -m bench.query_geo
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from typing import Any
from urllib.parse import quote

from bench import common
from bench._latency import http_latency, latency_report, sql_latency, verdict

N_ENTITIES = common.LARGE_N
TARGET_P95_MS = 20.0
MAX_DISTANCE_M = 500.0
N_CENTRES = 50
METRES_PER_DEGREE = 111_320.0

# CROSS JOIN fixes the join order: the R*Tree drives, geo_index is probed by rowid.
_RTREE_SQL = (
    "SELECT g.pk FROM geo_rtree r CROSS JOIN geo_index g ON g.gid = r.gid "
    "WHERE r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ? AND g.attr = ?")


def centres(n: int = N_CENTRES) -> list[tuple[float, float]]:
    """Query points inside Kaga, away from the box edges (another seed than the data)."""
    rng = random.Random(common.SEED + 1)
    return [(round(rng.uniform(136.26, 136.48), 6), round(rng.uniform(36.15, 36.36), 6))
            for _ in range(n)]


def box(lon: float, lat: float, metres: float) -> tuple[float, float, float, float]:
    dlat = metres / METRES_PER_DEGREE
    dlon = metres / (METRES_PER_DEGREE * math.cos(math.radians(lat)))
    return lon - dlon, lon + dlon, lat - dlat, lat + dlat


def _paths(count: bool) -> list[str]:
    paths = []
    for lon, lat in centres():
        coords = quote(json.dumps([lon, lat], separators=(",", ":")))
        paths.append(f"{common.API}/entities?type={common.ENTITY_TYPE}"
                     f"&georel={quote(f'near;maxDistance=={MAX_DISTANCE_M:g}')}"
                     f"&geometry=Point&coordinates={coords}"
                     + ("&count=true" if count else ""))
    return paths


def _rtree_work(conn: sqlite3.Connection, i: int) -> tuple[list[int], list[Any]]:
    lon, lat = centres()[i % N_CENTRES]
    min_x, max_x, min_y, max_y = box(lon, lat, MAX_DISTANCE_M)
    pks = [r[0] for r in conn.execute(_RTREE_SQL, (min_x, max_x, min_y, max_y,
                                                   common.LOCATION_IRI))]
    page = pks[:20]
    if not page:
        return pks, []
    marks = ",".join("?" * len(page))
    docs = [common.json_loads(r[0]) for r in
            conn.execute(f"SELECT doc FROM entities WHERE pk IN ({marks})", page)]
    return pks, docs


def measure() -> dict[str, Any]:
    db_source, load_s = common.dataset(N_ENTITIES)
    results: dict[str, Any] = {}
    with common.cityos_server(db_source=db_source) as server:
        client = common.Client(server.port)
        for name, count in (("near_500m", False), ("near_500m_count", True)):
            paths = _paths(count)
            results[name] = {"request": "GET " + paths[0], "centres": len(paths),
                             "cityos": http_latency(client, paths)}
        client.close()
        assert server.db_path is not None
        conn = sqlite3.connect(f"file:{server.db_path}?mode=ro", uri=True)
        baseline = sql_latency(conn, _rtree_work)
        candidates = [len(_rtree_work(conn, i)[0]) for i in range(N_CENTRES)]
        conn.close()
    baseline["mean_bbox_candidates"] = round(sum(candidates) / len(candidates), 1)
    for entry in results.values():
        entry["raw_rtree_sql"] = baseline
        entry.update(verdict(entry["cityos"]["p95_ms"], TARGET_P95_MS, baseline["p95_ms"]))
    return latency_report("query_geo", results, TARGET_P95_MS,
                          "raw SQLite R*Tree bbox query (+ 20 documents), sqlite3", load_s)


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
