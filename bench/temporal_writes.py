"""Temporal API writes as CPU time per request, in process (the whole ASGI app, SQLite,
its writer thread, notification delivery; no network), 32 requests in flight:
`POST /temporal/entities/{id}/attrs` adding one newer instance to one of 200 entities,
so every request changes the current entity too.

Scenarios: no subscription (the change journal is off); one subscription on the type
whose q never matches (every change is journaled and matched, nothing is sent). Same-run
baseline: `PATCH /entities/{id}/attrs` of the same attribute, driven the same way.
Run on two versions of the code to compare (PYTHONPATH pointing at each `src`).

Run: python -m bench.temporal_writes   (BENCH_ROUNDS, default 3; BENCH_REQUESTS, 2000)
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Any

import orjson

from bench import common
from bench.security_cpu import App, call
from cityos.app import build_app
from cityos.config import load_settings

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "2000"))
IN_FLIGHT = 32
N_ENTITIES = 200
API = "/ngsi-ld/v1"
_SECONDS = itertools.count(1)


def _sensor(n: int) -> str:
    return f"urn:ngsi-ld:CrowdSensor:bench-{n}"


def _instance() -> dict[str, Any]:
    second = next(_SECONDS)
    at = f"2024-05-{1 + second // 86400:02d}T{second // 3600 % 24:02d}:" \
         f"{second // 60 % 60:02d}:{second % 60:02d}Z"
    return {"type": "Property", "value": second % 500, "observedAt": at}


async def timed(app: App, temporal: bool) -> float:
    """Process CPU µs per request, IN_FLIGHT requests at a time."""
    async def worker(first: int) -> None:
        for n in range(first, REQUESTS, IN_FLIGHT):
            entity = _sensor(n % N_ENTITIES)
            if temporal:
                status = await call(app, "POST", f"{API}/temporal/entities/{entity}/attrs",
                                    orjson.dumps({"people": [_instance()]}))
            else:
                status = await call(app, "PATCH", f"{API}/entities/{entity}/attrs",
                                    orjson.dumps({"people": _instance()}))
            assert status == 204, status

    cpu = time.process_time()
    await asyncio.gather(*(worker(k) for k in range(IN_FLIGHT)))
    return (time.process_time() - cpu) / REQUESTS * 1e6


async def _measure_both(app: App, figures: dict[str, float], suffix: str) -> None:
    for name, temporal in (("temporal_append", True), ("core_patch", False)):
        await timed(app, temporal)  # warm-up
        figures[name + suffix] = await timed(app, temporal)


async def one_round(directory: Path) -> dict[str, float]:
    settings = load_settings({"database_url": f"sqlite:///{directory / 'b.db'}",
                              "dev": True}, environ={})
    app = build_app(settings)
    figures: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        for n in range(N_ENTITIES):
            status = await call(app, "POST", f"{API}/temporal/entities", orjson.dumps(
                {"id": _sensor(n), "type": "CrowdSensor", "people": [_instance()]}))
            assert status == 201, status
        await _measure_both(app, figures, "")
        status = await call(app, "POST", f"{API}/subscriptions", orjson.dumps({
            "type": "Subscription", "entities": [{"type": "CrowdSensor"}], "q": "people<0",
            "notification": {"endpoint": {"uri": "http://127.0.0.1:9/never"}}}))
        assert status == 201, status
        await _measure_both(app, figures, "_subscribed")
    return figures


def measure() -> dict[str, Any]:
    median = common.median_of_rounds("cityos-temporal-writes-", ROUNDS, one_round)
    return {"scenario": "temporal_writes", "date": common.now_iso(),
            "unit": "CPU µs per request (all threads; lower is better)",
            "rounds": ROUNDS, "requests": REQUESTS, "in_flight": IN_FLIGHT,
            "cpu_us": median,
            "baseline": "PATCH /entities/{id}/attrs of the same attribute, same driver",
            "ratio_to_patch": {
                "no_subscription": common.ratio(median["temporal_append"],
                                                median["core_patch"]),
                "subscribed": common.ratio(median["temporal_append_subscribed"],
                                           median["core_patch_subscribed"])},
            "machine": common.machine_info()}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
