"""Render the JSON list printed by bench.run_all as the Markdown tables of
docs/benchmarks.md.

Run: python -m bench.run_all > results.json && python -m bench.report results.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.1f}" if value >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _throughput(r: dict[str, Any]) -> list[str]:
    lat = r.get("cityos", {}).get("latency_ms", {})
    lines = ["| target | measured | baseline | ratio | p50 / p99 (ms) | date |",
             "|---|---|---|---|---|---|",
             f"| ≥ {_fmt(r['target'])} {r['unit']} | {_fmt(r['measured'])} | "
             f"{_fmt(r['baseline'])} ({r['baseline_name']}) | {_fmt(r['ratio'])} | "
             f"{_fmt(lat.get('p50'))} / {_fmt(lat.get('p99'))} | {r['date'][:10]} |"]
    return lines


def _latency(r: dict[str, Any], baseline_key: str) -> list[str]:
    lines = ["| query | target p95 | p50 | p95 | p99 | baseline p95 | ratio p95 | date |",
             "|---|---|---|---|---|---|---|---|"]
    for name, q in r["queries"].items():
        c = q["cityos"]
        lines.append(f"| {name} | ≤ {_fmt(q['target_p95_ms'])} ms | {_fmt(c['p50_ms'])} | "
                     f"{_fmt(c['p95_ms'])} | {_fmt(c['p99_ms'])} | "
                     f"{_fmt(q[baseline_key]['p95_ms'])} | {_fmt(q['ratio_p95'])} | "
                     f"{r['date'][:10]} |")
    return lines


def render(results: list[dict[str, Any]]) -> str:
    out: list[str] = []
    for r in results:
        out.append(f"### {r['scenario']}")
        out.append("")
        if "error" in r:
            out.append(f"failed: {r['error']}")
        elif r["scenario"] in ("patch_update", "retrieve", "batch_upsert"):
            out.extend(_throughput(r))
        elif r["scenario"] == "query_q":
            out.extend(_latency(r, "raw_sql"))
        elif r["scenario"] == "query_geo":
            out.extend(_latency(r, "raw_rtree_sql"))
        out.append("")
    return "\n".join(out)


def main() -> None:
    source = Path(sys.argv[1]).read_text() if len(sys.argv) > 1 else sys.stdin.read()
    print(render(json.loads(source)))


if __name__ == "__main__":
    main()
