"""The TemporalStore contract, on SQLite and PostgreSQL (cityos.storage.sqlite.temporal,
cityos.storage.postgres.temporal)."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.storage_support import new_store, open_delivery_log, open_temporal_store, raw_rows

from cityos.app import Store
from cityos.broker.temporal_retention import RetentionPolicy, purge_expired
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal import current
from cityos.ngsild.temporal.diff import HistoryRecord
from cityos.ngsild.temporal.times import parse_micros
from cityos.storage.base import AggregateRequest, TemporalSelection, TemporalStore
from cityos.storage.delivery import DeliveryLog

SPEED = "https://example.org/speed"
VEHICLE = "https://example.org/Vehicle"
CAR = "urn:ngsi-ld:Vehicle:1"
HOUR = 3_600_000_000


def _entity(value: object, modified: str) -> dict[str, object]:
    return {"id": CAR, "type": [VEHICLE], "createdAt": modified,
            "modifiedAt": modified, "attrs": {SPEED: [
                {"type": "Property", "value": value, "createdAt": modified,
                 "modifiedAt": modified}]}}


def _observed(value: object, observed: str, **extra: str) -> HistoryRecord:
    return HistoryRecord(SPEED, {"type": "Property", "value": value, "observedAt": observed,
                                 **extra, "createdAt": "2024-02-01T00:00:00Z",
                                 "modifiedAt": "2024-02-01T00:00:00Z"})


@pytest.fixture
async def backend(database_url: str) -> AsyncIterator[tuple[Store, TemporalStore]]:
    store = new_store(database_url)
    history = open_temporal_store(store)
    await store.open()
    try:
        yield store, history
    finally:
        await store.close()


async def test_every_committed_entity_write_is_recorded_and_rejected_ones_are_not(
        backend: tuple[Store, TemporalStore]) -> None:
    store, history = backend
    for value, at in ((1, "2024-01-01T00:00:00Z"), (2, "2024-01-01T00:01:00Z")):
        await store.apply("", [(CAR, lambda old, v=value, t=at: _entity(v, t))])

    def refuse(old: object) -> None:
        raise BadRequestData("no")
    await store.apply("", [(CAR, refuse)])
    found = await history.instances("", [CAR], TemporalSelection(timeproperty="modifiedAt"))
    assert [i["value"] for i in found[CAR].attrs[SPEED]] == [1, 2]


async def test_batches_record_every_entity(backend: tuple[Store, TemporalStore]) -> None:
    store, history = backend
    ids = [f"urn:ngsi-ld:Vehicle:{n}" for n in range(4)]
    await store.apply("", [(i, lambda old, i=i: {**_entity(7, "2024-01-01T00:00:00Z"),
                                                   "id": i}) for i in ids])
    heads = await history.candidates("", (), TemporalSelection(), False)
    assert [h.entity_id for h in heads] == ids


async def test_numeric_instances_store_no_json(backend: tuple[Store, TemporalStore]) -> None:
    store, history = backend
    records = [_observed(v, "2024-01-01T00:00:00Z") for v in (3, 2.5, "text")]
    await history.append("", CAR, [VEHICLE], records, None)
    docs = [r[0] for r in await raw_rows(store, "SELECT doc FROM temporal_instances "
                                                "ORDER BY ik")]
    assert docs[:2] == ["i", None]
    assert docs[2] == '{"type":"Property","value":"text"}'
    found = await history.instances("", [CAR], TemporalSelection())
    assert [i["value"] for i in found[CAR].attrs[SPEED]] == [3, 2.5, "text"]


async def test_retention_deletes_old_instances_in_batches(
        backend: tuple[Store, TemporalStore]) -> None:
    _, history = backend
    old = [HistoryRecord(SPEED, {"type": "Property", "value": n,
                                 "createdAt": "2020-01-01T00:00:00Z",
                                 "modifiedAt": "2020-01-01T00:00:00Z"}) for n in range(25)]
    await history.append("", CAR, [VEHICLE], old, None)
    await history.append("", "urn:ngsi-ld:Bus:1", ["https://example.org/Bus"], old, None)
    policy = RetentionPolicy.parse("0,https://example.org/Vehicle=30")
    deleted = await purge_expired(history, policy, datetime(2024, 1, 1, tzinfo=UTC),
                                  batch=10)
    kept = await history.instances("", ["urn:ngsi-ld:Bus:1"],
                                   TemporalSelection(timeproperty="modifiedAt"))
    assert (deleted, len(kept["urn:ngsi-ld:Bus:1"].attrs[SPEED])) == (25, 25)


def test_retention_setting_parses_defaults_and_overrides() -> None:
    policy = RetentionPolicy.parse("365, Vehicle=30, https://example.org/Sensor=7")
    assert policy.default_days == 365
    assert policy.by_type == {"https://uri.etsi.org/ngsi-ld/default-context/Vehicle": 30,
                              "https://example.org/Sensor": 7}


async def test_temporal_input_replaces_the_instance_of_a_series_at_the_same_time(
        backend: tuple[Store, TemporalStore]) -> None:
    _, history = backend
    await history.append("", CAR, [VEHICLE], [_observed(1, "2024-01-01T00:00:00Z"),
                                              _observed(2, "2024-01-01T00:01:00Z")], None)
    await history.append("", CAR, [VEHICLE], [
        _observed(3, "2024-01-01T00:00:00Z"),
        _observed(4, "2024-01-01T00:00:00Z", datasetId="urn:ngsi-ld:Dataset:b")], None)
    found = await history.instances("", [CAR], TemporalSelection())
    assert sorted((i["value"], i.get("datasetId")) for i in found[CAR].attrs[SPEED]) == [
        (2, None), (3, None), (4, "urn:ngsi-ld:Dataset:b")]


async def test_windows_lastn_and_truncation(backend: tuple[Store, TemporalStore]) -> None:
    _, history = backend
    await history.append("", CAR, [VEHICLE], [
        _observed(n, f"2024-01-01T00:0{n}:00Z") for n in range(6)], None)
    start, end = parse_micros("2024-01-01T00:01:00Z"), parse_micros("2024-01-01T00:04:00Z")
    between = await history.instances("", [CAR], TemporalSelection(lower=start, upper=end))
    assert [i["value"] for i in between[CAR].attrs[SPEED]] == [1, 2, 3]
    last = await history.instances("", [CAR], TemporalSelection(descending=True,
                                                                per_attribute=2))
    assert [i["value"] for i in last[CAR].attrs[SPEED]] == [5, 4]
    assert last[CAR].truncated == {SPEED}


async def test_aggregation_by_period_with_every_method(
        backend: tuple[Store, TemporalStore]) -> None:
    _, history = backend
    values = [1.0, 2.0, 4.0, 10.0, 10.0]  # three in the first hour, two in the second
    times = ["00:00", "00:20", "00:40", "01:10", "01:50"]
    await history.append("", CAR, [VEHICLE], [
        _observed(v, f"2024-01-01T{t}:00Z") for v, t in zip(values, times, strict=True)],
        None)
    methods = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
    origin = parse_micros("2024-01-01T00:00:00Z")
    found = await history.aggregate("", [CAR], AggregateRequest(
        TemporalSelection(), methods, HOUR, origin))
    [(kind, dataset, series)] = found[CAR][SPEED]
    assert (kind, dataset) == ("Property", None)
    assert [(v, s - origin, e - origin) for v, s, e in series["avg"]] == [
        (7 / 3, 0, HOUR), (10.0, HOUR, 2 * HOUR)]
    assert [v for v, _, _ in series["totalCount"]] == [3, 2]
    assert [v for v, _, _ in series["distinctCount"]] == [3, 1]
    assert [v for v, _, _ in series["sum"]] == [7.0, 20.0]
    assert [v for v, _, _ in series["min"]] == [1.0, 10.0]
    assert [v for v, _, _ in series["max"]] == [4.0, 10.0]
    assert [v for v, _, _ in series["sumsq"]] == [21.0, 200.0]
    first_stddev, second_stddev = (v for v, _, _ in series["stddev"])
    assert math.isclose(first_stddev, math.sqrt((21 - 49 / 3) / 2))
    assert second_stddev == 0.0


async def test_instances_are_updated_and_deleted_by_instance_id(
        backend: tuple[Store, TemporalStore]) -> None:
    _, history = backend
    await history.append("", CAR, [VEHICLE], [_observed(1, "2024-01-01T00:00:00Z"),
                                              _observed(2, "2024-01-01T00:01:00Z")], None)
    found = await history.instances("", [CAR], TemporalSelection())
    first, second = (i["instanceId"] for i in found[CAR].attrs[SPEED])
    assert (await history.update_instance("", CAR, SPEED, first,
                                          lambda old: {**old, "value": 42})).found
    assert (await history.delete_instance("", CAR, SPEED, second)).found
    assert not (await history.delete_instance("", CAR, SPEED, second)).found
    assert not (await history.update_instance("", CAR, SPEED, "urn:x:1",
                                              lambda old: old)).found
    found = await history.instances("", [CAR], TemporalSelection())
    assert [(i["instanceId"], i["value"]) for i in found[CAR].attrs[SPEED]] == [(first, 42)]
    assert (await history.delete_entity("", CAR, None)).found
    assert await history.head("", CAR) is None
    assert not (await history.delete_entity("", CAR, None)).found


@pytest.fixture
async def journaled(database_url: str) -> AsyncIterator[tuple[TemporalStore, DeliveryLog]]:
    store = new_store(database_url)
    history = open_temporal_store(store)
    log = open_delivery_log(store)
    await store.open()
    log.set_journal_active(True)
    try:
        yield history, log
    finally:
        await store.close()


def _temporal_entity(*instances: HistoryRecord) -> dict[str, Any]:
    attrs: dict[str, list[Any]] = {}
    for record in instances:
        attrs.setdefault(record.attribute, []).append(record.instance)
    return {"id": CAR, "type": [VEHICLE], "attrs": attrs}


def _speeds(doc: dict[str, Any] | None) -> list[Any]:
    return [] if doc is None else [i["value"] for i in doc["attrs"].get(SPEED, [])]


async def _journal(log: DeliveryLog) -> list[tuple[list[Any], list[Any]]]:
    changes = await log.read_changes(await log.cursor(), 100)
    return [(_speeds(c.before), _speeds(c.after)) for c in changes]


async def test_temporal_writes_reach_the_journal_and_are_recorded_once(
        journaled: tuple[TemporalStore, DeliveryLog]) -> None:
    history, log = journaled
    now = "2024-02-01T00:00:00Z"
    sent = [_observed(1, "2024-01-01T00:00:00Z"), _observed(2, "2024-01-01T00:01:00Z")]
    write = await history.append("", CAR, [VEHICLE], sent,
                                 current.entity_mutator(_temporal_entity(*sent), now))
    assert write.created and write.change is not None
    assert (_speeds(write.change.before), _speeds(write.change.after)) == ([], [2])
    older = [_observed(0, "2023-12-31T00:00:00Z")]  # not the latest: current unchanged
    await history.append("", CAR, [VEHICLE], older,
                         current.entity_mutator(_temporal_entity(*older), now))
    found = await history.instances("", [CAR], TemporalSelection())
    assert [i["value"] for i in found[CAR].attrs[SPEED]] == [0, 1, 2]  # once each
    assert await _journal(log) == [([], [2]), ([2], [2])]


async def test_instance_changes_make_the_current_entity_follow_its_series(
        journaled: tuple[TemporalStore, DeliveryLog]) -> None:
    history, log = journaled
    now = "2024-02-01T00:00:00Z"
    sent = [_observed(1, "2024-01-01T00:00:00Z"), _observed(2, "2024-01-01T00:01:00Z")]
    await history.append("", CAR, [VEHICLE], sent,
                         current.entity_mutator(_temporal_entity(*sent), now))
    found = await history.instances("", [CAR], TemporalSelection())
    first, second = (i["instanceId"] for i in found[CAR].attrs[SPEED])

    def follow(touched: Any, latest: Any) -> Any:
        return current.series_mutator(SPEED, touched, latest, now)
    edited = await history.update_instance("", CAR, SPEED, second,
                                           lambda old: {**old, "value": 20}, follow)
    assert edited.change is not None and _speeds(edited.change.after) == [20]
    older = await history.update_instance("", CAR, SPEED, first,
                                          lambda old: {**old, "value": 10}, follow)
    assert older.change is not None and _speeds(older.change.after) == [20]
    removed = await history.delete_instance("", CAR, SPEED, second, follow)
    assert removed.change is not None and _speeds(removed.change.after) == [10]
    gone = await history.delete_attribute("", CAR, SPEED, None, False,
                                          current.removal_mutator(SPEED, None, False, now))
    assert gone.found and gone.change is not None and gone.change.after is not None
    assert SPEED not in gone.change.after["attrs"]
    deleted = await history.delete_entity("", CAR, lambda old: None)
    assert deleted.change is not None and deleted.change.after is None
    journal = await _journal(log)
    assert journal[1:] == [([2], [20]), ([20], [20]), ([20], [10]), ([10], []), ([], [])]
