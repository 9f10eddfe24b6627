"""Run every benchmark scenario and print their results as one JSON list.

Run: make bench   (or: python -m bench.run_all [scenario …])
The 100,000 entities loaded by the batch upsert scenario are reused by the query ones.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from bench import batch_upsert, notifications, patch_update, query_geo, query_q, retrieve

SCENARIOS: dict[str, Callable[[], dict[str, Any]]] = {
    "patch_update": patch_update.measure,
    "retrieve": retrieve.measure,
    "batch_upsert": batch_upsert.measure,
    "query_q": query_q.measure,
    "query_geo": query_geo.measure,
    "notification_latency": notifications.measure_latency,
    "notification_throughput": notifications.measure_throughput,
    "notification_write_cost": notifications.measure_write_cost,
}


def main(argv: list[str] | None = None) -> None:
    names = (sys.argv[1:] if argv is None else argv) or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {list(SCENARIOS)}")
    results: list[dict[str, Any]] = []
    for name in names:
        started = time.perf_counter()
        print(f"[bench] {name} …", file=sys.stderr, flush=True)
        try:
            result = SCENARIOS[name]()
        except Exception as exc:  # report and go on with the other scenarios
            traceback.print_exc()
            result = {"scenario": name, "error": f"{type(exc).__name__}: {exc}"}
        result["elapsed_s"] = round(time.perf_counter() - started, 1)
        print(f"[bench] {name} done in {result['elapsed_s']} s", file=sys.stderr, flush=True)
        results.append(result)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
