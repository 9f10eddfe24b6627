"""Read queries of the PostgreSQL backend: filters compiled to parameterised SQL."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.query import QNode
from cityos.storage.base import AttributeSummary, EntityQuery, QueryPage, TypeSummary
from cityos.storage.postgres.binder import Binder
from cityos.storage.postgres.geo_sql import matching_entities, nearest_candidates
from cityos.storage.postgres.order_sql import compile_order
from cityos.storage.postgres.query_sql import compile_q, compile_scope_q, compile_types
from cityos.storage.postgres.value_index import index_prefilter, numeric_walk


def _q_indexed(q: QNode, bind: Binder) -> str:
    """The q filter, led by the value index where it applies (see value_index)."""
    plan = index_prefilter(q, bind)
    if plan is None:
        return compile_q(q, bind)
    sql, exact = plan
    return sql if exact else f"{sql} AND {compile_q(q, bind)}"


def where_clause(tenant: str, query: EntityQuery, bind: Binder) -> str:
    """The WHERE condition (over `entities e`) of a query, without its geo part."""
    clauses = [f"e.tenant = {bind(tenant, 'text')}"]
    if query.ids:
        clauses.append(f"e.id = ANY({bind(list(query.ids), 'text[]')})")
    if query.id_pattern is not None:
        clauses.append(f"coalesce(ngsild_regexp(e.id, {bind(query.id_pattern, 'text')}), "
                       "false)")
    if query.types is not None:
        clauses.append(compile_types(query.types, bind))
    if query.q is not None:
        clauses.append(_q_indexed(query.q, bind))
    if query.scope_q is not None:
        clauses.append(compile_scope_q(query.scope_q, bind))
    if query.attrs:
        clauses.append(f"e.doc -> 'attrs' ?| {bind(sorted(query.attrs), 'text[]')}")
    return " AND ".join(clauses)


_NEAR_ORDER = "h.dist, e.pk"


def _page_sql(source: str, where: str, order: str | None, bind: Binder,
              query: EntityQuery) -> str:
    """The page's documents. In pk order (`order` None) or by `near` distance, the page's
    keys are found first (for pk order by index-only walks that stop at the LIMIT,
    migration 0009), and only those rows' documents are read; an orderBy ranks every
    match by its document anyway."""
    window = f"LIMIT {bind(query.limit, 'int8')} OFFSET {bind(query.offset, 'int8')}"
    if order is None:
        return (f"SELECT e.doc FROM entities e WHERE e.pk IN (SELECT e.pk FROM {source} "
                f"WHERE {where} ORDER BY e.pk {window}) ORDER BY e.pk")
    if order == _NEAR_ORDER:
        return (f"SELECT e.doc FROM (SELECT e.pk, h.dist FROM {source} WHERE {where} "
                f"ORDER BY {order} {window}) p JOIN entities e ON e.pk = p.pk "
                "ORDER BY p.dist, p.pk")
    return f"SELECT e.doc FROM {source} WHERE {where} ORDER BY {order} {window}"


NEAREST_FIRST = 4  # candidates fetched per entity of the page, before the other filters


_KEYED_COLUMNS = {"keys": "e.pk", "documents": "e.pk, e.doc"}


def _keyed_sql(columns: str, keys: str, where: str) -> str:
    """The pks (`columns` "keys") or (pk, document) pairs ("documents") of the entities
    among the keys that satisfy `where`; `keys` and `where` hold fixed SQL and
    placeholders only (values are in the Binder)."""
    return (f"SELECT {_KEYED_COLUMNS[columns]} FROM entities e "
            f"WHERE e.pk = ANY({keys}) AND {where}")


async def _near_page(conn: AsyncConnection[Any], tenant: str,
                     query: EntityQuery) -> list[Any] | None:
    """A `near` page from the nearest candidates alone: the entities nearest to the
    reference are fetched first (a few times the page), then the other filters (tenant,
    type, q, …) are applied to just those. Since the candidates are the start of the
    distance order, the survivors are the start of the filtered order; None when they
    are too few and more candidates exist (the caller then runs the whole query). This
    spares checking the filters on every entity within the distance, most of which are
    not on the page."""
    wanted = query.offset + query.limit
    count = max(64, NEAREST_FIRST * wanted)
    bind = Binder()
    cursor = await conn.execute(nearest_candidates(query.geo, bind, count), bind.values)
    candidates = await cursor.fetchall()
    if not candidates:
        return []
    docs = await _keyed_documents(conn, tenant, query, [pk for pk, _ in candidates])
    survivors = [docs[pk] for pk, _ in candidates if pk in docs]
    if len(survivors) < wanted and len(candidates) == count:
        return None
    return survivors[query.offset:wanted]


WALK_FIRST = 64  # candidate pks of the first step of a numeric walk (at least)
WALK_STEPS = 4  # steps, each twice the one before, before the whole query runs instead
WALK_MAX_PAGE = 2_000  # offset + limit beyond which the whole query runs at once


async def _keyed_rows(conn: AsyncConnection[Any], tenant: str, query: EntityQuery,
                      keys: list[int], columns: str) -> list[Any]:
    """The rows (`_keyed_sql` columns) of the entities among `keys` that match `query`."""
    bind = Binder()
    keys_sql = bind(keys, "int8[]")
    where = where_clause(tenant, query, bind)
    cursor = await conn.execute(_keyed_sql(columns, keys_sql, where), bind.values)
    return await cursor.fetchall()


async def _keyed_documents(conn: AsyncConnection[Any], tenant: str, query: EntityQuery,
                           keys: list[int]) -> dict[int, Any]:
    return dict(await _keyed_rows(conn, tenant, query, keys, "documents"))


async def _matching_keys(conn: AsyncConnection[Any], tenant: str, query: EntityQuery,
                         keys: list[int]) -> set[int]:
    return {row[0] for row in await _keyed_rows(conn, tenant, query, keys, "keys")}


async def _documents_in_order(conn: AsyncConnection[Any], keys: list[int]) -> list[Any]:
    if not keys:
        return []
    cursor = await conn.execute("SELECT pk, doc FROM entities WHERE pk = ANY(%s)", (keys,))
    docs = dict(await cursor.fetchall())
    return [docs[pk] for pk in keys if pk in docs]


async def _numeric_walk_page(conn: AsyncConnection[Any], tenant: str,
                             query: EntityQuery) -> list[Any] | None:
    """A page in pk order led by a numeric q term: the pks whose values satisfy the term
    are walked in pk order (index-only, `numeric_walk`) a few times the page at a time, the
    whole query checked on just those, until the page is full or the walk ends; then
    the page's documents are read. A broad numeric q (`count>50000` over a million
    entities) thus reads the index entries up to its first matches instead of merging
    every entity of the tenant with them. None when q has no such term, or when the
    steps found too few matches (a rare type or tenant among the values): the caller
    then runs the whole query."""
    wanted = query.offset + query.limit
    found: list[int] = []
    after, count = 0, max(WALK_FIRST, NEAREST_FIRST * wanted)
    for _ in range(WALK_STEPS):
        bind = Binder()
        walk = numeric_walk(query.q, bind, after, count)
        if walk is None:
            return None
        cursor = await conn.execute(walk, bind.values)
        keys = [row[0] for row in await cursor.fetchall()]
        if keys:
            matching = await _matching_keys(conn, tenant, query, keys)
            found += [pk for pk in keys if pk in matching]
        if len(found) >= wanted or len(keys) < count:
            return await _documents_in_order(conn, found[query.offset:wanted])
        after, count = keys[-1], count * 2
    return None


def _walks_numeric_q(query: EntityQuery) -> bool:
    return query.q is not None and query.geo is None and query.order_by is None \
        and not query.ids and query.limit > 0 and query.offset + query.limit <= WALK_MAX_PAGE


async def query_entities(conn: AsyncConnection[Any], tenant: str,
                         query: EntityQuery) -> QueryPage:
    """One page of the tenant's matching entities (insertion order, `near` distance or
    orderBy) and, when asked, how many match in all."""
    early_page = None
    if query.geo is not None and query.geo.georel == "near" and query.order_by is None \
            and query.limit > 0:
        early_page = await _near_page(conn, tenant, query)
    elif _walks_numeric_q(query):
        early_page = await _numeric_walk_page(conn, tenant, query)
    bind = Binder()
    where = where_clause(tenant, query, bind)
    source = "entities e"
    order: str | None = None
    if query.geo is not None:
        source = f"({matching_entities(query.geo, bind)}) h JOIN entities e ON e.pk = h.pk"
        if query.geo.georel == "near":
            order = _NEAR_ORDER
    if query.order_by is not None:
        order = compile_order(query.order_by, bind)
    # `where`, `source` and `order` hold fixed SQL and placeholders; values are in `bind`.
    if early_page is not None:
        entities = early_page
    else:
        page_sql = _page_sql(source, where, order, bind, query)
        cursor = await conn.execute(page_sql, bind.values)
        entities = [row[0] for row in await cursor.fetchall()]
    total = None
    if query.count:
        count_sql = f"SELECT count(*) FROM {source} WHERE {where}"
        row = await (await conn.execute(count_sql, bind.values)).fetchone()
        total = int(row[0]) if row else 0
    return QueryPage(entities, total)


_TYPE_COUNTS = ("SELECT t.type, count(*) FROM entities e, unnest(e.types) AS t(type) "
                "WHERE e.tenant = %s GROUP BY t.type ORDER BY t.type")
_ATTRIBUTE_ROWS = (
    "SELECT t.type, a.key, i.value ->> 'type', count(DISTINCT e.pk) "
    "FROM entities e, unnest(e.types) AS t(type), jsonb_each(e.doc -> 'attrs') AS a, "
    "jsonb_array_elements(a.value) AS i WHERE e.tenant = %s GROUP BY 1, 2, 3")
# §5.2.28 attributeCount: the number of attribute *instances* (one per datasetId).
_ATTRIBUTE_COUNTS = (
    "SELECT a.key, count(*) FROM entities e, jsonb_each(e.doc -> 'attrs') AS a, "
    "jsonb_array_elements(a.value) AS i WHERE e.tenant = %s GROUP BY a.key ORDER BY a.key")


async def type_summaries(conn: AsyncConnection[Any], tenant: str) -> list[TypeSummary]:
    """§5.7.5–§5.7.7: every entity type of the tenant, its entity count and the attribute
    names (with their kinds) its entities carry."""
    cursor = await conn.execute(_TYPE_COUNTS, (tenant,))
    summaries = {t: TypeSummary(t, int(n)) for t, n in await cursor.fetchall()}
    cursor = await conn.execute(_ATTRIBUTE_ROWS, (tenant,))
    for type_iri, attr, kind, _ in await cursor.fetchall():
        summaries[type_iri].attributes.setdefault(attr, set()).add(kind)
    return list(summaries.values())


async def attribute_summaries(conn: AsyncConnection[Any],
                              tenant: str) -> list[AttributeSummary]:
    """§5.7.8–§5.7.10: every attribute of the tenant, its instance count, kinds and the
    entity types carrying it."""
    cursor = await conn.execute(_ATTRIBUTE_COUNTS, (tenant,))
    summaries = {a: AttributeSummary(a, int(n)) for a, n in await cursor.fetchall()}
    cursor = await conn.execute(_ATTRIBUTE_ROWS, (tenant,))
    for type_iri, attr, kind, _ in await cursor.fetchall():
        summaries[attr].kinds.add(kind)
        summaries[attr].types.add(type_iri)
    return list(summaries.values())

