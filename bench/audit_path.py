"""The audit write path alone, in microseconds per request: the middleware around a
do-nothing ASGI app (against that app alone: the baseline, same run), and sealing + storing
one record in a batch on SQLite. Small, stable figures to set against the server's CPU per
request (bench.security_overhead).

Run: python -m bench.audit_path
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

from bench import common
from cityos.metrics import Counters
from cityos.security.audit import AuditTrail
from cityos.security.audit_middleware import AuditMiddleware
from cityos.security.audit_queue import WIDTH
from cityos.security.principal import DEVELOPER
from cityos.storage.sqlite.audit_log import SqliteAuditLog
from cityos.storage.sqlite.store import SqliteStore

N = 20_000
BATCH = 200  # what 0.2 s of flush interval holds at 1,000 requests/s


async def bare(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
    scope["path_params"] = {"entity_id": "urn:ngsi-ld:Sensor:kaga-000001"}
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def drive(app: Any) -> float:
    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    path = "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:kaga-000001"
    headers = [(b"host", b"127.0.0.1"), (b"accept", b"application/json")]
    start = time.perf_counter()
    for _ in range(N):
        scope = {"type": "http", "method": "GET", "path": path, "headers": headers,
                 "client": ("127.0.0.1", 1), "cityos.principal": DEVELOPER}
        await app(scope, receive, send)
    return (time.perf_counter() - start) / N * 1e6


async def measure_async(directory: Path) -> dict[str, Any]:
    store = SqliteStore(str(directory / "audit.db"))
    trail = AuditTrail(SqliteAuditLog(store), Counters())
    await store.open()
    try:
        base = await drive(bare)
        audited = await drive(AuditMiddleware(bare, trail))
        queued = trail.queued
        step = BATCH * WIDTH  # the queue holds WIDTH scalars per entry (audit_queue)
        batches = [trail._pending[i:i + step] for i in range(0, len(trail._pending), step)]
        trail._pending = []
        start = time.perf_counter()
        for batch in batches:
            trail._pending = list(batch)
            await trail.flush()
        flush = (time.perf_counter() - start) / queued * 1e6
        assert (await trail.verify()).ok
    finally:
        await store.close()
    return {"scenario": "audit_path", "date": common.now_iso(), "unit": "µs per request",
            "baseline": round(base, 2), "baseline_name": "do-nothing ASGI app",
            "with_audit_middleware": round(audited, 2),
            "middleware_cost": round(audited - base, 2),
            "ratio": common.ratio(base, audited),
            "seal_and_store_per_record": round(flush, 2), "batch": BATCH,
            "records": queued, "machine": common.machine_info()}


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="cityos-audit-") as directory:
        return asyncio.run(measure_async(Path(directory)))


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
