"""Read queries of the SQLite backend: filters compiled to parameterised SQL."""

from __future__ import annotations

import sqlite3

import orjson

from cityos.ngsild.geo import GeoQuery, distance_m, matches, search_bbox
from cityos.ngsild.query import QNode
from cityos.ngsild.query.ast import TypeName, TypeOr
from cityos.ngsild.types import JsonObject
from cityos.storage.base import AttributeSummary, EntityQuery, QueryPage, TypeSummary
from cityos.storage.sqlite.query_sql import (
    compile_order,
    compile_q,
    compile_scope_q,
    compile_types,
)
from cityos.storage.sqlite.value_index import (
    NumericDriver,
    index_prefilter,
    numeric_driver,
    rest_of_q,
)

_ATTR_PATH = '$.attrs."{}"'


def attribute_path(iri: str) -> str:
    """JSON path of an attribute in the stored document; passed as a bound parameter."""
    return _ATTR_PATH.format(iri.replace('"', '\\"'))


def _compile_q_indexed(q: QNode) -> tuple[str, list[object]]:
    """The q filter, led by the value index where it applies (see value_index)."""
    plan = index_prefilter(q)
    if plan is not None and plan[2]:
        return plan[0], plan[1]
    sql, params = compile_q(q)
    if plan is None:
        return sql, params
    return plan[0] + " AND " + sql, [*plan[1], *params]


def _where(tenant: str, query: EntityQuery,
           q_sql: tuple[str, list[object]] | None = None) -> tuple[str, list[object]]:
    """The WHERE clause of a query over `entities e`; `q_sql` replaces the compiled q."""
    clauses = ["e.tenant = ?"]
    params: list[object] = [tenant]
    if query.ids:
        clauses.append("e.id IN (" + ",".join("?" * len(query.ids)) + ")")
        params.extend(query.ids)
    if query.id_pattern is not None:
        clauses.append("regexp(?, e.id)")
        params.append(query.id_pattern)
    if q_sql is None and query.q is not None:
        q_sql = _compile_q_indexed(query.q)
    for compiled in (compile_types(query.types) if query.types is not None else None,
                     q_sql,
                     compile_scope_q(query.scope_q) if query.scope_q is not None else None):
        if compiled is not None:
            clauses.append(compiled[0])
            params.extend(compiled[1])
    if query.attrs:
        ors = " OR ".join("json_type(e.doc, ?) IS NOT NULL" for _ in query.attrs)
        clauses.append("(" + ors + ")")
        params.extend(attribute_path(iri) for iri in sorted(query.attrs))
    return " AND ".join(clauses), params


def query_entities(conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> QueryPage:
    if query.geo is not None:
        return _query_geo(conn, tenant, query)
    driver = _broad_driver(conn, query)
    if driver is not None:
        return _query_broad(conn, tenant, query, driver)
    where, params = _where(tenant, query)
    order, order_params = ("e.pk", []) if query.order_by is None else \
        compile_order(query.order_by)
    # `where` and `order` hold only placeholders and fixed SQL; every value is in `params`.
    page_sql = ("SELECT e.doc FROM entities e WHERE " + where + " ORDER BY " + order
                + " LIMIT ? OFFSET ?")
    rows = conn.execute(page_sql, [*params, *order_params, query.limit,
                                   query.offset]).fetchall()
    total = _count(conn, tenant, query, where, params) if query.count else None
    return QueryPage([orjson.loads(r[0]) for r in rows], total)


def _count(conn: sqlite3.Connection, tenant: str, query: EntityQuery, where: str,
           params: list[object]) -> int:
    """The number of matching entities: from the type and value indexes alone when they
    decide the whole query, else by counting the entity rows WHERE selects."""
    indexed = index_count_sql(tenant, query)
    if indexed is not None:
        return int(conn.execute(indexed[0], indexed[1]).fetchone()[0])
    return int(conn.execute("SELECT count(*) FROM entities e WHERE " + where,
                            params).fetchone()[0])


def index_count_sql(tenant: str, query: EntityQuery) -> tuple[str, list[object]] | None:
    """A count read from `entity_types` (tenant, type, pk) and the value index alone: for a
    query of type names and a q the value index decides exactly, nothing else."""
    names = _type_names(query.types)
    if names is None or query.q is None or query.ids or query.id_pattern is not None \
            or query.scope_q is not None or query.attrs:
        return None
    plan = index_prefilter(query.q)
    if plan is None or not plan[2]:
        return None
    # The index conditions test `e.pk`: here `e` is the entity_types row, whose pk is the
    # entity's. An entity of several of the names has one row per name, hence DISTINCT.
    marks = ",".join("?" * len(names))
    rows = ("SELECT " + ("DISTINCT " if len(names) > 1 else "") + "e.pk FROM entity_types e "
            "WHERE e.tenant = ? AND e.type IN (" + marks + ") AND " + plan[0])
    return "SELECT count(*) FROM (" + rows + ")", [tenant, *names, *plan[1]]


def _type_names(types: object) -> list[str] | None:
    """The names of a type selection that is one name or an OR of names, else None."""
    if isinstance(types, TypeName):
        return [types.iri]
    if isinstance(types, TypeOr) and all(isinstance(t, TypeName) for t in types.terms):
        return [t.iri for t in types.terms if isinstance(t, TypeName)]
    return None


# A numeric comparison with at least this many value rows is "broad": its page is read by
# walking the attribute's numbers in pk order (attr_values_pk_order), which stops at LIMIT
# and costs at most one pass over that index, instead of listing every match first.
BROAD_ROWS = 2000
_ROWS_UP_TO = ("SELECT count(*) FROM (SELECT 1 FROM attr_values WHERE attr = ? AND {} "
               "LIMIT ?)")


def _broad_driver(conn: sqlite3.Connection, query: EntityQuery) -> NumericDriver | None:
    if query.q is None or query.order_by is not None:
        return None
    driver = numeric_driver(query.q)
    if driver is None:
        return None
    rows = conn.execute(_ROWS_UP_TO.format(driver.condition),
                        [driver.attr, *driver.params, BROAD_ROWS]).fetchone()[0]
    return driver if rows >= BROAD_ROWS else None


def _query_broad(conn: sqlite3.Connection, tenant: str, query: EntityQuery,
                 driver: NumericDriver) -> QueryPage:
    """A page in pk order driven by the value index (CROSS JOIN fixes the order: the
    attribute's numbers in pk order, then the entity row of each match)."""
    assert query.q is not None
    where, params = _where(tenant, query, rest_of_q(query.q, driver) or ("1", []))
    page_sql = ("SELECT e.doc FROM attr_values v INDEXED BY attr_values_pk_order "
                "CROSS JOIN entities e ON e.pk = v.pk WHERE v.attr = ? AND v."
                + driver.condition + " AND " + where
                + " GROUP BY v.pk ORDER BY v.pk LIMIT ? OFFSET ?")
    rows = conn.execute(page_sql, [driver.attr, *driver.params, *params, query.limit,
                                   query.offset]).fetchall()
    total = None
    if query.count:
        full_where, full_params = _where(tenant, query)
        total = _count(conn, tenant, query, full_where, full_params)
    return QueryPage([orjson.loads(r[0]) for r in rows], total)


def _query_geo(conn: sqlite3.Connection, tenant: str, query: EntityQuery) -> QueryPage:
    """R*Tree bounding boxes narrow the candidates; shapely decides exactly (§4.10).

    With a search box the R*Tree drives the join (CROSS JOIN fixes SQLite's join order):
    otherwise the planner walks every geo row and probes the R*Tree for each."""
    where, params = _where(tenant, query)
    box = search_bbox(query.geo)
    if box is not None:
        min_x, min_y, max_x, max_y = box
        sql = ("SELECT e.pk, g.geometry FROM geo_rtree r CROSS JOIN geo_index g "
               "ON g.gid = r.gid CROSS JOIN entities e ON e.pk = g.pk "
               "WHERE r.max_x >= ? AND r.min_x <= ? AND r.max_y >= ? AND r.min_y <= ? "
               "AND g.attr = ? AND " + where)
        params = [min_x, max_x, min_y, max_y, query.geo.geoproperty_iri, *params]
    else:
        sql = ("SELECT e.pk, g.geometry FROM entities e JOIN geo_index g ON g.pk = e.pk "
               "WHERE " + where + " AND g.attr = ?")
        params.append(query.geo.geoproperty_iri)
    hits: dict[int, float] = {}
    for pk, geometry_text in conn.execute(sql, params):
        geometry = orjson.loads(geometry_text)
        distance = _near_distance(query.geo, geometry) if query.geo.georel == "near" \
            else (0.0 if matches(query.geo, geometry) else None)
        if distance is not None:
            hits[pk] = min(distance, hits.get(pk, distance))
    if query.order_by is not None:
        return _ordered_page(conn, list(hits), query)
    ordered = sorted(hits, key=lambda pk: (hits[pk], pk))
    page = ordered[query.offset:query.offset + query.limit]
    docs = _docs_by_pk(conn, page)
    return QueryPage([docs[pk] for pk in page if pk in docs],
                     len(ordered) if query.count else None)


def _near_distance(geo: GeoQuery, geometry: JsonObject) -> float | None:
    """The distance when `geometry` satisfies a near query, else None: one distance
    computation serves both the test and the ordering (same rule as geo.matches)."""
    if geo.distance_m is None:
        return None
    distance = distance_m(geo, geometry)
    inside = distance <= geo.distance_m if geo.distance_op == "maxDistance" \
        else distance >= geo.distance_m
    return distance if inside else None


def _ordered_page(conn: sqlite3.Connection, pks: list[int], query: EntityQuery) -> QueryPage:
    """One page of the given entities in the query's orderBy order."""
    order, order_params = compile_order(query.order_by)
    sql = ("SELECT e.doc FROM entities e WHERE e.pk IN (SELECT value FROM json_each(?)) "
           "ORDER BY " + order + " LIMIT ? OFFSET ?")
    rows = conn.execute(sql, [orjson.dumps(pks).decode(), *order_params, query.limit,
                              query.offset]).fetchall()
    return QueryPage([orjson.loads(r[0]) for r in rows], len(pks) if query.count else None)


def _docs_by_pk(conn: sqlite3.Connection, pks: list[int]) -> dict[int, JsonObject]:
    if not pks:
        return {}
    marks = ",".join("?" * len(pks))
    rows = conn.execute("SELECT pk, doc FROM entities WHERE pk IN (" + marks + ")", pks)
    return {pk: orjson.loads(doc) for pk, doc in rows}


_TYPE_COUNTS = ("SELECT type, count(*) FROM entity_types WHERE tenant = ? "
                "GROUP BY type ORDER BY type")
_ATTRIBUTE_ROWS = (
    "SELECT t.type, a.key, json_extract(i.value, '$.type'), count(DISTINCT e.pk) "
    "FROM entities e JOIN entity_types t ON t.pk = e.pk, json_each(e.doc, '$.attrs') a, "
    "json_each(a.value) i WHERE e.tenant = ? GROUP BY t.type, a.key, 3"
)


def type_summaries(conn: sqlite3.Connection, tenant: str) -> list[TypeSummary]:
    """§5.7.5–§5.7.7: every entity type of the tenant, its entity count and the attribute
    names (with their kinds) its entities carry."""
    summaries = {t: TypeSummary(t, n) for t, n in conn.execute(_TYPE_COUNTS, (tenant,))}
    for type_iri, attr, kind, _ in conn.execute(_ATTRIBUTE_ROWS, (tenant,)):
        summaries[type_iri].attributes.setdefault(attr, set()).add(kind)
    return list(summaries.values())


# §5.2.28 attributeCount: the number of attribute *instances* (one per datasetId).
_ATTRIBUTE_COUNTS = (
    "SELECT a.key, count(*) FROM entities e, json_each(e.doc, '$.attrs') a, "
    "json_each(a.value) i WHERE e.tenant = ? GROUP BY a.key ORDER BY a.key"
)


def attribute_summaries(conn: sqlite3.Connection, tenant: str) -> list[AttributeSummary]:
    """§5.7.8–§5.7.10: every attribute of the tenant, its instance count, kinds and the
    entity types carrying it."""
    summaries = {a: AttributeSummary(a, n)
                 for a, n in conn.execute(_ATTRIBUTE_COUNTS, (tenant,))}
    for type_iri, attr, kind, _ in conn.execute(_ATTRIBUTE_ROWS, (tenant,)):
        summaries[attr].kinds.add(kind)
        summaries[attr].types.add(type_iri)
    return list(summaries.values())
