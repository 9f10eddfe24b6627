"""Security overhead: retrieve (GET /entities/{id}) and partial update (PATCH …/attrs)
with security on and an API key, against development mode (security off), same wrk load,
same run. The key's role is granted read and write on the benchmark's entity type, as an
operator would with `cityos policies grant` and `cityos apikeys create`.

Run: python -m bench.security_overhead   (BENCH_WRK_SECONDS, default 10, per wrk run)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import common

N_ENTITIES = 1000
TARGET_RATIO = 0.85  # the bound: at most 15 % throughput lost with security on
SCENARIOS = (("retrieve", "retrieve.lua"), ("patch_update", "patch.lua"))


def _cityos(*args: str, database: Path) -> str:
    proc = subprocess.run([sys.executable, "-m", "cityos", *args, "--database",
                           f"sqlite:///{database}"], capture_output=True, text=True,
                          check=True, timeout=120)
    return proc.stdout


def provision(database: Path) -> str:
    """A grant for role `bench` on the benchmark type and a key with that role."""
    _cityos("policies", "grant", "--audience", "role:bench", "--op", "read", "--op", "write",
            "--type", common.ENTITY_TYPE, database=database)
    out = _cityos("apikeys", "create", "--name", "bench", "--role", "bench", database=database)
    return out.split("key:")[1].split()[0]


def _wrk(server: common.Server, script: str, key: str | None) -> dict[str, Any]:
    env = {"BENCH_ENTITIES": str(N_ENTITIES), "BENCH_PREFIX": common.ENTITY_PREFIX}
    if key is not None:
        env["BENCH_API_KEY"] = key
    return common.wrk_summary(common.run_wrk(server.base, common.LUA_DIR / script, env=env))


def _measure_mode(secure: bool) -> dict[str, dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="cityos-sec-") as tmp:
        workdir = Path(tmp)
        key = provision(workdir / "bench.db") if secure else None
        with common.cityos_server(workdir=workdir, dev=not secure) as server:
            headers = {"X-API-Key": key} if key else None
            common.load_entities(server.port, N_ENTITIES, headers=headers)
            client = common.Client(server.port, headers=headers)
            status, _, body = client.request("GET",
                                             f"{common.API}/entities/{common.entity_id(0)}")
            client.close()
            if status != 200:
                raise RuntimeError(f"sanity request failed: {status} {body[:300]!r}")
            return {name: _wrk(server, script, key) for name, script in SCENARIOS}


def measure() -> dict[str, Any]:
    # dev, secure, secure, dev: drift on the shared machine hits both modes alike.
    runs = [("dev", _measure_mode(False)), ("secure", _measure_mode(True)),
            ("secure", _measure_mode(True)), ("dev", _measure_mode(False))]
    figures: dict[str, Any] = {}
    for name, _ in SCENARIOS:
        dev = [r[name]["requests_per_s"] for mode, r in runs if mode == "dev"]
        secure = [r[name]["requests_per_s"] for mode, r in runs if mode == "secure"]
        dev_rps, secure_rps = sum(dev) / len(dev), sum(secure) / len(secure)
        ratio = common.ratio(secure_rps, dev_rps)
        figures[name] = {"secure_requests_per_s": round(secure_rps, 1),
                         "dev_requests_per_s": round(dev_rps, 1), "ratio": ratio,
                         "meets_target": ratio is not None and ratio >= TARGET_RATIO,
                         "runs_secure": secure, "runs_dev": dev,
                         "errors_secure": [r[name]["errors"] for m, r in runs if m == "secure"]}
    return {"scenario": "security_overhead", "date": common.now_iso(),
            "unit": "requests/s", "target_ratio": TARGET_RATIO,
            "baseline_name": "the same server in development mode (security off)",
            "entities": N_ENTITIES, **figures, "machine": common.machine_info()}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
