"""The temporal history store on SQLite, a sibling of SqliteStore sharing its file, writer
thread and readers (ETSI GS CIM 009 §5.6.11–§5.6.18, §5.7.3, §5.7.4).

Every entity change is recorded by a write observer that runs inside the entity's write
transaction, so the history can never miss a committed change nor hold one that was
rolled back. Temporal API writes that also change the current entity run both in one
job; the current entity's change passes every other write observer (the change journal,
so subscriptions hear of it) but not the history's own (the instances are recorded as
sent, once).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from cityos.ngsild.model.names import now_timestamp
from cityos.ngsild.temporal.diff import HistoryRecord, history_records
from cityos.ngsild.temporal.times import parse_micros
from cityos.ngsild.types import JsonObject
from cityos.storage.base import (
    AggregateRequest,
    MutationResult,
    Mutator,
    SeriesFollower,
    TemporalEntityHead,
    TemporalEntityRecord,
    TemporalSelection,
    TemporalWrite,
)
from cityos.storage.sqlite import temporal_reads as reads
from cityos.storage.sqlite.entity_writes import Change
from cityos.storage.sqlite.mutations import apply_mutations
from cityos.storage.sqlite.store import SqliteStore
from cityos.storage.sqlite.temporal_rows import (
    SELECT_COLUMNS,
    TEMPORAL_SCHEMA,
    AttributeNames,
    attribute_key,
    instance_key,
    instance_row,
    row_instance,
)

_INSERT = ("INSERT INTO temporal_instances (ek, ak, observed, created, modified, deleted, "
           "dataset, num, doc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_INSERT_SERIES = "INSERT OR IGNORE INTO temporal_series (ek, ak, dataset) VALUES (?, ?, ?)"
_TOUCH_ENTITY = ("UPDATE temporal_entities SET modified = ? WHERE tenant = ? AND id = ? "
                 "RETURNING ek, types")


def _entity_key(conn: sqlite3.Connection, tenant: str, entity_id: str) -> int | None:
    row = conn.execute("SELECT ek FROM temporal_entities WHERE tenant = ? AND id = ?",
                       (tenant, entity_id)).fetchone()
    return int(row[0]) if row else None


def append_records(conn: sqlite3.Connection, tenant: str, entity_id: str,
                   types: list[str], records: Sequence[HistoryRecord], *,
                   replace_same_time: bool = False,
                   known_keys: dict[str, int] | None = None) -> bool:
    """Write job: append instances (creating the temporal entity on first use, its types
    the union of all seen). Returns whether the temporal entity was created.

    With `replace_same_time` (temporal API input, §5.6.11/§5.6.12), an instance sent for
    a series (attribute + datasetId) at an observedAt the series already holds replaces
    the stored one: a series has one value per instant."""
    now = parse_micros(now_timestamp())
    # One statement for the usual case (a known entity of known types): touch and read.
    row = conn.execute(_TOUCH_ENTITY, (now, tenant, entity_id)).fetchone()
    if row is None:
        ek = conn.execute("INSERT INTO temporal_entities (tenant, id, types, created, "
                          "modified) VALUES (?, ?, ?, ?, ?) RETURNING ek",
                          (tenant, entity_id, orjson.dumps(types).decode(), now, now)
                          ).fetchone()[0]
    else:
        ek = row[0]
        stored = orjson.loads(row[1])
        merged = list(dict.fromkeys([*stored, *types]))
        if merged != stored:
            conn.execute("UPDATE temporal_entities SET types = ? WHERE ek = ?",
                         (orjson.dumps(merged).decode(), ek))
    keys: dict[str, int] = {}
    rows = []
    series = []
    for record in records:
        if record.attribute not in keys:
            keys[record.attribute] = attribute_key(conn, record.attribute, known_keys)
        ak = keys[record.attribute]
        series.append((ek, ak, record.instance.get("datasetId", "")))
        row_values = instance_row(ek, ak, record.instance)
        if replace_same_time and row is not None and row_values[2] is not None:
            conn.execute("DELETE FROM temporal_instances WHERE ek = ? AND ak = ? AND "
                         "observed = ? AND dataset IS ?",
                         (ek, ak, row_values[2], row_values[6]))
        rows.append(row_values)
    conn.executemany(_INSERT_SERIES, series)
    conn.executemany(_INSERT, rows)
    return row is None


def observe_change(conn: sqlite3.Connection, tenant: str, entity_id: str,
                   before: JsonObject | None, after: JsonObject | None,
                   known_keys: dict[str, int] | None = None) -> None:
    """The write observer: append what the change added to the entity's history."""
    records = history_records(before, after, now_timestamp())
    current = after if after is not None else before
    if records and current is not None:
        append_records(conn, tenant, entity_id, list(current["type"]), records,
                       known_keys=known_keys)


_SERIES_LATEST = ("SELECT " + SELECT_COLUMNS + " FROM temporal_instances WHERE ek = ? "
                  "AND ak = ? AND dataset IS ? ORDER BY observed DESC, ik DESC LIMIT 1")


def series_latest(conn: sqlite3.Connection, ek: int, ak: int,
                  dataset: str | None) -> JsonObject | None:
    """The most recently observed instance of a series (the last stored on ties;
    instances without observedAt before every observation), None when it has none."""
    row = conn.execute(_SERIES_LATEST, (ek, ak, dataset)).fetchone()
    return row_instance(row) if row is not None else None


_SELECT_ENTITIES = ("SELECT id, ek, types FROM temporal_entities WHERE tenant = ? "
                    "AND id IN (SELECT value FROM json_each(?))")
_INSERT_ENTITY = ("INSERT INTO temporal_entities (ek, tenant, id, types, created, modified) "
                  "VALUES (?, ?, ?, ?, ?, ?)")
_TOUCH_BY_KEY = "UPDATE temporal_entities SET modified = ? WHERE ek = ?"
_SET_TYPES = "UPDATE temporal_entities SET types = ? WHERE ek = ?"
_MAX_EK = "SELECT coalesce(max(ek), 0) FROM temporal_entities"


def observe_changes(conn: sqlite3.Connection, tenant: str, changes: Sequence[Change],
                    known_keys: dict[str, int] | None = None) -> None:
    """The write observer for a whole write job (each entity at most once): the history
    of every change, each table written with one statement."""
    now_text = now_timestamp()
    appended = [(entity_id, list(current["type"]), records)
                for entity_id, before, after in changes
                if (current := after if after is not None else before) is not None
                and (records := history_records(before, after, now_text))]
    if appended:
        append_batch(conn, tenant, appended, parse_micros(now_text), known_keys)


def append_batch(conn: sqlite3.Connection, tenant: str,
                 appended: Sequence[tuple[str, list[str], Sequence[HistoryRecord]]],
                 now: int, known_keys: dict[str, int] | None) -> None:
    """Append the records of several entities (distinct ids): what append_records does
    for one, with one statement per table for all of them."""
    keys = _entity_keys(conn, tenant, [(entity_id, types) for entity_id, types, _ in
                                       appended], now)
    times: dict[str, int] = {}  # most instances of a batch share their timestamps
    series: list[tuple[int, int, str]] = []
    rows = []
    for entity_id, _, records in appended:
        ek = keys[entity_id]
        for record in records:
            ak = attribute_key(conn, record.attribute, known_keys)
            series.append((ek, ak, record.instance.get("datasetId", "")))
            rows.append(instance_row(ek, ak, record.instance, times))
    conn.executemany(_INSERT_SERIES, series)
    conn.executemany(_INSERT, rows)


def _entity_keys(conn: sqlite3.Connection, tenant: str,
                 entities: Sequence[tuple[str, list[str]]], now: int) -> dict[str, int]:
    """The temporal entity key of each id: known ones touched (types merged), the others
    created."""
    stored = {entity_id: (ek, orjson.loads(types)) for entity_id, ek, types in conn.execute(
        _SELECT_ENTITIES, (tenant, orjson.dumps([e for e, _ in entities]).decode()))}
    keys: dict[str, int] = {}
    touched, retyped, created = [], [], []
    next_ek: int | None = None
    for entity_id, types in entities:
        if entity_id in stored:
            ek, known = stored[entity_id]
            touched.append((now, ek))
            merged = list(dict.fromkeys([*known, *types]))
            if merged != known:
                retyped.append((orjson.dumps(merged).decode(), ek))
        else:
            if next_ek is None:
                next_ek = int(conn.execute(_MAX_EK).fetchone()[0]) + 1
            ek, next_ek = next_ek, next_ek + 1
            created.append((ek, tenant, entity_id, orjson.dumps(types).decode(), now, now))
        keys[entity_id] = ek
    for sql, params in ((_TOUCH_BY_KEY, touched), (_SET_TYPES, retyped),
                        (_INSERT_ENTITY, created)):
        if params:
            conn.executemany(sql, params)
    return keys


def _purge_entity(conn: sqlite3.Connection, ek: int) -> None:
    conn.execute("DELETE FROM temporal_instances WHERE ek = ?", (ek,))
    conn.execute("DELETE FROM temporal_series WHERE ek = ?", (ek,))
    conn.execute("DELETE FROM temporal_entities WHERE ek = ?", (ek,))


class HistoryObserver:
    """The history's write observer: one change at a time, or a whole job at once."""

    def __init__(self, known_keys: dict[str, int]) -> None:
        self._keys = known_keys

    def __call__(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                 before: JsonObject | None, after: JsonObject | None) -> None:
        observe_change(conn, tenant, entity_id, before, after, self._keys)

    def observe_batch(self, conn: sqlite3.Connection, tenant: str,
                      changes: Sequence[Change]) -> None:
        observe_changes(conn, tenant, changes, self._keys)


class SqliteTemporalStore:
    """TemporalStore on the SqliteStore's database. Create it before the store opens: it
    adds its tables to `extra_schema` and its observer to `write_observers`."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._names = AttributeNames()
        # Attribute keys as the writer knows them (emptied whenever it rolls back).
        self._keys: dict[str, int] = {}
        store.extra_schema.append(TEMPORAL_SCHEMA)
        self._observer = HistoryObserver(self._keys)  # recognised by identity
        store.write_observers.append(self._observer)
        store.rollback_listeners.append(self._keys.clear)

    # -- writes ------------------------------------------------------------------------
    def _change_current(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                        mutator: Mutator | None) -> MutationResult | None:
        """The current entity's change, seen by every write observer but this store's."""
        if mutator is None:
            return None
        observers = [o for o in self._store.write_observers if o is not self._observer]
        [result] = apply_mutations(conn, tenant, [(entity_id, mutator)], observers)
        if result.error is not None:
            raise result.error
        return result

    async def append(self, tenant: str, entity_id: str, types: list[str],
                     records: Sequence[Any], mutator: Mutator | None) -> TemporalWrite:
        def job(conn: sqlite3.Connection) -> TemporalWrite:
            change = self._change_current(conn, tenant, entity_id, mutator)
            created = append_records(conn, tenant, entity_id, types, records,
                                     replace_same_time=True, known_keys=self._keys)
            return TemporalWrite(True, created, change)
        return await self._store.write(job)

    async def delete_entity(self, tenant: str, entity_id: str,
                            mutator: Mutator | None) -> TemporalWrite:
        def job(conn: sqlite3.Connection) -> TemporalWrite:
            ek = _entity_key(conn, tenant, entity_id)
            if ek is None:
                return TemporalWrite(False)
            change = self._change_current(conn, tenant, entity_id, mutator)
            _purge_entity(conn, ek)
            return TemporalWrite(True, change=change)
        return await self._store.write(job)

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool,
                               mutator: Mutator | None = None) -> TemporalWrite:
        def job(conn: sqlite3.Connection) -> TemporalWrite:
            ek = _entity_key(conn, tenant, entity_id)
            ak = self._names.key(conn, attribute)
            if ek is None or ak is None:
                return TemporalWrite(False)
            sql = "DELETE FROM temporal_instances WHERE ek = ? AND ak = ?"
            params: list[Any] = [ek, ak]
            series = "DELETE FROM temporal_series WHERE ek = ? AND ak = ?"
            if not delete_all:
                sql += " AND dataset IS ?"
                series += " AND dataset = ?"
                params.append(dataset_id)
            count = conn.execute(sql, params).rowcount
            conn.execute(series, [*params[:2], *([dataset_id or ""] if not delete_all else [])])
            if not count:
                return TemporalWrite(False)
            return TemporalWrite(True, change=self._change_current(conn, tenant, entity_id,
                                                                   mutator))
        return await self._store.write(job)

    def _instance_row(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                      attribute: str, instance_id: str) -> tuple[Any, ...] | None:
        ek = _entity_key(conn, tenant, entity_id)
        ak = self._names.key(conn, attribute)
        ik = instance_key(instance_id)
        if ek is None or ak is None or ik is None:
            return None
        row: tuple[Any, ...] | None = conn.execute(
            f"SELECT {SELECT_COLUMNS}, ek FROM temporal_instances WHERE ik = ? AND ek = ? "
            "AND ak = ?", (ik, ek, ak)).fetchone()
        return row

    def _follow(self, conn: sqlite3.Connection, tenant: str, entity_id: str,
                row: tuple[Any, ...], follow: SeriesFollower | None) -> TemporalWrite:
        """After a modify or delete of the instance `row` (as it was): the current entity
        follows its series, as `follow` decides."""
        if follow is None:
            return TemporalWrite(True)
        touched = row_instance(row[:-1])
        mutator = follow(touched, series_latest(conn, row[-1], row[1], row[6]))
        return TemporalWrite(True, change=self._change_current(conn, tenant, entity_id,
                                                               mutator))

    async def update_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str, change: Callable[[JsonObject], JsonObject],
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        def job(conn: sqlite3.Connection) -> TemporalWrite:
            row = self._instance_row(conn, tenant, entity_id, attribute, instance_id)
            if row is None:
                return TemporalWrite(False)
            new = change(row_instance(row[:-1]))
            values = instance_row(row[-1], row[1], new)
            conn.execute("UPDATE temporal_instances SET observed = ?, created = ?, "
                         "modified = ?, deleted = ?, dataset = ?, num = ?, doc = ? "
                         "WHERE ik = ?", (*values[2:], row[0]))
            return self._follow(conn, tenant, entity_id, row, follow)
        return await self._store.write(job)

    async def delete_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str,
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        def job(conn: sqlite3.Connection) -> TemporalWrite:
            row = self._instance_row(conn, tenant, entity_id, attribute, instance_id)
            if row is None:
                return TemporalWrite(False)
            conn.execute("DELETE FROM temporal_instances WHERE ik = ?", (row[0],))
            return self._follow(conn, tenant, entity_id, row, follow)
        return await self._store.write(job)

    async def purge_before(self, tenant: str | None, types: frozenset[str] | None,
                           excluded_types: frozenset[str], cutoff: int, batch: int) -> int:
        def job(conn: sqlite3.Connection) -> int:
            deleted = 0
            for ek, raw_types in conn.execute("SELECT ek, types FROM temporal_entities"
                                              + (" WHERE tenant = ?" if tenant is not None
                                                 else ""),
                                              () if tenant is None else (tenant,)).fetchall():
                entity_types = set(orjson.loads(raw_types))
                if (types is not None and not entity_types & types) or \
                        (types is None and entity_types & excluded_types):
                    continue
                deleted += conn.execute(
                    "DELETE FROM temporal_instances WHERE ik IN (SELECT ik FROM "
                    "temporal_instances WHERE ek = ? AND modified < ? LIMIT ?)",
                    (ek, cutoff, batch - deleted)).rowcount
                if deleted >= batch:
                    break
            return deleted
        return await self._store.write(job)

    # -- reads -------------------------------------------------------------------------
    async def head(self, tenant: str, entity_id: str) -> TemporalEntityHead | None:
        def work(conn: sqlite3.Connection) -> TemporalEntityHead | None:
            row = reads.entity_row(conn, tenant, entity_id)
            return TemporalEntityHead(entity_id, row[1], row[2], row[3]) if row else None
        return await self._store.read(work)

    async def candidates(self, tenant: str, ids: tuple[str, ...],
                         selection: TemporalSelection,
                         require_data: bool) -> list[TemporalEntityHead]:
        def work(conn: sqlite3.Connection) -> list[TemporalEntityHead]:
            return [TemporalEntityHead(entity_id, types, 0, 0) for _, entity_id, types in
                    reads.candidates(conn, tenant, ids, selection, self._names, require_data)]
        return await self._store.read(work)

    async def instances(self, tenant: str, entity_ids: Sequence[str],
                        selection: TemporalSelection) -> dict[str, TemporalEntityRecord]:
        def work(conn: sqlite3.Connection) -> dict[str, TemporalEntityRecord]:
            found = {}
            for entity_id in entity_ids:
                ek = _entity_key(conn, tenant, entity_id)
                if ek is not None:
                    found[entity_id] = reads.read_instances(conn, ek, selection, self._names)
            return found
        return await self._store.read(work)

    async def aggregate(self, tenant: str, entity_ids: Sequence[str],
                        request: AggregateRequest) -> dict[str, dict[str, list[Any]]]:
        def work(conn: sqlite3.Connection) -> dict[str, dict[str, list[Any]]]:
            found: dict[str, dict[str, list[Any]]] = {}
            for entity_id in entity_ids:
                ek = _entity_key(conn, tenant, entity_id)
                if ek is not None:
                    found[entity_id] = dict(reads.aggregate(conn, ek, request, self._names))
            return found
        return await self._store.read(work)
