"""Who used the two cores during a measurement: CPU seconds per process group from
/proc/<pid>/stat (utime + stime), before and after, divided by the wall time, so 1.0 is
one core kept busy. Groups: the named server processes (by pid, children included) and
every other process by command name (postgres, nginx, wrk, nats-server, …)."""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

TICKS = os.sysconf("SC_CLK_TCK")


def _processes() -> Iterator[tuple[int, int, str, float]]:
    """(pid, parent pid, command, CPU seconds) of every process still readable."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        command = raw[raw.index("(") + 1:raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2:].split()
        yield int(entry.name), int(fields[1]), command, (int(fields[11]) + int(fields[12])) / TICKS


def snapshot(named: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far per group; `named` maps a group name to a root pid."""
    rows = list(_processes())
    parent = {pid: ppid for pid, ppid, _, _ in rows}
    roots = {pid: name for name, pid in named.items()}
    totals: dict[str, float] = defaultdict(float)
    for pid, _, command, seconds in rows:
        group, walk = command, pid
        while walk in parent:
            if walk in roots:
                group = roots[walk]
                break
            walk = parent[walk]
        totals[group] += seconds
    return dict(totals)


@contextmanager
def cpu_share(named: Mapping[str, int], into: dict[str, Any]) -> Iterator[None]:
    """Fill `into` with cores used per group (≥ 0.02) while the block ran."""
    before, started = snapshot(named), time.monotonic()
    yield
    after, wall = snapshot(named), time.monotonic() - started
    used = {group: (after[group] - before.get(group, 0.0)) / wall for group in after}
    into.update({group: round(cores, 2) for group, cores in
                 sorted(used.items(), key=lambda item: -item[1]) if cores >= 0.02})
    into["total"] = round(sum(v for k, v in into.items() if k != "total"), 2)
