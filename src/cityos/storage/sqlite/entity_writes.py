"""The rows one write job changes, gathered and written per table in one `executemany`
each instead of several statements per entity.

A batch of 1,000 new entities used to cost about 7,000 statements (entity row, type row,
geo and R*Tree rows, value-index rows, history); gathered, it costs a dozen. Rows of one
entity are only ever gathered once between two flushes: `EntityWrites.touch` flushes
first when an entity comes back (the same id twice in one batch), so writing every
deletion of a table before its insertions keeps the order of each entity's own changes.

Keys of new rows (`entities.pk`, `geo_index.gid`) are handed out here, one above the
largest in the table, which is what SQLite itself would choose: this runs on the single
writer thread, inside its transaction, so nothing else inserts meanwhile.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

import orjson

from cityos.ngsild.types import JsonObject
from cityos.storage.sqlite.geo_sql import index_rows
from cityos.storage.sqlite.value_index import value_rows

# (entity id, before, after): one written change, as write observers receive it.
Change = tuple[str, JsonObject | None, JsonObject | None]
# Called with all changes of one flush; see mutations.WriteObserver for one at a time.
BatchObserver = Callable[[sqlite3.Connection, str, Sequence[Change]], None]

_INSERT = ("INSERT INTO entities (pk, tenant, id, doc, created_at, modified_at) "
           "VALUES (?, ?, ?, ?, ?, ?)")
_UPDATE = "UPDATE entities SET doc = ?, modified_at = ? WHERE pk = ?"
_DELETE_TYPES = "DELETE FROM entity_types WHERE pk = ?"
_INSERT_TYPE = "INSERT OR IGNORE INTO entity_types (pk, tenant, type) VALUES (?, ?, ?)"
_DELETE_VALUES = "DELETE FROM attr_values WHERE pk = ? AND attr = ?"
_INSERT_VALUE = "INSERT INTO attr_values (pk, attr, num, txt) VALUES (?, ?, ?, ?)"
_DELETE_RTREE = "DELETE FROM geo_rtree WHERE gid IN (SELECT gid FROM geo_index WHERE pk = ?)"
_DELETE_GEO = "DELETE FROM geo_index WHERE pk = ?"
_INSERT_GEO = "INSERT INTO geo_index (gid, pk, attr, geometry) VALUES (?, ?, ?, ?)"
_INSERT_RTREE = "INSERT INTO geo_rtree (gid, min_x, max_x, min_y, max_y) VALUES (?, ?, ?, ?, ?)"
_MAX_PK = "SELECT coalesce(max(pk), 0) FROM entities"
_MAX_GID = "SELECT coalesce(max(gid), 0) FROM geo_index"


class EntityWrites:
    """The pending rows of one write job on one tenant; `flush` writes them."""

    def __init__(self, conn: sqlite3.Connection, tenant: str,
                 observe: Callable[[Sequence[Change]], None]) -> None:
        self._conn = conn
        self._tenant = tenant
        self._observe = observe
        self._next_pk: int | None = None
        self._next_gid: int | None = None
        self._pending: set[str] = set()
        self._changes: list[Change] = []
        self._rows: dict[str, list[tuple[object, ...]]] = {sql: [] for sql in _FLUSH_ORDER}

    def touch(self, entity_id: str) -> None:
        """Call before reading an entity: its earlier rows of this job are written first."""
        if entity_id in self._pending:
            self.flush()

    def new_pk(self) -> int:
        if self._next_pk is None:
            self._next_pk = int(self._conn.execute(_MAX_PK).fetchone()[0]) + 1
        pk = self._next_pk
        self._next_pk += 1
        return pk

    def _new_gid(self) -> int:
        if self._next_gid is None:
            self._next_gid = int(self._conn.execute(_MAX_GID).fetchone()[0]) + 1
        gid = self._next_gid
        self._next_gid += 1
        return gid

    def entity(self, pk: int, entity_id: str, before: JsonObject | None,
               after: JsonObject, *, new: bool) -> None:
        """The entity row of a created (`new`) or changed entity."""
        doc = orjson.dumps(after).decode()  # TEXT, so SQLite's json functions read it
        if new:
            self._rows[_INSERT].append((pk, self._tenant, entity_id, doc,
                                        after["createdAt"], after["modifiedAt"]))
        else:
            self._rows[_UPDATE].append((doc, after["modifiedAt"], pk))
        self._pending.add(entity_id)

    def types(self, pk: int, types: list[str], *, had_rows: bool) -> None:
        if had_rows:
            self._rows[_DELETE_TYPES].append((pk,))
        self._rows[_INSERT_TYPE].extend((pk, self._tenant, t) for t in types)

    def values(self, pk: int, before: JsonObject | None, after: JsonObject) -> None:
        """Value-index rows of the attributes whose rows differ (see value_index)."""
        old, new = value_rows(before), value_rows(after)
        for attr in old.keys() | new.keys():
            old_rows, new_rows = old.get(attr), new.get(attr)
            if old_rows == new_rows:
                continue
            if old_rows:
                self._rows[_DELETE_VALUES].append((pk, attr))
            self._rows[_INSERT_VALUE].extend((pk, *row) for row in new_rows or ())

    def geo(self, pk: int, geo_attrs: dict[str, list[JsonObject]], *,
            had_rows: bool) -> None:
        if had_rows:
            self._rows[_DELETE_RTREE].append((pk,))
            self._rows[_DELETE_GEO].append((pk,))
        for attr_iri, geometries in geo_attrs.items():
            for row in index_rows(pk, attr_iri, geometries):
                gid = self._new_gid()
                self._rows[_INSERT_GEO].append((gid, *row[:3]))
                self._rows[_INSERT_RTREE].append((gid, *row[3:]))

    def changed(self, change: Change) -> None:
        """A written change, for the write observers (called at the next flush)."""
        self._pending.add(change[0])
        self._changes.append(change)

    def flush(self) -> None:
        for sql in _FLUSH_ORDER:
            rows = self._rows[sql]
            if rows:
                self._conn.executemany(sql, rows)
                rows.clear()
        changes, self._changes = self._changes, []
        self._pending.clear()
        if changes:
            self._observe(changes)


# Each deletion before the insertions of its table; R*Tree rows before the geo_index rows
# that name them go.
_FLUSH_ORDER = (_INSERT, _UPDATE, _DELETE_TYPES, _INSERT_TYPE, _DELETE_VALUES,
                _INSERT_VALUE, _DELETE_RTREE, _DELETE_GEO, _INSERT_GEO, _INSERT_RTREE)
