"""Compact rows of the temporal history (SQLite) and their conversion to and from
attribute instances in the internal form.

One row per attribute instance: integer keys for the entity (tenant + id) and the
attribute IRI, times as integer epoch microseconds, the value as compact JSON. A plain
numeric Property (the bulk of sensor history) stores no JSON at all: its value lives in
the REAL column `num`, which aggregation reads straight from the covering index.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityos.ngsild.temporal.times import format_micros, parse_micros
from cityos.ngsild.types import JsonObject

TEMPORAL_SCHEMA = """
CREATE TABLE IF NOT EXISTS temporal_entities (
    ek INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    types TEXT NOT NULL,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    UNIQUE (tenant, id)
);
CREATE TABLE IF NOT EXISTS temporal_attributes (
    ak INTEGER PRIMARY KEY,
    iri TEXT NOT NULL UNIQUE
);
-- The instance series of an entity: attribute and datasetId ('' for the default one).
CREATE TABLE IF NOT EXISTS temporal_series (
    ek INTEGER NOT NULL,
    ak INTEGER NOT NULL,
    dataset TEXT NOT NULL,
    PRIMARY KEY (ek, ak, dataset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS temporal_instances (
    ik INTEGER PRIMARY KEY,
    ek INTEGER NOT NULL,
    ak INTEGER NOT NULL,
    observed INTEGER,
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL,
    deleted INTEGER,
    dataset TEXT,
    num REAL,
    doc TEXT
);
-- (entity, attribute, time): range reads, lastN, and aggregation reading only the index.
CREATE INDEX IF NOT EXISTS temporal_by_observed
    ON temporal_instances (ek, ak, observed, num);
-- createdAt / modifiedAt / deletedAt selections and retention clean-up.
CREATE INDEX IF NOT EXISTS temporal_by_modified ON temporal_instances (ek, modified);
"""

INSTANCE_PREFIX = "urn:ngsi-ld:Instance:"
# Members held in columns rather than in the JSON document.
COLUMN_MEMBERS = frozenset({"observedAt", "createdAt", "modifiedAt", "deletedAt",
                            "datasetId", "instanceId"})
TIME_COLUMNS = {"observedAt": "observed", "createdAt": "created", "modifiedAt": "modified",
                "deletedAt": "deleted"}
SELECT_COLUMNS = "ik, ak, observed, created, modified, deleted, dataset, num, doc"

Row = tuple[Any, ...]


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def instance_row(ek: int, ak: int, instance: JsonObject,
                 times: dict[str, int] | None = None) -> Row:
    """(ek, ak, observed, created, modified, deleted, dataset, num, doc) of an instance.
    `times` remembers parsed timestamps across calls (the instances of one batch mostly
    share theirs)."""
    content = {k: v for k, v in instance.items() if k not in COLUMN_MEMBERS}
    value: Any = content.get("value")
    numeric = content.get("type") == "Property" and _is_number(value)
    num = float(value) if numeric else None
    doc: str | None
    if numeric and len(content) == 2 and (isinstance(value, float) or abs(value) < 2**53):
        # A float Property: the value is num alone; an integer one: "i", given back as int.
        doc = None if isinstance(value, float) else "i"
    else:
        doc = orjson.dumps(content).decode()
    memo = {} if times is None else times
    return (ek, ak, _micros(instance.get("observedAt"), memo),
            _micros(instance["createdAt"], memo), _micros(instance["modifiedAt"], memo),
            _micros(instance.get("deletedAt"), memo), instance.get("datasetId"), num, doc)


def _micros(text: object, memo: dict[str, int]) -> int | None:
    if not isinstance(text, str):
        return None
    found = memo.get(text)
    if found is None:
        found = memo[text] = parse_micros(text)
    return found


def row_instance(row: Row) -> JsonObject:
    """The internal-form instance of a row selected with SELECT_COLUMNS."""
    ik, _, observed, created, modified, deleted, dataset, num, doc = row
    if doc is None:
        instance: JsonObject = {"type": "Property", "value": num}
    elif doc == "i":
        instance = {"type": "Property", "value": int(num)}
    else:
        instance = orjson.loads(doc)
    if observed is not None:
        instance["observedAt"] = format_micros(observed)
    if dataset is not None:
        instance["datasetId"] = dataset
    instance["instanceId"] = f"{INSTANCE_PREFIX}{ik}"
    instance["createdAt"] = format_micros(created)
    instance["modifiedAt"] = format_micros(modified)
    if deleted is not None:
        instance["deletedAt"] = format_micros(deleted)
    return instance


def instance_key(instance_id: str) -> int | None:
    """The row key of an instanceId this store generated; None for any other URI."""
    suffix = instance_id.removeprefix(INSTANCE_PREFIX)
    return int(suffix) if suffix != instance_id and suffix.isdigit() else None


def attribute_key(conn: sqlite3.Connection, iri: str,
                  known: dict[str, int] | None = None) -> int:
    """The key of an attribute IRI, created on first use (writer thread only). `known`
    caches keys across write jobs; its owner must empty it whenever the writer rolls a
    transaction back (a key created in that transaction would point at nothing). Keys
    are never deleted, so a committed one stays valid."""
    if known is not None and iri in known:
        return known[iri]
    row = conn.execute("SELECT ak FROM temporal_attributes WHERE iri = ?", (iri,)).fetchone()
    if row is None:
        row = conn.execute("INSERT INTO temporal_attributes (iri) VALUES (?) RETURNING ak",
                           (iri,)).fetchone()
    if known is not None:
        known[iri] = int(row[0])
    return int(row[0])


class AttributeNames:
    """Attribute key → IRI for readers, cached: reader connections only ever see committed
    keys, and a key never changes its IRI."""

    def __init__(self) -> None:
        self._iris: dict[int, str] = {}

    def iri(self, conn: sqlite3.Connection, ak: int) -> str:
        if ak not in self._iris:
            (iri,) = conn.execute("SELECT iri FROM temporal_attributes WHERE ak = ?",
                                  (ak,)).fetchone()
            self._iris[ak] = iri
        return self._iris[ak]

    def key(self, conn: sqlite3.Connection, iri: str) -> int | None:
        row = conn.execute("SELECT ak FROM temporal_attributes WHERE iri = ?", (iri,)).fetchone()
        return int(row[0]) if row else None
