"""WAL checkpoints run on their own thread: the writer's automatic checkpoint is only a
backstop far away, yet committed pages reach the database file within a moment, while
the store keeps serving reads and writes."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.types import JsonObject
from cityos.storage.sqlite.checkpoints import BACKSTOP_PAGES
from cityos.storage.sqlite.store import SqliteStore

CTX = core_context()


def sensor(n: int) -> JsonObject:
    return stamp_new_entity(parse_entity({
        "id": f"urn:ngsi-ld:Sensor:{n}", "type": "Sensor",
        "description": {"type": "Property", "value": "x" * 2000},
        "count": {"type": "Property", "value": n}}, CTX), "2026-11-26T00:00:00.000000Z")


async def test_committed_pages_reach_the_database_file_without_the_writer(
        tmp_path: Path) -> None:
    path = tmp_path / "checkpointed.db"
    store = SqliteStore(str(path))
    await store.open()
    try:
        backstop = await store.write(
            lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0])
        assert backstop == BACKSTOP_PAGES
        for start in range(0, 1500, 100):  # about 3 MB: far below the backstop's 200 MB
            await store.apply("", [(f"urn:ngsi-ld:Sensor:{n}",
                                    lambda old, n=n: sensor(n))
                                   for n in range(start, start + 100)])
        deadline = time.monotonic() + 10
        while os.path.getsize(path) < 2_000_000:  # copied in by the checkpoint thread
            assert time.monotonic() < deadline, os.path.getsize(path)
            await asyncio.sleep(0.05)
        assert await store.get_entity("", "urn:ngsi-ld:Sensor:1499") is not None
    finally:
        await store.close()
    reopened = SqliteStore(str(path))
    await reopened.open()
    try:
        assert (await reopened.get_entity("", "urn:ngsi-ld:Sensor:0"))["id"] == \
            "urn:ngsi-ld:Sensor:0"
    finally:
        await reopened.close()
