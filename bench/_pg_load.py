"""Loading the PostgreSQL benchmark database through batch upsert, with CPU accounting, and
the same-run raw `COPY` baseline of the rows the server wrote (bench.postgres)."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import psycopg

from bench import common

BATCH = 1000
Conn = psycopg.Connection[tuple[Any, ...]]
# Every table an entity write fills, with the key that ties its rows to the first n
# entities (entity pk, or temporal entity key).
_TABLES = {
    "entities": "pk IN (SELECT pk FROM entities ORDER BY pk LIMIT %(n)s)",
    "attr_values": "pk IN (SELECT pk FROM entities ORDER BY pk LIMIT %(n)s)",
    "geo_index": "pk IN (SELECT pk FROM entities ORDER BY pk LIMIT %(n)s)",
    "temporal_entities": "ek IN (SELECT ek FROM temporal_entities ORDER BY ek LIMIT %(n)s)",
    "temporal_series": "ek IN (SELECT ek FROM temporal_entities ORDER BY ek LIMIT %(n)s)",
    "temporal_instances": "ek IN (SELECT ek FROM temporal_entities ORDER BY ek LIMIT %(n)s)",
}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / 100.0


def backend_pids(conn: Conn) -> list[int]:
    """The other sessions on this database: the server's pooled connections (the
    benchmark database holds nothing else)."""
    rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()").fetchall()
    return [row[0] for row in rows]


class CpuMeter:
    """CPU seconds spent by the server process and its PostgreSQL backends since start."""

    def __init__(self, conn: Conn, server_pid: int) -> None:
        self._conn, self._server_pid = conn, server_pid
        self._start = self._sample()

    def _sample(self) -> dict[int, float]:
        pids = [self._server_pid, *backend_pids(self._conn)]
        return {pid: cpu_seconds(pid) for pid in pids}

    def spent(self) -> tuple[float, float]:
        """(server, database) CPU seconds so far."""
        now = self._sample()
        used = {pid: cpu - self._start.get(pid, 0.0) for pid, cpu in now.items()}
        server = used.pop(self._server_pid, 0.0)
        return server, sum(used.values())


def entity_batches(first: int, count: int, points: list[tuple[float, float]],
                   generation: int = 0) -> Iterator[list[common.Json]]:
    for start in range(first, first + count, BATCH):
        stop = min(start + BATCH, first + count)
        yield [common.make_entity(i, points[i], generation=generation)
               for i in range(start, stop)]


def _send(port: int, batches: Iterator[list[common.Json]]) -> list[float]:
    client = common.Client(port)
    try:
        return [common.upsert_all(client, batch, BATCH)[0] for batch in batches]
    finally:
        client.close()


def _shard(batches: list[list[common.Json]], clients: int) -> list[Iterator[list[common.Json]]]:
    return [iter(batches[k::clients]) for k in range(clients)]


def upsert_phase(port: int, meter: CpuMeter, batches: Iterator[list[common.Json]],
                 n: int, clients: int) -> dict[str, Any]:
    """Send every batch (one at a time per client); entities/s and CPU per entity."""
    durations: list[float] = []
    started = time.perf_counter()
    if clients == 1:
        durations = _send(port, batches)
    else:
        # Generated in chunks so that a million entities are never all in memory.
        while chunk := [b for _, b in zip(range(clients * 20), batches, strict=False)]:
            with ThreadPoolExecutor(clients) as pool:
                for part in pool.map(lambda it: _send(port, it), _shard(chunk, clients)):
                    durations += part
    wall = time.perf_counter() - started
    server_cpu, db_cpu = meter.spent()
    return {"entities": n, "clients": clients, "seconds": round(wall, 1),
            "entities_per_s": round(n / wall),
            "batch_latency": common.latency_summary(durations),
            "server_cpu_us_per_entity": round(server_cpu / n * 1e6, 1),
            "postgres_cpu_us_per_entity": round(db_cpu / n * 1e6, 1),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def copy_baseline(conn: Conn, n: int) -> dict[str, Any]:
    """COPY (binary) the rows of the first `n` entities, in every table the server wrote,
    into empty tables with the same indexes; rows/s and entities/s of the COPY in."""
    rows, seconds = 0, 0.0
    with tempfile.TemporaryDirectory(prefix="cityos-copy-") as tmp:
        for table, condition in _TABLES.items():
            path = Path(tmp) / table
            copy_sql = f"COPY (SELECT * FROM {table} WHERE {condition}) TO STDOUT (FORMAT binary)"
            with path.open("wb") as out, conn.cursor().copy(copy_sql, {"n": n}) as copy:
                for block in copy:
                    out.write(block)
            conn.execute(f"CREATE TABLE bench_copy_{table} (LIKE {table} INCLUDING INDEXES)")
            started = time.perf_counter()
            with conn.transaction(), path.open("rb") as data, conn.cursor().copy(
                    f"COPY bench_copy_{table} FROM STDIN (FORMAT binary)") as copy:
                while block := data.read(1 << 20):
                    copy.write(block)
            seconds += time.perf_counter() - started
            rows += conn.execute(f"SELECT count(*) FROM bench_copy_{table}").fetchone()[0]  # type: ignore[index]
            conn.execute(f"DROP TABLE bench_copy_{table}")
    return {"entities": n, "rows": rows, "seconds": round(seconds, 2),
            "entities_per_s": round(n / seconds), "rows_per_s": round(rows / seconds),
            "tables": list(_TABLES)}
