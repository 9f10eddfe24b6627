"""Core request path as CPU time per request, in process: the whole ASGI app (every
middleware, the SQLite backend, its writer thread, the audit flusher, notification
delivery) driven directly without a network, 32 requests in flight like the wrk scenarios
(so the writer's group commit sees concurrent writes). CPU time counts every thread of the
process; the main thread's share (the request path on the event loop) is reported apart.
Batch upsert: CPU per entity of 1,000-entity upserts creating new entities.
Baseline in the same run: a do-nothing ASGI app driven the same way.

Run: python -m bench.core_cpu   (BENCH_ROUNDS, default 3; BENCH_REQUESTS, 3000)
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import orjson

from bench import common
from bench.security_cpu import App, call
from cityos.app import build_app
from cityos.config import load_settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "3000"))
IN_FLIGHT = 32
N_ENTITIES = 1000
UPSERT_ENTITIES = 5000
API = "/ngsi-ld/v1/entities/"


async def bare_app(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def timed(app: App, method: str, suffix: str, body: bool) -> tuple[float, float]:
    """(process CPU µs, main-thread CPU µs) per request, IN_FLIGHT requests at a time."""
    async def worker(first: int) -> None:
        for n in range(first, REQUESTS, IN_FLIGHT):
            payload = orjson.dumps({"count": {"type": "Property", "value": n}}) if body else b""
            status = await call(app, method, API + common.entity_id(n % N_ENTITIES) + suffix,
                                payload)
            assert status in (200, 204), status

    cpu, main = time.process_time(), time.thread_time()
    await asyncio.gather(*(worker(k) for k in range(IN_FLIGHT)))
    return ((time.process_time() - cpu) / REQUESTS * 1e6,
            (time.thread_time() - main) / REQUESTS * 1e6)


async def one_round(directory: Path) -> dict[str, float]:
    settings = load_settings({"database_url": f"sqlite:///{directory / 'b.db'}",
                              "dev": True}, environ={})
    app = build_app(settings)
    figures: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        entities = [common.make_entity(i, p)
                    for i, p in enumerate(common.kaga_points(N_ENTITIES))]
        upsert = "/ngsi-ld/v1/entityOperations/upsert"
        for start in range(0, N_ENTITIES, 500):
            status = await call(app, "POST", upsert, orjson.dumps(entities[start:start + 500]))
            assert status in (201, 204), status
        figures["bare"], _ = await timed(bare_app, "GET", "", False)
        for name, method, suffix, body in (("patch_update", "PATCH", "/attrs", True),
                                           ("retrieve", "GET", "", False)):
            await timed(app, method, suffix, body)  # warm-up
            figures[name], figures[name + "_main_thread"] = await timed(
                app, method, suffix, body)
        figures["batch_upsert_per_entity"] = await upsert_cpu(app)
    return figures


async def upsert_cpu(app: App) -> float:
    """Process CPU µs per entity of batch upserts creating UPSERT_ENTITIES new entities,
    1,000 per request (scenario 5's batch size)."""
    points = common.kaga_points(UPSERT_ENTITIES, seed=common.SEED + 1)
    entities = [common.make_entity(N_ENTITIES + i, p) for i, p in enumerate(points)]
    bodies = [orjson.dumps(entities[start:start + 1000])
              for start in range(0, UPSERT_ENTITIES, 1000)]
    cpu = time.process_time()
    for body in bodies:
        status = await call(app, "POST", "/ngsi-ld/v1/entityOperations/upsert", body)
        assert status in (201, 204), status
    return (time.process_time() - cpu) / UPSERT_ENTITIES * 1e6


def measure() -> dict[str, Any]:
    median = common.median_of_rounds("cityos-core-", ROUNDS, one_round)
    return {"scenario": "core_cpu", "date": common.now_iso(),
            "unit": "CPU µs per request (all threads; lower is better)",
            "rounds": ROUNDS, "requests": REQUESTS, "in_flight": IN_FLIGHT,
            "cpu_us": median,
            "baseline": "do-nothing ASGI app, same driver",
            "ratio_to_bare": {k: common.ratio(v, median["bare"])
                              for k, v in median.items() if k != "bare"},
            "per_cpu_second": {k: round(1e6 / v) for k, v in median.items()
                               if k in ("patch_update", "retrieve", "batch_upsert_per_entity")},
            "machine": common.machine_info()}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
