"""Security overhead measured as CPU time per request, in process: the whole ASGI app (all
middleware, the SQLite backend and its writer thread, the audit flusher) driven without a
network or load generator, so that the figure is less exposed to the noise of a shared
machine than wrk throughput. Configurations as in bench.security_overhead (development mode with
audit off = baseline, audit on, audit on + encryption of `Sensor.name`) and security as
a whole (security on, an API key with grants, audit on), alternated over rounds.
CPU time counts every thread of the process (audit sealing and writes included).

Run: python -m bench.security_cpu   (BENCH_ROUNDS, default 3; BENCH_REQUESTS, 3000)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from pathlib import Path
from typing import Any

import orjson

from bench import common
from cityos.app import build_app
from cityos.config import load_settings
from cityos.security.keys import generate_key_ring, write_key_ring

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
N_ENTITIES = 1000
App = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


async def call(app: App, method: str, path: str, body: bytes = b"",
               extra: tuple[tuple[bytes, bytes], ...] = ()) -> int:
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"), *extra]
    if method in ("POST", "PATCH", "PUT"):
        headers.append((b"content-length", str(len(body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 1026)}
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def api_key(app: Any) -> tuple[tuple[bytes, bytes], ...]:
    """Security on: a key of role `bench` with read and write on the benchmark type, as
    `cityos policies grant` and `cityos apikeys create` would make them."""
    access = app.state.access
    await access.grant({"audience": "role:bench", "operations": ["read", "write"],
                        "entityType": common.ENTITY_TYPE})
    issued = await access.keys.create("bench", roles=frozenset({"bench"}))
    return ((b"x-api-key", issued.key.encode()),)


async def run_config(overrides: dict[str, Any], directory: Path) -> dict[str, float]:
    settings = load_settings({"database_url": f"sqlite:///{directory / 'b.db'}",
                              "dev": True, **overrides}, environ={})
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        key = await api_key(app) if not settings.dev else ()
        request = partial(call, extra=key)
        points = common.kaga_points(N_ENTITIES)
        entities = [common.make_entity(i, p) for i, p in enumerate(points)]
        upsert = "/ngsi-ld/v1/entityOperations/upsert"
        for start in range(0, N_ENTITIES, 500):
            status = await request(app, "POST", upsert, orjson.dumps(entities[start:start + 500]))
            assert status in (201, 204), status
        ids = [common.entity_id(i % N_ENTITIES) for i in range(REQUESTS)]
        figures = {}
        for name, method, body in (("patch_update", "PATCH", True), ("retrieve", "GET", False)):
            cpu, wall = time.process_time(), time.perf_counter()
            for n, entity_id in enumerate(ids):
                path = f"/ngsi-ld/v1/entities/{entity_id}" + ("/attrs" if body else "")
                payload = orjson.dumps({"count": {"type": "Property", "value": n}}) \
                    if body else b""
                status = await request(app, method, path, payload)
                assert status in (200, 204), status
            figures[name] = (time.process_time() - cpu) / REQUESTS * 1e6
            figures[name + "_wall"] = (time.perf_counter() - wall) / REQUESTS * 1e6
    return figures


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cityos-cpu-") as directory:
        key_file = Path(directory) / "bench.keys"
        write_key_ring(key_file, generate_key_ring())
        configs = {"audit_off": {"audit": False}, "audit_on": {"audit": True},
                   "audit_on_encrypted": {"audit": True, "key_file": str(key_file),
                                          "personal_attributes": "Sensor.name"},
                   # security as a whole: an API key with grants, audit on
                   "secure_key_audit_on": {"audit": True, "dev": False}}
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in configs}
        for round_no in range(ROUNDS):
            for name, overrides in configs.items():
                run_dir = Path(directory) / f"{name}-{round_no}"
                run_dir.mkdir()
                runs[name].append(asyncio.run(run_config(overrides, run_dir)))
    result: dict[str, Any] = {"scenario": "security_cpu", "date": common.now_iso(),
                              "unit": "CPU µs per request (lower is better)",
                              "rounds": ROUNDS, "requests": REQUESTS, "baseline": "audit_off"}
    for scenario in ("patch_update", "retrieve"):
        median = {name: round(statistics.median(r[scenario] for r in rs), 1)
                  for name, rs in runs.items()}
        result[scenario] = {
            "cpu_us": median,
            "throughput_ratio_audit_on": common.ratio(median["audit_off"], median["audit_on"]),
            "throughput_ratio_audit_on_encrypted": common.ratio(
                median["audit_off"], median["audit_on_encrypted"]),
            "throughput_ratio_security_total": common.ratio(
                median["audit_off"], median["secure_key_audit_on"])}
    result["machine"] = common.machine_info()
    return result


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
