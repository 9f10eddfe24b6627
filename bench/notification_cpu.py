"""Notification delivery as CPU time per change, in process: the whole ASGI app (every
middleware, the SQLite backend and its writer thread, matching, the outbox, HTTP delivery)
driven without a network for the PATCHes, one subscription notifying a webhook on
127.0.0.1 (bench/_webhook.py, in the same process) of every change. Each round writes
`BENCH_CHANGES` changes (32 in flight) with the subscription and the same without any, and
reports CPU µs per change of every thread, so the difference is what notifying costs.

With `--baseline-src=DIR` (the `src` folder of another checkout) every round runs on that
code and on this one, alternately first, each in a fresh process; ratios are this / the
baseline. `--callgrind` runs the same under `valgrind --tool=callgrind` and reports
instructions per change instead (deterministic, independent of the machine's load).

Run: python -m bench.notification_cpu [--baseline-src=DIR] [--callgrind]
     (BENCH_ROUNDS, default 3; BENCH_CHANGES, default 2000)
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench import common

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CHANGES = int(os.environ.get("BENCH_CHANGES", "2000"))
IN_FLIGHT = 32
WARM_UP = 200
N_ENTITIES = 1000
API = "/ngsi-ld/v1"


async def _write(app: Any, changes: int, first_value: int) -> None:
    from bench.security_cpu import call

    async def worker(first: int) -> None:
        for n in range(first, changes, IN_FLIGHT):
            body = orjson.dumps({"count": {"type": "Property", "value": first_value + n}})
            status = await call(app, "PATCH",
                                f"{API}/entities/{common.entity_id(n % N_ENTITIES)}/attrs",
                                body)
            assert status == 204, status

    await asyncio.gather(*(worker(k) for k in range(IN_FLIGHT)))


async def _one(directory: Path, subscribed: bool, changes: int) -> dict[str, float]:
    """CPU of `changes` PATCHes (and their notifications, when `subscribed`)."""
    from bench._webhook import Webhook
    from bench.security_cpu import call
    from cityos.app import build_app
    from cityos.config import load_settings

    settings = load_settings({"database_url": f"sqlite:///{directory / 'n.db'}",
                              "dev": True}, environ={})
    app = build_app(settings)
    webhook = await Webhook().start()
    async with app.router.lifespan_context(app):
        entities = [common.make_entity(i, p)
                    for i, p in enumerate(common.kaga_points(N_ENTITIES))]
        for start in range(0, N_ENTITIES, 500):
            status = await call(app, "POST", f"{API}/entityOperations/upsert",
                                orjson.dumps(entities[start:start + 500]))
            assert status in (201, 204), status
        if subscribed:
            body = orjson.dumps({
                "id": "urn:ngsi-ld:Subscription:cpu", "type": "Subscription",
                "entities": [{"type": common.ENTITY_TYPE}], "watchedAttributes": ["count"],
                "notification": {"format": "keyValues", "attributes": ["count"],
                                 "endpoint": {"uri": webhook.url}}})
            assert await call(app, "POST", f"{API}/subscriptions", body) == 201
        await _write(app, WARM_UP, 10_000_000)  # the same in every run (callgrind subtracts)
        await _settle(webhook, WARM_UP if subscribed else 0)
        webhook.arrivals.clear()
        cpu, main = time.process_time(), time.thread_time()
        await _write(app, changes, 0)
        await _settle(webhook, changes if subscribed else 0)
        figures = {"cpu_us": (time.process_time() - cpu) / max(1, changes) * 1e6,
                   "main_thread_us": (time.thread_time() - main) / max(1, changes) * 1e6,
                   "notifications": len(webhook.arrivals)}
    await webhook.stop()
    return figures


async def _settle(webhook: Any, expected: int) -> None:
    """Wait until `expected` notifications arrived (60 s at most), then let delivery's
    batched bookkeeping (outbox removals, status counters) finish."""
    deadline = time.monotonic() + 60
    while len(webhook.arrivals) < expected and time.monotonic() < deadline:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.3)


def _child(subscribed: bool, changes: int) -> None:
    """One measurement in this process; prints its figures as JSON."""
    with tempfile.TemporaryDirectory(prefix="cityos-ncpu-") as directory:
        figures = asyncio.run(_one(Path(directory), subscribed, changes))
    print(json.dumps(figures))


def _run_child(src: str | None, subscribed: bool, changes: int,
               callgrind: bool) -> dict[str, float]:
    env = {**os.environ, "PYTHONHASHSEED": "0", "CITYOS_LOG_LEVEL": "warning"}
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, "-m", "bench.notification_cpu", "--child",
               "1" if subscribed else "0", str(changes)]
    with tempfile.TemporaryDirectory(prefix="cityos-cg-") as out:
        if callgrind:
            command = ["valgrind", "--tool=callgrind", "--trace-children=no",
                       f"--callgrind-out-file={out}/cg.%p", *command]
        done = subprocess.run(command, capture_output=True, text=True, env=env,
                              cwd=common.REPO_ROOT, timeout=3600, check=True)
        figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        if callgrind:
            figures["instructions"] = _instructions(done.stderr)
    return figures


def _instructions(valgrind_log: str) -> float:
    """Total instructions (all threads) from callgrind's summary."""
    match = re.search(r"Collected\s*:\s*(\d+)", valgrind_log)
    if match is None:
        raise RuntimeError(f"no callgrind summary: {valgrind_log[-500:]}")
    return float(match.group(1))


def _per_change(src: str | None, callgrind: bool) -> dict[str, float]:
    """Cost per change with the subscription, without, and the difference (notifying)."""
    if callgrind:
        small, large = (_run_child(src, True, n, True)["instructions"] for n in (0, CHANGES))
        bare_small, bare_large = (_run_child(src, False, n, True)["instructions"]
                                  for n in (0, CHANGES))
        notified = (large - small) / CHANGES
        bare = (bare_large - bare_small) / CHANGES
        return {"instructions_per_change_notified": round(notified),
                "instructions_per_change_no_subscription": round(bare),
                "instructions_per_notification": round(notified - bare)}
    with_sub = _run_child(src, True, CHANGES, False)
    without = _run_child(src, False, CHANGES, False)
    if with_sub["notifications"] < CHANGES:
        raise RuntimeError(f"only {with_sub['notifications']} of {CHANGES} notified")
    return {"cpu_us_per_change_notified": round(with_sub["cpu_us"], 1),
            "cpu_us_per_change_no_subscription": round(without["cpu_us"], 1),
            "cpu_us_per_notification": round(with_sub["cpu_us"] - without["cpu_us"], 1),
            "main_thread_us_per_change_notified": round(with_sub["main_thread_us"], 1)}


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--child"]:
        _child(args[1] == "1", int(args[2]))
        return
    baseline = next((str(Path(a.split("=", 1)[1]).resolve()) for a in args
                     if a.startswith("--baseline-src=")), None)
    callgrind = "--callgrind" in args
    rounds = 1 if callgrind else ROUNDS
    load_at_start = os.getloadavg()
    runs: dict[str, list[dict[str, float]]] = {"this": [], "baseline": []}
    for round_number in range(rounds):
        order = ["this", "baseline"] if round_number % 2 else ["baseline", "this"]
        for code in order:
            if code == "baseline" and baseline is None:
                continue
            runs[code].append(_per_change(baseline if code == "baseline" else None,
                                          callgrind))
    result: dict[str, Any] = {
        "scenario": "notification_cpu", "date": common.now_iso(),
        "unit": "instructions per change (callgrind)" if callgrind
                else "CPU µs per change, all threads (median of rounds)",
        "changes": CHANGES, "rounds": rounds, "in_flight": IN_FLIGHT,
        "load_average_start": load_at_start, "load_average_end": os.getloadavg()}
    for code, figures in runs.items():
        if figures:
            result[code] = {k: statistics.median(f[k] for f in figures) for k in figures[0]}
            result[code + "_rounds"] = figures
    if baseline is not None:
        result["baseline_src"] = baseline
        result["ratio_this_to_baseline"] = {
            k: common.ratio(v, result["baseline"][k]) for k, v in result["this"].items()}
    common.emit(result)


if __name__ == "__main__":
    main()
