"""Security overhead: PATCH …/attrs and GET …/entities/{id} (the wrk scenarios 1–2) with
the audit trail off (baseline), on, and on with field encryption of a personal attribute
(`Sensor.name`), in the same run, alternating the configurations to spread the noise.
Security headers, the body limit and the rate-limit middleware (rates 0) are in every
configuration; their share is visible against `bare_asgi` figures of the other scenarios.

Run: python -m bench.security_overhead   (BENCH_WRK_SECONDS, default 10; BENCH_ROUNDS, 2)
"""

from __future__ import annotations

import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bench import common
from cityos.security.keys import generate_key_ring, write_key_ring

N_ENTITIES = 1000
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))
SCENARIOS = {"patch_update": ("patch.lua", "PATCH"), "retrieve": ("retrieve.lua", "GET")}


def configurations(key_file: Path) -> dict[str, dict[str, str]]:
    return {"audit_off": {"CITYOS_AUDIT": "false"},
            "audit_on": {"CITYOS_AUDIT": "true"},
            "audit_on_encrypted": {"CITYOS_AUDIT": "true", "CITYOS_KEY_FILE": str(key_file),
                                   "CITYOS_PERSONAL_ATTRIBUTES": "Sensor.name"}}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure_once(script: str, extra_env: dict[str, str]) -> tuple[float, float]:
    """(requests/s, server CPU µs per request) of one wrk run."""
    env = {"BENCH_ENTITIES": str(N_ENTITIES), "BENCH_PREFIX": common.ENTITY_PREFIX}
    with common.cityos_server(extra_env=extra_env) as server:
        common.load_entities(server.port, N_ENTITIES)
        before = cpu_seconds(server.pid)
        summary = common.wrk_summary(common.run_wrk(server.base, common.LUA_DIR / script,
                                                    env=env))
        used = cpu_seconds(server.pid) - before
    if summary["errors"]["status"]:
        raise RuntimeError(f"non-2xx answers under load: {summary['errors']}")
    return float(summary["requests_per_s"]), used / max(1, summary["requests"]) * 1e6


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cityos-keys-") as directory:
        key_file = Path(directory) / "bench.keys"
        write_key_ring(key_file, generate_key_ring())
        configs = configurations(key_file)
        results: dict[str, dict[str, list[tuple[float, float]]]] = {
            s: {c: [] for c in configs} for s in SCENARIOS}
        for _ in range(ROUNDS):
            for scenario, (script, _) in SCENARIOS.items():
                for name, env in configs.items():
                    results[scenario][name].append(measure_once(script, env))
    figures = {}
    for scenario, by_config in results.items():
        rps = {name: statistics.median(r for r, _ in runs) for name, runs in by_config.items()}
        cpu = {name: round(statistics.median(c for _, c in runs), 1)
               for name, runs in by_config.items()}
        figures[scenario] = {
            "runs_requests_per_s": {n: [r for r, _ in runs] for n, runs in by_config.items()},
            "median_requests_per_s": rps, "median_server_cpu_us_per_request": cpu,
            "baseline": "audit_off",
            "ratio_audit_on": common.ratio(rps["audit_on"], rps["audit_off"]),
            "ratio_audit_on_encrypted": common.ratio(rps["audit_on_encrypted"],
                                                     rps["audit_off"]),
            # CPU per request is far less exposed to other jobs on the machine than
            # throughput: its inverse ratio is the throughput ratio when CPU-bound.
            "cpu_ratio_audit_on": common.ratio(cpu["audit_off"], cpu["audit_on"]),
            "cpu_ratio_audit_on_encrypted": common.ratio(cpu["audit_off"],
                                                         cpu["audit_on_encrypted"])}
    return {"scenario": "security_overhead", "date": common.now_iso(),
            "entities": N_ENTITIES, "rounds": ROUNDS, "wrk_seconds": common.WRK_DURATION_S,
            "target": "ratio >= 0.85 (at most 15% lost)", "figures": figures,
            "server": common.server_note(), "machine": common.machine_info()}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
