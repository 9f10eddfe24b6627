"""Security overhead: retrieve (GET /entities/{id}) and partial update (PATCH …/attrs)
with security on and an API key, against development mode (security off), same wrk load,
same run; then the same two requests in-process, as CPU time per request (less sensitive
to other load on a shared machine; ratio = dev CPU / secure CPU, i.e. throughput kept).
The key's role is granted read and write on the benchmark's entity type, as an operator
would with `cityos policies grant` and `cityos apikeys create`.

Run: python -m bench.authorization_overhead   (BENCH_WRK_SECONDS, default 10, per wrk run;
BENCH_SECURITY_ROUNDS, default 4, alternations per scenario; BENCH_DEV_AUDIT=false runs
the development-mode baseline without the audit trail, so the ratio is security as a
whole — authorization and audit — rather than authorization alone)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.security_overhead import cpu_seconds

N_ENTITIES = 1000
TARGET_RATIO = 0.85  # the bound: at most 15 % throughput lost with security on
ROUNDS = int(os.environ.get("BENCH_SECURITY_ROUNDS", "4"))
DEV_AUDIT = os.environ.get("BENCH_DEV_AUDIT", "true").lower() != "false"
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
    """wrk's summary, with the server's CPU time per request (all its threads, from
    /proc: far less exposed to other jobs on the machine than requests/s)."""
    env = {"BENCH_ENTITIES": str(N_ENTITIES), "BENCH_PREFIX": common.ENTITY_PREFIX}
    if key is not None:
        env["BENCH_API_KEY"] = key
    before = cpu_seconds(server.pid)
    summary = common.wrk_summary(common.run_wrk(server.base, common.LUA_DIR / script,
                                                env=env))
    used = cpu_seconds(server.pid) - before
    summary["server_cpu_us"] = used / max(1, summary["requests"]) * 1e6
    return summary


def _prepared(stack: contextlib.ExitStack, secure: bool) -> tuple[common.Server, str | None]:
    workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cityos-sec-")))
    key = provision(workdir / "bench.db") if secure else None
    audit = {} if secure or DEV_AUDIT else {"CITYOS_AUDIT": "false"}
    server = stack.enter_context(common.cityos_server(workdir=workdir, dev=not secure,
                                                      extra_env=audit))
    headers = {"X-API-Key": key} if key else None
    common.load_entities(server.port, N_ENTITIES, headers=headers)
    client = common.Client(server.port, headers=headers)
    status, _, body = client.request("GET", f"{common.API}/entities/{common.entity_id(0)}")
    client.close()
    if status != 200:
        raise RuntimeError(f"sanity request failed: {status} {body[:300]!r}")
    return server, key


def measure() -> dict[str, Any]:
    """Both servers run side by side; wrk alternates between them, ROUNDS times per
    scenario, so that drift on the shared machine hits both modes alike. The ratio is the
    median of the per-round ratios (secure / dev)."""
    figures: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        dev_server, _ = _prepared(stack, secure=False)
        secure_server, key = _prepared(stack, secure=True)
        for name, script in SCENARIOS:
            dev: list[float] = []
            secure: list[float] = []
            cpu: dict[bool, list[float]] = {False: [], True: []}
            errors: list[Any] = []
            for round_number in range(ROUNDS):
                order = [(False, dev_server), (True, secure_server)]
                for is_secure, server in order if round_number % 2 == 0 else order[::-1]:
                    summary = _wrk(server, script, key if is_secure else None)
                    (secure if is_secure else dev).append(summary["requests_per_s"])
                    cpu[is_secure].append(summary["server_cpu_us"])
                    if is_secure:
                        errors.append(summary["errors"])
            ratios = [s / d for s, d in zip(secure, dev, strict=True) if d]
            ratio = round(statistics.median(ratios), 4) if ratios else None
            figures[name] = {"secure_requests_per_s": round(statistics.median(secure), 1),
                             "dev_requests_per_s": round(statistics.median(dev), 1),
                             "ratio": ratio,
                             "meets_target": ratio is not None and ratio >= TARGET_RATIO,
                             "runs_secure": secure, "runs_dev": dev,
                             "server_cpu_us_dev": round(statistics.median(cpu[False]), 1),
                             "server_cpu_us_secure": round(statistics.median(cpu[True]), 1),
                             "cpu_ratio": round(statistics.median(cpu[False])
                                                / statistics.median(cpu[True]), 4),
                             "errors_secure": errors}
    return {"scenario": "authorization_overhead", "date": common.now_iso(),
            "unit": "requests/s", "target_ratio": TARGET_RATIO,
            "baseline_name": "the same server in development mode (security off)"
                             + ("" if DEV_AUDIT else ", audit trail off"),
            "entities": N_ENTITIES, "rounds": ROUNDS, **figures,
            "machine": common.machine_info()}


# ------------------------------------------------------------------ in-process CPU cost

async def _cpu_per_request(secure: bool, n: int) -> dict[str, float]:
    """CPU microseconds per request (all threads of this process), the app called
    in-process through httpx's ASGI transport: no network, no other process involved."""
    import httpx

    from cityos.app import build_app
    from cityos.config import load_settings
    with tempfile.TemporaryDirectory(prefix="cityos-sec-cpu-") as tmp:
        app = build_app(load_settings({"database_url": f"sqlite:///{tmp}/b.db",
                                       "dev": not secure, "audit": secure or DEV_AUDIT},
                                      environ={}))
        async with app.router.lifespan_context(app):
            headers: dict[str, str] = {}
            if secure:
                access = app.state.access
                await access.grant({"audience": "role:bench", "operations": ["read", "write"],
                                    "entityType": common.ENTITY_TYPE})
                issued = await access.keys.create("bench", roles=frozenset({"bench"}))
                headers = {"X-API-Key": issued.key}
            entity_id = common.entity_id(0)
            path = f"{common.API}/entities/{entity_id}"
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                entity = common.make_entity(0, common.kaga_points(1)[0])
                created = await client.post(f"{common.API}/entities", json=entity,
                                            headers=headers)
                assert created.status_code == 201, created.text
                out = {}
                for name in ("retrieve", "patch_update"):
                    started = time.process_time()
                    for i in range(n):
                        if name == "retrieve":
                            response = await client.get(path, headers=headers)
                        else:
                            response = await client.patch(f"{path}/attrs", headers=headers,
                                                          json={"count": i})
                        assert response.status_code < 300, response.text
                    out[name] = (time.process_time() - started) / n * 1e6
                return out


def measure_in_process(n: int = 2000, rounds: int = 3) -> dict[str, Any]:
    runs: dict[bool, list[dict[str, float]]] = {False: [], True: []}
    for _ in range(rounds):
        for secure in (False, True):
            runs[secure].append(asyncio.run(_cpu_per_request(secure, n)))
    figures: dict[str, Any] = {}
    for name, _ in SCENARIOS:
        dev = statistics.median(r[name] for r in runs[False])
        secure_us = statistics.median(r[name] for r in runs[True])
        figures[name] = {"dev_cpu_us_per_request": round(dev, 1),
                         "secure_cpu_us_per_request": round(secure_us, 1),
                         "ratio": round(dev / secure_us, 4)}
    return {"requests_per_round": n, "rounds": rounds, **figures}


def main() -> None:
    result = measure()
    result["in_process_cpu"] = measure_in_process()
    common.emit(result)


if __name__ == "__main__":
    main()
