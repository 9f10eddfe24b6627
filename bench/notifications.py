"""Notification scenarios against a real `cityos serve` and a webhook on 127.0.0.1:

1. latency: PATCH → webhook receipt at 1,000 changes/s (open loop, 1,000 entities, one
   subscription); baseline: the PATCH round trip itself, same requests, same run.
2. throughput: batch updates of 100 entities as fast as the server takes them, one
   subscription, so every change is one notification and writing is cheap; notifications
   received per second from first to last; baseline: the same client POSTing straight to
   the webhook (what the receiver side can take).
3. write cost: PATCH requests/s (16 connections, back to back) with 10,000 subscriptions
   against none, same client, same run.

Run: python -m bench.notifications [--backends=sqlite,postgresql] [--baseline-src=DIR]
[--rounds=N] [latency|throughput|write_cost] (default: SQLite alone). With both backends,
each scenario runs on each and a `postgresql_vs_sqlite` entry gives PostgreSQL's figures as
ratios to SQLite's, same run. PostgreSQL: BENCH_POSTGRES_URL (see bench/postgres.py),
schema `cityos_bench`.

`--baseline-src=DIR` compares with other code in the same run: DIR is the `src` folder of
another checkout (e.g. `git archive <commit> src | tar -x -C /tmp/base`); each round runs
the scenario on that code (the server started with PYTHONPATH=DIR) and then on this one,
and a `*_vs_baseline` entry gives this code's figures as ratios to the baseline's.
Latency and throughput also report the server process's CPU time (all its threads) per
change: on a shared machine it varies much less than wall-clock figures.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bench import common
from bench._webhook import RawClient, Webhook
from bench.security_overhead import cpu_seconds

N_ENTITIES = 1000
# changes/s for the latency scenario (BENCH_NOTIFICATION_RATE to measure below saturation)
RATE = float(os.environ.get("BENCH_NOTIFICATION_RATE", "1000"))
LATENCY_SECONDS = 10.0
THROUGHPUT_SECONDS = 10.0
WRITE_SECONDS = 10.0
BATCH = 100
CONNECTIONS = 16
N_SUBSCRIPTIONS = 10_000
TARGETS = {"p50_ms": 10.0, "p99_ms": 50.0, "notifications_per_s": 2000.0,
           "write_ratio": 0.8}


def _patch_body(value: int) -> bytes:
    return orjson.dumps({"count": {"type": "Property", "value": value}})


def _path(entity: int) -> str:
    return f"{common.API}/entities/{common.entity_id(entity)}/attrs"


async def _subscribe(port: int, uri: str, n: int = 1) -> None:
    client = await RawClient(port).open()
    try:
        for i in range(n):
            body = orjson.dumps({
                "id": f"urn:ngsi-ld:Subscription:bench-{i}", "type": "Subscription",
                "entities": [{"type": common.ENTITY_TYPE}], "watchedAttributes": ["count"],
                "notification": {"format": "keyValues", "attributes": ["count"],
                                 "endpoint": {"uri": uri}}})
            status = await client.request("POST", f"{common.API}/subscriptions", body)
            if status != 201:
                raise RuntimeError(f"subscription refused: {status}")
    finally:
        client.close()


def _received(webhook: Webhook) -> dict[tuple[str, int], float]:
    """(entity id, value) → first arrival time."""
    first: dict[tuple[str, int], float] = {}
    for at, body in webhook.arrivals:
        for entity in orjson.loads(body)["data"]:
            first.setdefault((entity["id"], entity["count"]), at)
    return first


async def _paced_patches(port: int, rate: float, seconds: float,
                         sent: dict[tuple[str, int], float], round_trips: list[float],
                         first_value: int = 1_000_000) -> None:
    """Open loop: change i is due at start + i/rate, whatever the server's pace; values
    count up from `first_value`, so every (entity, value) is one change."""
    jobs: asyncio.Queue[tuple[int, int]] = asyncio.Queue()
    clients = [await RawClient(port).open() for _ in range(CONNECTIONS)]

    async def worker(client: RawClient) -> None:
        while True:
            entity, value = await jobs.get()
            started = time.perf_counter()
            sent[(common.entity_id(entity), value)] = started
            status = await client.request("PATCH", _path(entity), _patch_body(value))
            round_trips.append(time.perf_counter() - started)
            if status != 204:
                raise RuntimeError(f"PATCH answered {status}")
            jobs.task_done()

    workers = [asyncio.create_task(worker(c)) for c in clients]
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        jobs.put_nowait((i % N_ENTITIES, first_value + i))
    await jobs.join()
    for task in workers:
        task.cancel()
    for client in clients:
        client.close()


# Code under test: None for this checkout, or the `src` folder of a baseline checkout.
CODE: dict[str, str | None] = {"src": None}


@contextlib.contextmanager
def _server_with_entities(backend: str = "sqlite") -> Iterator[common.Server]:
    with contextlib.ExitStack() as stack:
        url = None
        if backend == "postgresql":
            from bench.postgres import bench_schema
            url = stack.enter_context(bench_schema())
        env = {"PYTHONPATH": CODE["src"]} if CODE["src"] else None
        server = stack.enter_context(common.cityos_server(database_url=url, extra_env=env))
        common.load_entities(server.port, N_ENTITIES)
        yield server


async def _latency(port: int, pid: int) -> dict[str, Any]:
    webhook = await Webhook().start()
    await _subscribe(port, webhook.url)
    sent: dict[tuple[str, int], float] = {}
    round_trips: list[float] = []
    await _paced_patches(port, RATE, 1.0, {}, [], first_value=0)  # warm-up, not counted
    await asyncio.sleep(1.0)
    webhook.arrivals.clear()
    cpu_before = cpu_seconds(pid)
    await _paced_patches(port, RATE, LATENCY_SECONDS, sent, round_trips)
    deadline = time.perf_counter() + 30
    while len(_received(webhook)) < len(sent) and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    cpu = cpu_seconds(pid) - cpu_before
    received = _received(webhook)
    await webhook.stop()
    latencies = [received[key] - at for key, at in sent.items() if key in received]
    return {"notification": common.latency_summary(latencies),
            "patch_round_trip": common.latency_summary(round_trips),
            "changes": len(sent), "lost": len(sent) - len(latencies),
            "server_cpu_ms_per_change": round(cpu * 1000 / max(1, len(sent)), 3)}


def measure_latency(backend: str = "sqlite") -> dict[str, Any]:
    with _server_with_entities(backend) as server:
        result = asyncio.run(_latency(server.port, server.pid))
    note, base = result["notification"], result["patch_round_trip"]
    return {
        "scenario": "notification_latency", "backend": backend, "date": common.now_iso(),
        "unit": "ms from sending the PATCH to the webhook receiving its notification",
        "target": f"p50 <= {TARGETS['p50_ms']} ms, p99 <= {TARGETS['p99_ms']} ms at "
                  f"{RATE:.0f} changes/s",
        "measured": f"p50 {note['p50_ms']} ms, p99 {note['p99_ms']} ms",
        "meets_target": (note["p50_ms"] <= TARGETS["p50_ms"]
                         and note["p99_ms"] <= TARGETS["p99_ms"] and result["lost"] == 0),
        "baseline_name": "PATCH round trip (same requests, same run)",
        "ratio_p50": common.ratio(note["p50_ms"], base["p50_ms"]),
        "ratio_p99": common.ratio(note["p99_ms"], base["p99_ms"]),
        **result, "entities": N_ENTITIES, "server": common.server_note(),
        "machine": common.machine_info(),
    }


async def _closed_loop(port: int, seconds: float, request: Any,
                       connections: int = CONNECTIONS) -> int:
    """`request(client, i)` on `connections` connections, back to back; how many were
    sent."""
    clients = [await RawClient(port).open() for _ in range(connections)]
    stop_at = time.perf_counter() + seconds
    counter = [0]

    async def worker(client: RawClient) -> None:
        while time.perf_counter() < stop_at:
            counter[0] += 1
            await request(client, counter[0])

    await asyncio.gather(*(worker(c) for c in clients))
    for client in clients:
        client.close()
    return counter[0]


async def _throughput(port: int, pid: int) -> dict[str, Any]:
    webhook = await Webhook().start()
    body = orjson.dumps({"type": "Notification", "data": [{"id": "x", "count": 1}]})

    async def direct(client: RawClient, i: int) -> None:
        await client.request("POST", "/notify", body)

    baseline_sent = await _closed_loop(webhook.port, 3.0, direct)
    webhook.arrivals.clear()
    await _subscribe(port, webhook.url)

    async def upsert(client: RawClient, i: int) -> None:
        # Changes come in batches so that writing them is cheap and delivery is measured.
        first = (i * BATCH) % N_ENTITIES
        entities = [{"id": common.entity_id((first + k) % N_ENTITIES),
                     "type": common.ENTITY_TYPE,
                     "count": {"type": "Property", "value": i * BATCH + k}}
                    for k in range(BATCH)]
        path = f"{common.API}/entityOperations/update"
        if await client.request("POST", path, orjson.dumps(entities)) != 204:
            raise RuntimeError("batch update failed")

    cpu_before = cpu_seconds(pid)
    started = time.perf_counter()
    batches = await _closed_loop(port, THROUGHPUT_SECONDS, upsert, connections=2)
    load_end = time.perf_counter()
    expected = batches * BATCH
    deadline = time.perf_counter() + 120
    while len(webhook.arrivals) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    cpu = cpu_seconds(pid) - cpu_before
    arrivals = [at for at, _ in webhook.arrivals]
    await webhook.stop()
    span = (arrivals[-1] - arrivals[0]) if len(arrivals) > 1 else 0.0
    return {"notifications_per_s": round(len(arrivals) / span, 1) if span else 0.0,
            "changes_per_s": round(expected / (load_end - started), 1),
            "notifications": len(arrivals), "expected": expected,
            "drain_after_load_s": round(max(0.0, arrivals[-1] - load_end), 3),
            "server_cpu_ms_per_notification": round(cpu * 1000 / max(1, len(arrivals)), 3),
            "baseline_direct_posts_per_s": round(baseline_sent / 3.0, 1)}


def measure_throughput(backend: str = "sqlite") -> dict[str, Any]:
    with _server_with_entities(backend) as server:
        result = asyncio.run(_throughput(server.port, server.pid))
    rate = result["notifications_per_s"]
    return {
        "scenario": "notification_throughput", "backend": backend,
        "date": common.now_iso(),
        "unit": "notifications/s received by the webhook, first to last",
        "target": TARGETS["notifications_per_s"], "measured": rate,
        "meets_target": rate >= TARGETS["notifications_per_s"]
                        and result["notifications"] >= result["expected"],
        "baseline_name": "the same client POSTing straight to the webhook",
        "ratio": common.ratio(rate, result["baseline_direct_posts_per_s"]),
        **result, "subscriptions": 1, "batch": BATCH,
        "server": common.server_note(), "machine": common.machine_info(),
    }


async def _many_subscriptions(port: int) -> None:
    """10,000 subscriptions over 1,000 other entity types, plus 10 on the written type whose
    q never holds: every PATCH is journaled and matched, none notifies."""
    client = await RawClient(port).open()
    try:
        for i in range(N_SUBSCRIPTIONS):
            on_sensor = i < 10
            body = orjson.dumps({
                "id": f"urn:ngsi-ld:Subscription:load-{i}", "type": "Subscription",
                "entities": [{"type": common.ENTITY_TYPE if on_sensor else f"Kind{i % 1000}"}],
                **({"q": "count<0"} if on_sensor else {}),
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/never"}}})
            status = await client.request("POST", f"{common.API}/subscriptions", body)
            if status != 201:
                raise RuntimeError(f"subscription refused: {status}")
    finally:
        client.close()


async def _patch_load(port: int, subscriptions: bool, pid: int) -> dict[str, Any]:
    started = time.perf_counter()
    if subscriptions:
        await _many_subscriptions(port)
    setup = time.perf_counter() - started

    async def patch(client: RawClient, i: int) -> None:
        if await client.request("PATCH", _path(i % N_ENTITIES), _patch_body(i)) != 204:
            raise RuntimeError("PATCH failed")

    await _closed_loop(port, 2.0, patch)  # warm-up
    cpu_before = cpu_seconds(pid)
    sent = await _closed_loop(port, WRITE_SECONDS, patch)
    cpu_us = (cpu_seconds(pid) - cpu_before) / max(1, sent) * 1e6
    return {"requests_per_s": round(sent / WRITE_SECONDS, 1), "requests": sent,
            "server_cpu_us_per_request": round(cpu_us, 1),
            "setup_s": round(setup, 1), "connections": CONNECTIONS}


def _patch_rps(subscriptions: bool, backend: str = "sqlite") -> dict[str, Any]:
    with _server_with_entities(backend) as server:
        return asyncio.run(_patch_load(server.port, subscriptions, server.pid))


def measure_write_cost(backend: str = "sqlite") -> dict[str, Any]:
    none = _patch_rps(subscriptions=False, backend=backend)
    many = _patch_rps(subscriptions=True, backend=backend)
    ratio = common.ratio(many["requests_per_s"], none["requests_per_s"]) or 0.0
    return {
        "scenario": "write_cost_of_subscriptions", "backend": backend,
        "date": common.now_iso(),
        "unit": "PATCH requests/s (16 connections, back to back)",
        "target": f">= {TARGETS['write_ratio']:.0%} of the rate without subscriptions",
        "measured": many["requests_per_s"], "baseline": none["requests_per_s"],
        "baseline_name": "the same PATCH load without any subscription, same run",
        "ratio": ratio, "meets_target": ratio >= TARGETS["write_ratio"],
        # The server's CPU per PATCH (all its threads; not the database server's on
        # PostgreSQL): far less exposed than requests/s to other load on the machine.
        "cpu_ratio": common.ratio(none["server_cpu_us_per_request"],
                                  many["server_cpu_us_per_request"]),
        "with_subscriptions": many, "without_subscriptions": none,
        "subscriptions": N_SUBSCRIPTIONS, "server": common.server_note(),
        "machine": common.machine_info(),
    }


SCENARIOS: dict[str, Any] = {"latency": measure_latency, "throughput": measure_throughput,
             "write_cost": measure_write_cost}


def _compared(on_sqlite: dict[str, Any], on_postgres: dict[str, Any]) -> dict[str, Any]:
    """PostgreSQL's headline figures as ratios to SQLite's (same scenario, same run)."""
    figures: dict[str, Any] = {"scenario": on_sqlite["scenario"] + "_postgresql_vs_sqlite",
                               "baseline_name": "the same scenario on SQLite, same run"}
    if "notification" in on_sqlite:
        for q in ("p50_ms", "p99_ms"):
            figures[f"ratio_{q}"] = common.ratio(on_postgres["notification"][q],
                                                 on_sqlite["notification"][q])
    for key in ("notifications_per_s", "changes_per_s"):
        if key in on_sqlite:
            figures[f"ratio_{key}"] = common.ratio(on_postgres[key], on_sqlite[key])
    if "with_subscriptions" in on_sqlite:
        figures["ratio_requests_per_s"] = common.ratio(on_postgres["measured"],
                                                       on_sqlite["measured"])
    return figures


def _against_baseline(baseline: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    """This code's headline figures as ratios to the baseline code's (same run)."""
    figures: dict[str, Any] = {"scenario": current["scenario"] + "_vs_baseline",
                               "backend": current["backend"],
                               "baseline_name": "the same scenario on the baseline code, "
                                                "same run (ratio = this / baseline)"}
    for part in ("notification", "patch_round_trip"):
        if part in current:
            for q in ("p50_ms", "p99_ms"):
                figures[f"{part}_{q}"] = [baseline[part][q], current[part][q],
                                          common.ratio(current[part][q], baseline[part][q])]
    for key in ("notifications_per_s", "changes_per_s", "server_cpu_ms_per_change",
                "server_cpu_ms_per_notification", "ratio"):
        if key in current and isinstance(current[key], int | float):
            figures[key] = [baseline[key], current[key],
                            common.ratio(current[key], baseline[key])]
    return figures


def _on_code(name: str, backend: str, src: str | None) -> dict[str, Any]:
    CODE["src"] = src
    try:
        return {**SCENARIOS[name](backend),
                "code": f"baseline ({src})" if src else "this checkout"}
    finally:
        CODE["src"] = None


def _run(name: str, backends: list[str], baseline_src: str | None,
         this_first: bool = False) -> list[dict[str, Any]]:
    """The scenario on each backend; with a baseline, on both codes (this checkout first
    when `this_first`: alternating the order cancels a drift of the machine's load)."""
    results: list[dict[str, Any]] = []
    runs: dict[str, dict[str, Any]] = {}
    for backend in backends:
        if baseline_src:
            order = [None, baseline_src] if this_first else [baseline_src, None]
            first, second = (_on_code(name, backend, src) for src in order)
            before, runs[backend] = (second, first) if this_first else (first, second)
            results += [before, runs[backend], _against_baseline(before, runs[backend])]
        else:
            runs[backend] = SCENARIOS[name](backend)
            results.append(runs[backend])
    if {"sqlite", "postgresql"} <= runs.keys():
        results.append(_compared(runs["sqlite"], runs["postgresql"]))
    return results


def main() -> None:
    args = sys.argv[1:]
    backends = ["sqlite"]
    baseline_src: str | None = None
    rounds = 1
    for arg in list(args):
        if arg.startswith("--backends="):
            backends = arg.removeprefix("--backends=").split(",")
        elif arg.startswith("--baseline-src="):
            baseline_src = str(Path(arg.removeprefix("--baseline-src=")).resolve())
        elif arg.startswith("--rounds="):
            rounds = int(arg.removeprefix("--rounds="))
        else:
            continue
        args.remove(arg)
    results = []
    load_at_start = os.getloadavg()
    for round_number in range(rounds):
        for name in args or list(SCENARIOS):
            results.extend(_run(name, backends, baseline_src, this_first=round_number % 2 == 1))
    common.emit({"load_average_start": load_at_start, "load_average_end": os.getloadavg(),
                 "scenarios": results})


if __name__ == "__main__":
    main()
