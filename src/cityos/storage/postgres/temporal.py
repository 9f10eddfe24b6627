"""The temporal history store on PostgreSQL, a sibling of PostgresStore sharing its pool
(ETSI GS CIM 009 §5.6.11–§5.6.18, §5.7.3, §5.7.4).

Every entity change is recorded by a write observer awaited inside the entity's write
transaction, so the history never misses a committed change nor holds a rolled-back one.
Temporal API writes that also change the current entity run both in one transaction; the
current entity's change passes every other write observer (the change journal, so
subscriptions hear of it) but not the history's own (the instances are recorded as sent,
once), as on SQLite.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from psycopg import AsyncConnection

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
from cityos.storage.postgres import temporal_reads as reads
from cityos.storage.postgres.entity_rows import EntityChange
from cityos.storage.postgres.mutations import apply_mutations
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.postgres.temporal_rows import (
    APPEND,
    APPEND_BATCH,
    REPLACE_SAME_TIME,
    AttributeKeys,
    append_params,
    batch_append_params,
)
from cityos.storage.sqlite.temporal_rows import (
    SELECT_COLUMNS,
    instance_key,
    instance_row,
    row_instance,
)

_SERIES_LATEST = (f"SELECT {SELECT_COLUMNS} FROM temporal_instances WHERE ek = %s AND ak = %s "
                  "AND dataset IS NOT DISTINCT FROM %s "
                  "ORDER BY observed DESC NULLS LAST, ik DESC LIMIT 1")
_ENTITY_KEY = "SELECT ek FROM temporal_entities WHERE tenant = %s AND id = %s"
_PURGE = ("DELETE FROM temporal_instances WHERE ik IN (SELECT i.ik FROM temporal_instances i "
          "JOIN temporal_entities e ON e.ek = i.ek WHERE i.modified < %(cutoff)s "
          "AND (%(tenant)s::text IS NULL OR e.tenant = %(tenant)s) "
          "AND (CASE WHEN %(types)s::text[] IS NULL THEN NOT e.types && %(excluded)s::text[] "
          "ELSE e.types && %(types)s::text[] END) LIMIT %(batch)s)")


async def _entity_key(conn: AsyncConnection[Any], tenant: str, entity_id: str) -> int | None:
    row = await (await conn.execute(_ENTITY_KEY, (tenant, entity_id))).fetchone()
    return int(row[0]) if row else None


class PostgresTemporalStore:
    """TemporalStore on the PostgresStore's database. Create it before the store opens:
    it adds its observer to `write_observers`."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._keys = AttributeKeys(store.url)
        self._observer = _HistoryObserver(self)  # recognised by identity
        store.write_observers.append(self._observer)
        store.on_close.append(self._keys.close)

    # -- writes ------------------------------------------------------------------------
    async def _append(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                      types: list[str], records: Sequence[HistoryRecord]) -> bool:
        keys = await self._keys.create(r.attribute for r in records)
        now = parse_micros(now_timestamp())
        cursor = await conn.execute(APPEND, append_params(tenant, entity_id, types, now,
                                                          records, keys))
        row = await cursor.fetchone()
        return bool(row and row[1])

    async def observe_change(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                             before: JsonObject | None, after: JsonObject | None) -> None:
        """The write observer: append what the change added to the entity's history.
        No result is fetched, so that batches keep their pipeline."""
        records = history_records(before, after, now_timestamp())
        current = after if after is not None else before
        if records and current is not None:
            keys = await self._keys.create(r.attribute for r in records)
            now = parse_micros(now_timestamp())
            await conn.execute(APPEND, append_params(tenant, entity_id,
                                                     list(current["type"]), now, records,
                                                     keys))

    async def observe_batch(self, conn: AsyncConnection[Any], tenant: str,
                            changes: Sequence[EntityChange]) -> None:
        """The batch observer: one APPEND_BATCH for every change of a batch (an entity
        changed several times gets its records in change order, its types merged)."""
        entities: dict[str, tuple[list[str], list[HistoryRecord]]] = {}
        for change in changes:
            records = history_records(change.before, change.after, now_timestamp())
            current = change.after if change.after is not None else change.before
            if not records or current is None:
                continue
            types, found = entities.setdefault(change.entity_id, ([], []))
            types += [t for t in current["type"] if t not in types]
            found += records
        if entities:
            keys = await self._keys.create(r.attribute for _, records in entities.values()
                                           for r in records)
            now = parse_micros(now_timestamp())
            await conn.execute(APPEND_BATCH, batch_append_params(tenant, now, entities, keys))

    async def _change_current(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                              mutator: Mutator | None) -> MutationResult | None:
        """The current entity's change, seen by every write observer but this store's."""
        if mutator is None:
            return None
        await conn.execute("INSERT INTO tenants (name) VALUES (%s) ON CONFLICT DO NOTHING",
                           (tenant,))
        observers = [o for o in self._store.write_observers if o is not self._observer]
        [result] = await apply_mutations(conn, tenant, [(entity_id, mutator)], observers)
        if result.error is not None:
            raise result.error
        return result

    async def append(self, tenant: str, entity_id: str, types: list[str],
                     records: Sequence[Any], mutator: Mutator | None) -> TemporalWrite:
        async def work(conn: AsyncConnection[Any]) -> TemporalWrite:
            change = await self._change_current(conn, tenant, entity_id, mutator)
            ek = await _entity_key(conn, tenant, entity_id)
            if ek is not None:
                keys = await self._keys.create(r.attribute for r in records)
                rows = [instance_row(ek, keys[r.attribute], r.instance) for r in records]
                timed = [row for row in rows if row[2] is not None]
                await conn.execute(REPLACE_SAME_TIME, ([r[1] for r in timed],
                                                       [r[2] for r in timed],
                                                       [r[6] for r in timed], ek))
            created = await self._append(conn, tenant, entity_id, types, records)
            return TemporalWrite(True, created, change)
        return await self._store.write(work)

    async def delete_entity(self, tenant: str, entity_id: str,
                            mutator: Mutator | None) -> TemporalWrite:
        async def work(conn: AsyncConnection[Any]) -> TemporalWrite:
            ek = await _entity_key(conn, tenant, entity_id)
            if ek is None:
                return TemporalWrite(False)
            change = await self._change_current(conn, tenant, entity_id, mutator)
            for table in ("temporal_instances", "temporal_series", "temporal_entities"):
                await conn.execute(_DELETE_BY_ENTITY[table], (ek,))
            return TemporalWrite(True, change=change)
        return await self._store.write(work)

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool,
                               mutator: Mutator | None = None) -> TemporalWrite:
        async def work(conn: AsyncConnection[Any]) -> TemporalWrite:
            ek = await _entity_key(conn, tenant, entity_id)
            ak = await self._keys.key(conn, attribute)
            if ek is None or ak is None:
                return TemporalWrite(False)
            if delete_all:
                count = (await conn.execute("DELETE FROM temporal_instances WHERE ek = %s "
                                            "AND ak = %s", (ek, ak))).rowcount
                await conn.execute("DELETE FROM temporal_series WHERE ek = %s AND ak = %s",
                                   (ek, ak))
            else:
                count = (await conn.execute(
                    "DELETE FROM temporal_instances WHERE ek = %s AND ak = %s AND dataset IS "
                    "NOT DISTINCT FROM %s", (ek, ak, dataset_id))).rowcount
                await conn.execute("DELETE FROM temporal_series WHERE ek = %s AND ak = %s "
                                   "AND dataset = %s", (ek, ak, dataset_id or ""))
            if not count:
                return TemporalWrite(False)
            return TemporalWrite(True, change=await self._change_current(
                conn, tenant, entity_id, mutator))
        return await self._store.write(work)

    async def _instance_row(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                            attribute: str, instance_id: str) -> tuple[Any, ...] | None:
        ek = await _entity_key(conn, tenant, entity_id)
        ak = await self._keys.key(conn, attribute)
        ik = instance_key(instance_id)
        if ek is None or ak is None or ik is None:
            return None
        row: tuple[Any, ...] | None = await (await conn.execute(
            f"SELECT {SELECT_COLUMNS}, ek FROM temporal_instances WHERE ik = %s AND ek = %s "
            "AND ak = %s FOR UPDATE", (ik, ek, ak))).fetchone()
        return row

    async def _follow(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                      row: tuple[Any, ...], follow: SeriesFollower | None) -> TemporalWrite:
        """After a modify or delete of the instance `row` (as it was): the current entity
        follows its series, as `follow` decides."""
        if follow is None:
            return TemporalWrite(True)
        latest_row = await (await conn.execute(_SERIES_LATEST, (row[-1], row[1], row[6]))
                            ).fetchone()
        latest = row_instance(latest_row) if latest_row is not None else None
        mutator = follow(row_instance(row[:-1]), latest)
        return TemporalWrite(True, change=await self._change_current(conn, tenant, entity_id,
                                                                     mutator))

    async def update_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str, change: Callable[[JsonObject], JsonObject],
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        async def work(conn: AsyncConnection[Any]) -> TemporalWrite:
            row = await self._instance_row(conn, tenant, entity_id, attribute, instance_id)
            if row is None:
                return TemporalWrite(False)
            new = change(row_instance(row[:-1]))
            values = instance_row(row[-1], row[1], new)
            await conn.execute("UPDATE temporal_instances SET observed = %s, created = %s, "
                               "modified = %s, deleted = %s, dataset = %s, num = %s, "
                               "doc = %s WHERE ik = %s", (*values[2:], row[0]))
            return await self._follow(conn, tenant, entity_id, row, follow)
        return await self._store.write(work)

    async def delete_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str,
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        async def work(conn: AsyncConnection[Any]) -> TemporalWrite:
            row = await self._instance_row(conn, tenant, entity_id, attribute, instance_id)
            if row is None:
                return TemporalWrite(False)
            await conn.execute("DELETE FROM temporal_instances WHERE ik = %s", (row[0],))
            return await self._follow(conn, tenant, entity_id, row, follow)
        return await self._store.write(work)

    async def purge_before(self, tenant: str | None, types: frozenset[str] | None,
                           excluded_types: frozenset[str], cutoff: int, batch: int) -> int:
        params = {"cutoff": cutoff, "tenant": tenant, "batch": batch,
                  "types": None if types is None else sorted(types),
                  "excluded": sorted(excluded_types)}

        async def work(conn: AsyncConnection[Any]) -> int:
            return (await conn.execute(_PURGE, params)).rowcount
        return await self._store.write(work)

    # -- reads -------------------------------------------------------------------------
    async def head(self, tenant: str, entity_id: str) -> TemporalEntityHead | None:
        async def work(conn: AsyncConnection[Any]) -> TemporalEntityHead | None:
            row = await reads.entity_row(conn, tenant, entity_id)
            return TemporalEntityHead(entity_id, row[1], row[2], row[3]) if row else None
        return await self._store.read(work)

    async def candidates(self, tenant: str, ids: tuple[str, ...],
                         selection: TemporalSelection,
                         require_data: bool) -> list[TemporalEntityHead]:
        async def work(conn: AsyncConnection[Any]) -> list[TemporalEntityHead]:
            found = await reads.candidates(conn, tenant, ids, selection, self._keys,
                                           require_data)
            return [TemporalEntityHead(entity_id, types, 0, 0)
                    for _, entity_id, types in found]
        return await self._store.read(work)

    async def instances(self, tenant: str, entity_ids: Sequence[str],
                        selection: TemporalSelection) -> dict[str, TemporalEntityRecord]:
        async def work(conn: AsyncConnection[Any]) -> dict[str, TemporalEntityRecord]:
            found = {}
            for entity_id in entity_ids:
                ek = await _entity_key(conn, tenant, entity_id)
                if ek is not None:
                    found[entity_id] = await reads.read_instances(conn, ek, selection,
                                                                  self._keys)
            return found
        return await self._store.read(work)

    async def aggregate(self, tenant: str, entity_ids: Sequence[str],
                        request: AggregateRequest) -> dict[str, dict[str, list[Any]]]:
        async def work(conn: AsyncConnection[Any]) -> dict[str, dict[str, list[Any]]]:
            found: dict[str, dict[str, list[Any]]] = {}
            for entity_id in entity_ids:
                ek = await _entity_key(conn, tenant, entity_id)
                if ek is not None:
                    found[entity_id] = dict(await reads.aggregate(conn, ek, request,
                                                                  self._keys))
            return found
        return await self._store.read(work)


class _HistoryObserver:
    """The store's write observer, with the batch form (entity_rows.BatchWriteObserver)."""

    def __init__(self, store: PostgresTemporalStore) -> None:
        self._store = store

    async def __call__(self, conn: AsyncConnection[Any], tenant: str, entity_id: str,
                       before: JsonObject | None, after: JsonObject | None) -> None:
        await self._store.observe_change(conn, tenant, entity_id, before, after)

    async def observe_batch(self, conn: AsyncConnection[Any], tenant: str,
                            changes: Sequence[EntityChange]) -> None:
        await self._store.observe_batch(conn, tenant, changes)


_DELETE_BY_ENTITY = {table: f"DELETE FROM {table} WHERE ek = %s"
                     for table in ("temporal_instances", "temporal_series",
                                   "temporal_entities")}
