"""Sequential latency measurement of HTTP queries and of their raw-SQL baselines."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from bench import common

HTTP_MAX_N = 300
HTTP_MAX_S = 6.0
SQL_MAX_N = 300
SQL_MAX_S = 4.0


def http_latency(client: common.Client, paths: list[str]) -> dict[str, Any]:
    """GET each path in turn (round robin), one request at a time, after one untimed
    pass over every distinct path: the raw SQL baselines run on pages the server's
    requests have brought into PostgreSQL's cache, so the server's must too."""
    sent = [0]
    counts: list[int] = []
    errors: list[str] = []

    def one() -> None:
        path = paths[sent[0] % len(paths)]
        sent[0] += 1
        status, headers, body = client.request("GET", path)
        if status != 200:
            errors.append(f"{status} {path} {body[:200]!r}")
        if "ngsild-results-count" in headers:
            counts.append(int(headers["ngsild-results-count"]))

    samples = common.timed_samples(one, max_n=HTTP_MAX_N, max_seconds=HTTP_MAX_S,
                                   warmup=len(paths))
    summary = common.latency_summary(samples)
    if counts:
        summary["mean_results_count"] = round(sum(counts) / len(counts), 1)
    if errors:
        summary["errors"] = len(errors)
        summary["first_error"] = errors[0]
    return summary


def sql_latency(conn: sqlite3.Connection, work: Callable[[sqlite3.Connection, int], object],
                *, min_n: int = 5) -> dict[str, Any]:
    """Run `work(conn, i)` with i = 0, 1, 2, … one call at a time."""
    state = {"i": 0}

    def one() -> None:
        work(conn, state["i"])
        state["i"] += 1

    return common.latency_summary(
        common.timed_samples(one, max_n=SQL_MAX_N, max_seconds=SQL_MAX_S, min_n=min_n))


def verdict(measured_p95: float, target_ms: float, baseline_p95: float) -> dict[str, Any]:
    return {
        "target_p95_ms": target_ms,
        "measured_p95_ms": measured_p95,
        "meets_target": measured_p95 <= target_ms,
        "baseline_p95_ms": baseline_p95,
        "ratio_p95": common.ratio(measured_p95, baseline_p95),
    }


def latency_report(scenario: str, results: dict[str, Any], target_ms: float,
                   baseline_name: str, load_s: float | None) -> dict[str, Any]:
    """The JSON result of a latency scenario (3 and 4): every query with its baseline."""
    worst = max(e["measured_p95_ms"] for e in results.values())
    return {
        "scenario": scenario,
        "date": common.now_iso(),
        "unit": "ms (sequential requests, one connection)",
        "target": f"p95 <= {target_ms} ms",
        "measured": f"worst p95 {worst} ms",
        "meets_target": all(e["meets_target"] for e in results.values()),
        "baseline_name": baseline_name,
        "queries": results,
        "entities": common.LARGE_N,
        "setup_load_s": None if load_s is None else round(load_s, 3),
        "server": common.server_note(),
        "machine": common.machine_info(),
    }
