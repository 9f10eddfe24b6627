"""The SQLite temporal history store (cityos.storage.sqlite.temporal)."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from cityos.broker.temporal_retention import RetentionPolicy, purge_expired
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal.diff import HistoryRecord
from cityos.storage.base import TemporalSelection
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.temporal import SqliteTemporalStore

SPEED = "https://example.org/speed"
VEHICLE = "https://example.org/Vehicle"


def _entity(value: object, modified: str) -> dict[str, object]:
    return {"id": "urn:ngsi-ld:Vehicle:1", "type": [VEHICLE], "createdAt": modified,
            "modifiedAt": modified, "attrs": {SPEED: [
                {"type": "Property", "value": value, "createdAt": modified,
                 "modifiedAt": modified}]}}


async def _open(tmp_path: Path) -> tuple[SqliteStore, SqliteTemporalStore]:
    store = SqliteStore(str(tmp_path / "t.db"))
    history = SqliteTemporalStore(store)
    await store.open()
    return store, history


def test_every_committed_entity_write_is_recorded_and_rejected_ones_are_not(
        tmp_path: Path) -> None:
    async def scenario() -> list[object]:
        store, history = await _open(tmp_path)
        for value, at in ((1, "2024-01-01T00:00:00Z"), (2, "2024-01-01T00:01:00Z")):
            await store.apply("", [("urn:ngsi-ld:Vehicle:1",
                                    lambda old, v=value, t=at: _entity(v, t))])

        def refuse(old: object) -> None:
            raise BadRequestData("no")
        await store.apply("", [("urn:ngsi-ld:Vehicle:1", refuse)])
        found = await history.instances("", ["urn:ngsi-ld:Vehicle:1"], TemporalSelection(
            timeproperty="modifiedAt"))
        await store.close()
        return [i["value"] for i in found["urn:ngsi-ld:Vehicle:1"].attrs[SPEED]]

    assert asyncio.run(scenario()) == [1, 2]


def test_numeric_instances_store_no_json(tmp_path: Path) -> None:
    async def scenario() -> None:
        store, history = await _open(tmp_path)
        records = [HistoryRecord(SPEED, {"type": "Property", "value": v,
                                         "observedAt": "2024-01-01T00:00:00Z",
                                         "createdAt": "2024-01-01T00:00:00Z",
                                         "modifiedAt": "2024-01-01T00:00:00Z"})
                   for v in (3, 2.5, "text")]
        await history.append("", "urn:ngsi-ld:Vehicle:1", [VEHICLE], records, None)
        await store.close()
    asyncio.run(scenario())
    conn = sqlite3.connect(tmp_path / "t.db")
    docs = [r[0] for r in conn.execute("SELECT doc FROM temporal_instances ORDER BY ik")]
    assert docs[:2] == ["i", None]
    assert docs[2] == '{"type":"Property","value":"text"}'


def test_retention_deletes_old_instances_in_batches(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int]:
        store, history = await _open(tmp_path)
        old = [HistoryRecord(SPEED, {"type": "Property", "value": n,
                                     "createdAt": "2020-01-01T00:00:00Z",
                                     "modifiedAt": "2020-01-01T00:00:00Z"}) for n in range(25)]
        await history.append("", "urn:ngsi-ld:Vehicle:1", [VEHICLE], old, None)
        await history.append("", "urn:ngsi-ld:Bus:1", ["https://example.org/Bus"], old, None)
        policy = RetentionPolicy.parse("0,https://example.org/Vehicle=30")
        deleted = await purge_expired(history, policy, datetime(2024, 1, 1, tzinfo=UTC),
                                      batch=10)
        kept = await history.instances("", ["urn:ngsi-ld:Bus:1"],
                                       TemporalSelection(timeproperty="modifiedAt"))
        await store.close()
        return deleted, len(kept["urn:ngsi-ld:Bus:1"].attrs[SPEED])

    assert asyncio.run(scenario()) == (25, 25)


def test_retention_setting_parses_defaults_and_overrides() -> None:
    policy = RetentionPolicy.parse("365, Vehicle=30, https://example.org/Sensor=7")
    assert policy.default_days == 365
    assert policy.by_type == {"https://uri.etsi.org/ngsi-ld/default-context/Vehicle": 30,
                              "https://example.org/Sensor": 7}


def test_temporal_input_replaces_the_instance_of_a_series_at_the_same_time(
        tmp_path: Path) -> None:
    def record(value: int, observed: str, **extra: str) -> HistoryRecord:
        return HistoryRecord(SPEED, {"type": "Property", "value": value,
                                     "observedAt": observed, **extra,
                                     "createdAt": "2024-02-01T00:00:00Z",
                                     "modifiedAt": "2024-02-01T00:00:00Z"})

    async def scenario() -> list[tuple[object, object]]:
        store, history = await _open(tmp_path)
        entity = "urn:ngsi-ld:Vehicle:1"
        await history.append("", entity, [VEHICLE], [record(1, "2024-01-01T00:00:00Z"),
                                                      record(2, "2024-01-01T00:01:00Z")], None)
        await history.append("", entity, [VEHICLE], [
            record(3, "2024-01-01T00:00:00Z"),
            record(4, "2024-01-01T00:00:00Z", datasetId="urn:ngsi-ld:Dataset:b")], None)
        found = await history.instances("", [entity], TemporalSelection())
        await store.close()
        return sorted((i["value"], i.get("datasetId"))
                      for i in found[entity].attrs[SPEED])

    assert asyncio.run(scenario()) == [(2, None), (3, None), (4, "urn:ngsi-ld:Dataset:b")]
