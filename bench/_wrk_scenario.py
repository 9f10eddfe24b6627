"""The two wrk scenarios (PATCH …/attrs, GET …/entities/{id}): cityos against the bare
ASGI baseline, same Lua script, same wrk settings, same run."""

from __future__ import annotations

from typing import Any

from bench import common

N_ENTITIES = 1000


def run(name: str, script: str, target_rps: float, check_path: str) -> dict[str, Any]:
    lua = common.LUA_DIR / script
    env = {"BENCH_ENTITIES": str(N_ENTITIES), "BENCH_PREFIX": common.ENTITY_PREFIX}
    with common.bare_server() as bare:
        baseline = common.wrk_summary(common.run_wrk(bare.base, lua, env=env))
    with common.cityos_server() as server:
        _, load_s = common.load_entities(server.port, N_ENTITIES)
        client = common.Client(server.port)
        status, _, body = client.request(*_check_request(check_path))
        client.close()
        if status >= 300:
            raise RuntimeError(f"sanity request failed: {status} {body[:300]!r}")
        measured = common.wrk_summary(common.run_wrk(server.base, lua, env=env))
    rps = measured["requests_per_s"]
    return {
        "scenario": name,
        "date": common.now_iso(),
        "unit": "requests/s",
        "target": target_rps,
        "measured": rps,
        "meets_target": rps >= target_rps and not measured["errors"]["status"],
        "baseline": baseline["requests_per_s"],
        "baseline_name": "bare ASGI app (204) under uvicorn, same wrk load",
        "ratio": common.ratio(rps, baseline["requests_per_s"]),
        "cityos": measured,
        "bare_asgi": baseline,
        "entities": N_ENTITIES,
        "setup_load_s": round(load_s, 3),
        "server": common.server_note(),
        "machine": common.machine_info(),
    }


def _check_request(path: str) -> tuple[str, str, object]:
    if path.endswith("/attrs"):
        return "PATCH", path, {"count": {"type": "Property", "value": -1}}
    return "GET", path, None
