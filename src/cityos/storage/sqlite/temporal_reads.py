"""Reading the temporal history (SQLite): candidate entities, windowed instances, and
aggregation per period (ETSI GS CIM 009 §4.5.19, §5.7.3, §5.7.4).

Aggregation runs in SQL: a recursive CTE generates the period buckets and each bucket
aggregates its time range through the (entity, attribute, observed, num) index. Measured
on one million instances, this is about four times faster than `GROUP BY bucket`, which
has to sort every row before aggregating (docs/benchmarks.md).
"""

from __future__ import annotations

import sqlite3
from typing import Any

import orjson

from cityos.storage.base import AggregateRequest, TemporalEntityRecord, TemporalSelection
from cityos.storage.sqlite.temporal_rows import (
    SELECT_COLUMNS,
    TIME_COLUMNS,
    AttributeNames,
    row_instance,
)

_SQL_AGGREGATES = {
    "totalCount": "count(*)",
    "distinctCount": "count(DISTINCT coalesce(num, doc))",
    "sum": "total(num)",
    "avg": "avg(num)",
    "min": "min(num)",
    "max": "max(num)",
    "sumsq": "total(num * num)",
    # sample standard deviation (as PostgreSQL's stddev); 0 for a single value
    "stddev": "CASE WHEN count(num) > 1 THEN sqrt(max(0.0, (total(num * num) - "
              "total(num) * total(num) / count(num)) / (count(num) - 1))) "
              "WHEN count(num) = 1 THEN 0.0 END",
}
MAX_BUCKETS = 1_000_000


def _window(selection: TemporalSelection, column: str) -> tuple[str, list[Any]]:
    clauses = [f"{column} IS NOT NULL"]
    params: list[Any] = []
    if selection.lower is not None:
        clauses.append(f"{column} >= ?")
        params.append(selection.lower)
    if selection.upper is not None:
        clauses.append(f"{column} < ?")
        params.append(selection.upper)
    return " AND ".join(clauses), params


def _dataset_clause(selection: TemporalSelection) -> tuple[str, list[Any]]:
    if selection.dataset_ids is None:
        return "", []
    named = [d for d in selection.dataset_ids if d != "@none"]
    parts = []
    if "@none" in selection.dataset_ids:
        parts.append("dataset IS NULL")
    if named:
        parts.append(f"dataset IN ({','.join('?' * len(named))})")
    return f" AND ({' OR '.join(parts) or '0'})", named


def _source(column: str) -> str:
    """Without planner statistics SQLite may pick the (ek, modified) index and scan every
    instance of the entity per bucket; observedAt reads must use the time index."""
    if column == "observed":
        return "temporal_instances INDEXED BY temporal_by_observed"
    return "temporal_instances"


def entity_row(conn: sqlite3.Connection, tenant: str,
               entity_id: str) -> tuple[int, list[str], int, int] | None:
    row = conn.execute("SELECT ek, types, created, modified FROM temporal_entities "
                       "WHERE tenant = ? AND id = ?", (tenant, entity_id)).fetchone()
    return (row[0], orjson.loads(row[1]), row[2], row[3]) if row else None


def candidates(conn: sqlite3.Connection, tenant: str, ids: tuple[str, ...],
               selection: TemporalSelection, names: AttributeNames,
               require_data: bool) -> list[tuple[int, str, list[str]]]:
    """Temporal entities of the tenant (optionally only `ids`) in insertion order; with
    `require_data`, only those having an instance in the selection's window."""
    sql = "SELECT e.ek, e.id, e.types FROM temporal_entities e WHERE e.tenant = ?"
    params: list[Any] = [tenant]
    if ids:
        sql += f" AND e.id IN ({','.join('?' * len(ids))})"
        params.extend(ids)
    if require_data:
        column = TIME_COLUMNS[selection.timeproperty]
        window, window_params = _window(selection, "i." + column)
        sql += f" AND EXISTS (SELECT 1 FROM temporal_instances i WHERE i.ek = e.ek AND {window}"
        params.extend(window_params)
        if selection.attrs is not None:
            keys = [k for k in (names.key(conn, a) for a in selection.attrs) if k is not None]
            sql += f" AND i.ak IN ({','.join('?' * len(keys))})"
            params.extend(keys)
        dataset_sql, dataset_params = _dataset_clause(selection)
        sql += dataset_sql.replace("dataset", "i.dataset") + ")"
        params.extend(dataset_params)
    sql += " ORDER BY e.ek"
    return [(ek, entity_id, orjson.loads(types))
            for ek, entity_id, types in conn.execute(sql, params)]


def _series(conn: sqlite3.Connection, ek: int, selection: TemporalSelection,
            names: AttributeNames) -> dict[int, list[str]]:
    """Attribute key → its datasetIds ('' = default) for one entity, as selected."""
    found: dict[int, list[str]] = {}
    for ak, dataset in conn.execute("SELECT ak, dataset FROM temporal_series WHERE ek = ?",
                                    (ek,)):
        if selection.attrs is not None and names.iri(conn, ak) not in selection.attrs:
            continue
        found.setdefault(ak, []).append(dataset)
    return found


def read_instances(conn: sqlite3.Connection, ek: int, selection: TemporalSelection,
                   names: AttributeNames) -> TemporalEntityRecord:
    """The selected instances of one entity, per attribute, oldest first (newest first
    with lastN); `per_attribute` caps each attribute, which is then reported truncated."""
    column = TIME_COLUMNS[selection.timeproperty]
    window, window_params = _window(selection, column)
    dataset_sql, dataset_params = _dataset_clause(selection)
    order = "DESC" if selection.descending else "ASC"
    cap = selection.per_attribute
    record = TemporalEntityRecord()
    for ak in _series(conn, ek, selection, names):
        sql = (f"SELECT {SELECT_COLUMNS} FROM {_source(column)} WHERE ek = ? AND ak = ? "
               f"AND {window}{dataset_sql} ORDER BY {column} {order}, ik {order}")
        params = [ek, ak, *window_params, *dataset_params]
        if cap is not None:
            sql += " LIMIT ?"
            params.append(cap + 1)
        rows = conn.execute(sql, params).fetchall()
        if not rows:
            continue
        iri = names.iri(conn, ak)
        if cap is not None and len(rows) > cap:
            rows = rows[:cap]
            record.truncated.add(iri)
        record.attrs[iri] = [row_instance(r) for r in rows]
    return record


def _kind(conn: sqlite3.Connection, ek: int, ak: int) -> str:
    row = conn.execute("SELECT doc FROM temporal_instances WHERE ek = ? AND ak = ? "
                       "ORDER BY observed DESC LIMIT 1", (ek, ak)).fetchone()
    if row is None or row[0] in (None, "i"):
        return "Property"
    kind = orjson.loads(row[0]).get("type", "Property")
    return str(kind)


def aggregate(conn: sqlite3.Connection, ek: int, request: AggregateRequest,
              names: AttributeNames) -> dict[str, list[tuple[str, str | None, Any]]]:
    """§4.5.19: attribute IRI → [(kind, datasetId, {method: [(value, start, end)]})]."""
    selection = request.selection
    column = TIME_COLUMNS[selection.timeproperty]
    out: dict[str, list[tuple[str, str | None, Any]]] = {}
    for ak, datasets in _series(conn, ek, selection, names).items():
        for dataset in datasets:
            dataset_id = dataset or None
            if selection.dataset_ids is not None and \
                    (dataset_id or "@none") not in selection.dataset_ids:
                continue
            values = _aggregate_series(conn, ek, ak, dataset_id, len(datasets) > 1,
                                       column, request)
            if values:
                out.setdefault(names.iri(conn, ak), []).append(
                    (_kind(conn, ek, ak), dataset_id, values))
    return out


def _aggregate_series(conn: sqlite3.Connection, ek: int, ak: int, dataset_id: str | None,
                      several: bool, column: str,
                      request: AggregateRequest) -> dict[str, list[tuple[Any, int, int]]]:
    selection = request.selection
    window, window_params = _window(selection, column)
    # Only filter by dataset when the attribute has several: the common single-series
    # case then reads nothing but the covering index.
    dataset_sql = " AND dataset IS ?" if several else ""
    dataset_params: list[Any] = [dataset_id] if several else []
    # `column` is one of TIME_COLUMNS and `window` holds only placeholders: every value is
    # in the parameters.
    base = ("FROM " + _source(column) + " WHERE ek = ? AND ak = ? AND " + window
            + dataset_sql)
    base_params = [ek, ak, *window_params, *dataset_params]
    # Two queries: min and max together defeat SQLite's one-row index lookup for each.
    first = conn.execute("SELECT min(" + column + ") " + base, base_params).fetchone()[0]
    if first is None:
        return {}
    last = conn.execute("SELECT max(" + column + ") " + base, base_params).fetchone()[0]
    origin = request.origin if request.origin is not None else first
    period = request.period or (last - origin + 1)
    start = origin + ((first - origin) // period) * period
    if (last - start) // period > MAX_BUCKETS:
        period = (last - start) // MAX_BUCKETS + 1
    # Exact text of each result (printf %!.17g round-trips a double; json_array keeps
    # only 15 digits), packed into one JSON array per bucket.
    expressions = " || ',' || ".join(
        f"CASE WHEN {_SQL_AGGREGATES[m]} IS NULL THEN 'null' "
        f"ELSE printf('%!.17g', {_SQL_AGGREGATES[m]}) END" for m in request.methods)
    # Each bucket's range is clipped to the window in ONE pair of bounds: with a second
    # lower bound SQLite would seek from the window start for every bucket.
    lower = selection.lower if selection.lower is not None else -(2**62)
    upper = selection.upper if selection.upper is not None else 2**62
    sql = (f"WITH RECURSIVE bucket(s) AS (SELECT ? UNION ALL SELECT s + ? FROM bucket "
           f"WHERE s + ? <= ?) "
           f"SELECT s, (SELECT '[' || count(*) || ',' || {expressions} || ']' "
           f"FROM {_source(column)} WHERE ek = ? AND ak = ?{dataset_sql} "
           f"AND {column} >= max(s, ?) AND {column} < min(s + ?, ?)) FROM bucket")
    params = [start, period, period, last, ek, ak, *dataset_params, lower, period, upper]
    values: dict[str, list[tuple[Any, int, int]]] = {m: [] for m in request.methods}
    for bucket_start, packed in conn.execute(sql, params):
        count, *results = orjson.loads(packed)
        if not count:
            continue
        for method, result in zip(request.methods, results, strict=True):
            if method not in ("totalCount", "distinctCount") and result is not None:
                result = float(result)
            values[method].append((result, bucket_start, bucket_start + period))
    return values
