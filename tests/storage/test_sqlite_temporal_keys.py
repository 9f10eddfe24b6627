"""The SQLite history's attribute-key cache (cityos.storage.sqlite.temporal) and the writer's
rollback listeners (cityos.storage.sqlite.writer): a key created in a transaction that
rolls back is never reused for another attribute."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from cityos.storage.base import TemporalSelection
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.temporal import SqliteTemporalStore
from cityos.storage.sqlite.writer import WriterThread

SPEED = "https://example.org/speed"
FUEL = "https://example.org/fuel"
CAR = "urn:ngsi-ld:Vehicle:1"


def _entity(attribute: str, value: int, at: str) -> dict[str, object]:
    return {"id": CAR, "type": ["https://example.org/Vehicle"], "createdAt": at,
            "modifiedAt": at, "attrs": {attribute: [
                {"type": "Property", "value": value, "createdAt": at, "modifiedAt": at}]}}


async def test_writer_tells_its_rollback_listeners(tmp_path: Path) -> None:
    forgotten: list[str] = []
    conn = sqlite3.connect(tmp_path / "w.db", check_same_thread=False, isolation_level=None)
    writer = WriterThread(conn, on_rollback=[lambda: forgotten.append("rolled back")])
    writer.start()
    try:
        assert await writer.submit(lambda c: 1) == 1
        assert forgotten == []

        def fail(c: sqlite3.Connection) -> None:
            raise RuntimeError("job failed")
        with contextlib.suppress(RuntimeError):
            await writer.submit(fail)
        assert forgotten  # the group and the job's own retry both rolled back
    finally:
        writer.stop()
        conn.close()


async def test_a_key_made_in_a_rolled_back_write_is_not_reused(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "h.db"))
    history = SqliteTemporalStore(store)
    await store.open()
    try:
        def broken(old: object) -> None:
            raise RuntimeError("crash after the history row of FUEL was written")
        # The first entity's history creates FUEL's key, then the job fails: all rolled back.
        other = "urn:ngsi-ld:Vehicle:2"
        with contextlib.suppress(RuntimeError):
            await store.apply("", [(other, lambda old: {**_entity(FUEL, 1, "2024-01-01T00:00:00Z"),
                                                        "id": other}),
                                   (CAR, broken)])
        # SPEED now takes the key FUEL had in the rolled-back transaction …
        await store.apply("", [(CAR, lambda old: _entity(SPEED, 5, "2024-01-01T00:01:00Z"))])
        # … and FUEL must get a key of its own, not the stale one.
        await store.apply("", [(other, lambda old: {**_entity(FUEL, 7, "2024-01-01T00:02:00Z"),
                                                    "id": other})])
        selection = TemporalSelection(timeproperty="modifiedAt")
        found = await history.instances("", [CAR, other], selection)
        assert list(found[CAR].attrs) == [SPEED]
        assert list(found[other].attrs) == [FUEL]
        assert [i["value"] for i in found[other].attrs[FUEL]] == [7]
    finally:
        await store.close()


