"""The shelter map under a disaster's traffic spike: the public GeoJSON feed (full body
and conditional 304), the map page and, for comparison, /health of the same server and a
bare ASGI app answering 204, all with the same wrk settings in the same run. The server
holds the 83 Kaga demo shelters (imported with `cityos import shelters`).

Run: python -m bench.shelters_feed   (BENCH_WRK_SECONDS sets each run's length)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from bench import common

FEED_TARGET = 5000.0
PAGE_TARGET = 2000.0
LUA = common.LUA_DIR / "get_path.lua"
KAGA_FILES = ("gsi_designated_shelters_172065.geojson",
              "gsi_emergency_evacuation_sites_172065.geojson")


def _kaga_database(workdir: Path) -> Path:
    files = []
    for name in KAGA_FILES:
        target = workdir / name
        target.write_bytes(resources.files("cityos.data.kaga").joinpath(name).read_bytes())
        files.append(str(target))
    database = workdir / "kaga.db"
    subprocess.run([sys.executable, "-m", "cityos", "import", "shelters", "--database",
                    f"sqlite:///{database}", *files], check=True, capture_output=True)
    return database


def _wrk(base: str, path: str, etag: str = "") -> dict[str, Any]:
    return common.wrk_summary(common.run_wrk(base, LUA, env={"BENCH_PATH": path,
                                                            "BENCH_ETAG": etag}))


def measure() -> dict[str, Any]:
    with common.bare_server() as bare:
        baseline = _wrk(bare.base, "/")
    with tempfile.TemporaryDirectory(prefix="cityos-shelters-") as tmp:
        database = _kaga_database(Path(tmp))
        with common.cityos_server(db_source=database) as server:
            client = common.Client(server.port)
            status, headers, body = client.request("GET", "/shelters/feed.geojson")
            client.close()
            if status != 200 or b"FeatureCollection" not in body:
                raise RuntimeError(f"feed check failed: {status}")
            etag = headers["etag"]
            runs = {"feed": _wrk(server.base, "/shelters/feed.geojson"),
                    "feed_304": _wrk(server.base, "/shelters/feed.geojson", etag),
                    "map_page": _wrk(server.base, "/shelters"),
                    "health": _wrk(server.base, "/health")}
    bare_rps = baseline["requests_per_s"]
    return {
        "scenario": "shelters_feed",
        "date": common.now_iso(),
        "unit": "requests/s",
        "targets": {"feed": FEED_TARGET, "map_page": PAGE_TARGET},
        "measured": {name: run["requests_per_s"] for name, run in runs.items()},
        "meets_targets": {
            "feed": runs["feed"]["requests_per_s"] >= FEED_TARGET,
            "map_page": runs["map_page"]["requests_per_s"] >= PAGE_TARGET},
        "feed_bytes": len(body),
        "baseline": bare_rps,
        "baseline_name": "bare ASGI app (204) under uvicorn, same wrk load",
        "ratio_to_bare": {name: common.ratio(run["requests_per_s"], bare_rps)
                          for name, run in runs.items()},
        "runs": {**runs, "bare_asgi": baseline},
        "server": common.server_note(),
        "machine": common.machine_info(),
    }


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
