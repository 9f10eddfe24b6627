"""Query parameters of entity retrieval and query (ETSI GS CIM 009 §6.4.3.1, §6.5.3.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace

import orjson

from cityos.broker.linked import MAX_JOIN_LEVEL
from cityos.ngsild.errors import BadRequestData, InvalidRequest, NgsiLdError, TooManyResults
from cityos.ngsild.geo import QUERY_GEOMETRY_TYPES, GeoQuery, parse_geo_query, validate_geometry
from cityos.ngsild.model.names import is_uri
from cityos.ngsild.model.render import Form, RenderOptions
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.query import (
    AttrSelector,
    Comparison,
    Linked,
    Ordering,
    QNode,
    ValueList,
    check_collation,
    linked_depth,
    parse_attribute_list,
    parse_order_by,
    parse_q,
    parse_scope_q,
    parse_type_expression,
    q_attributes,
)
from cityos.ngsild.query.ast import And, Or
from cityos.storage.base import EntityQuery

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
FORMATS: dict[str, Form] = {"normalized": "normalized", "keyValues": "keyValues",
                            "simplified": "keyValues", "concise": "concise"}
OPTIONS = frozenset({"keyValues", "simplified", "concise", "normalized", "sysAttrs",
                     "noOverwrite", "replace", "update", "temporalValues", "audit",
                     "aggregatedValues"})
ENTITY_MEMBER_NAMES = frozenset({"id", "type", "scope"})
# System attributes (clause 4.8): they alone do not narrow a query (5.7.2.4).
SYSTEM_NAMES = frozenset({"createdAt", "modifiedAt", "deletedAt", "observedAt"})
SYSTEM_IRIS = frozenset("https://uri.etsi.org/ngsi-ld/" + n for n in SYSTEM_NAMES)


def options_of(params: Mapping[str, str]) -> set[str]:
    raw = params.get("options")
    if raw is None:
        return set()
    values = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = values - OPTIONS
    if unknown:  # §6.3.7/6.3.20: an unknown representation option is InvalidRequest
        raise InvalidRequest(f"unknown option(s): {', '.join(sorted(unknown))}"[:300])
    return values


def render_options(params: Mapping[str, str], ctx: TermMapper) -> RenderOptions:
    """format/options, attrs/pick/omit, lang → how to render the entities."""
    options = options_of(params)
    form: Form = "normalized"
    if "format" in params:
        if params["format"] not in FORMATS:
            raise InvalidRequest(f"unknown format {params['format'][:80]!r}")
        form = FORMATS[params["format"]]
    elif options & {"keyValues", "simplified"}:
        form = "keyValues"
    elif "concise" in options:
        form = "concise"
    attrs, members = _selection(params, ctx)
    omit: frozenset[str] = frozenset()
    if "omit" in params:
        if "attrs" in params:
            raise BadRequestData("omit and attrs cannot be used together")
        omitted = _selectors("omit", params["omit"], ctx)
        _check_join_depth("omit", omitted, params)
        # `rel{a}` omits `a` of the Linked Entities (rendering), never `rel` itself
        omit = frozenset(s.name for s in omitted if not s.nested)
        picked = (attrs or frozenset()) | (members or frozenset())
        if omit & picked:
            raise BadRequestData("a member cannot be both picked and omitted: "
                                 + ", ".join(sorted(omit & picked))[:200])
    lang = params.get("lang")
    if lang is not None and not lang.strip():
        raise BadRequestData("lang must not be empty")
    dataset_ids = None
    if "datasetId" in params:
        dataset_ids = frozenset(d.strip() for d in params["datasetId"].split(",") if d.strip())
        for dataset_id in dataset_ids - {"@none"}:
            if not is_uri(dataset_id):
                raise BadRequestData(f"datasetId {dataset_id!r} is not a URI"[:200])
    base = RenderOptions(form=form, sys_attrs="sysAttrs" in options, attrs=attrs,
                         omit=omit, members=members, lang=lang, dataset_ids=dataset_ids)
    for kind in ("pick", "omit"):
        if kind in params:
            views = _linked_views(kind, _selectors(kind, params[kind], ctx), base)
            return replace(base, linked_views=views or None)
    return base


def _linked_views(kind: str, selectors: tuple[AttrSelector, ...],
                  base: RenderOptions) -> dict[str, RenderOptions]:
    """V1.9 §4.21: `rel{a,b}` projects the entities linked through `rel`."""
    views: dict[str, RenderOptions] = {}
    for selector in selectors:
        if not selector.nested:
            continue
        names = [s.name for s in selector.nested]
        if kind == "pick":
            view = replace(base, attrs=frozenset(n for n in names
                                                 if n not in ENTITY_MEMBER_NAMES),
                           members=frozenset(n for n in names if n in ENTITY_MEMBER_NAMES),
                           omit=frozenset())
        else:
            view = replace(base, attrs=None, members=None,
                           omit=frozenset(s.name for s in selector.nested if not s.nested))
        nested_views = _linked_views(kind, selector.nested, base)
        views[selector.name] = replace(view, linked_views=nested_views or None)
    return views


def _selectors(what: str, text: str, ctx: TermMapper) -> tuple[AttrSelector, ...]:
    """§4.21 projection list; a malformed one is BadRequestData (5.7.1.4, 5.7.2.4)."""
    try:
        return parse_attribute_list(text, ctx.expand_term)
    except NgsiLdError as exc:
        raise BadRequestData(f"invalid {what}: {exc.detail}") from None


def _nesting(selectors: tuple[AttrSelector, ...]) -> int:
    return max((1 + _nesting(s.nested) for s in selectors if s.nested), default=0)


def _join_level(params: Mapping[str, str]) -> int:
    """The Linked Entity retrieval depth the request allows: 0 without `join`."""
    if params.get("join") not in ("flat", "inline"):
        return 0
    level = params.get("joinLevel", "1")
    return int(level) if level.isdigit() and int(level) <= MAX_JOIN_LEVEL else 1


def _check_join_depth(what: str, selectors: tuple[AttrSelector, ...],
                      params: Mapping[str, str]) -> None:
    """§5.7.2.4: `rel{…}` selects Linked Entities, so it needs `join` and at most
    `joinLevel` levels of nesting."""
    depth = _nesting(selectors)
    if depth > MAX_JOIN_LEVEL:
        raise BadRequestData(f"{what} nests {depth} Linked Entity levels; at most "
                             f"{MAX_JOIN_LEVEL} are allowed")
    if depth and depth > _join_level(params):
        raise BadRequestData(f"{what} selects Linked Entities {depth} level(s) deep, which "
                             "needs join=flat|inline and a joinLevel at least as deep")


def _selection(params: Mapping[str, str],
               ctx: TermMapper) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    if "pick" in params and "attrs" in params:
        raise BadRequestData("pick and attrs cannot be used together")
    if "pick" in params:
        selectors = _selectors("pick", params["pick"], ctx)
        _check_join_depth("pick", selectors, params)
        picked = [s.name for s in selectors]
        members = frozenset(p for p in picked if p in ENTITY_MEMBER_NAMES)
        return frozenset(p for p in picked if p not in ENTITY_MEMBER_NAMES), members
    if "attrs" in params:
        selectors = _selectors("attrs", params["attrs"], ctx)
        for selector in selectors:
            if selector.name in ENTITY_MEMBER_NAMES:
                raise BadRequestData(f"attrs lists attribute names; {selector.name!r} is "
                                     "an entity member (use pick)")
            if selector.nested:
                raise BadRequestData("attrs does not take a nested selection (use pick)")
        return frozenset(s.name for s in selectors), None
    return None, None


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"\d{1,9}", raw):
        raise BadRequestData(f"{name} must be a non-negative integer, got {raw!r}")
    return int(raw)


def entity_query(params: Mapping[str, str], ctx: TermMapper,
                 attrs: frozenset[str] | None, *, require_filter: bool = True) -> EntityQuery:
    """§6.4.3.1 GET /entities: every filter compiled to its AST, limits checked.

    `attrs` (the projection of `attrs` / `pick`) also filters: only entities having one of
    them are returned — unless `pick` also names an entity member, whose projection is
    never empty."""
    limit = _int_param(params, "limit", DEFAULT_LIMIT)
    offset = _int_param(params, "offset", 0)
    count = _flag(params, "count") is True
    if limit > MAX_LIMIT:
        raise TooManyResults(f"limit must not exceed {MAX_LIMIT}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true")
    if "pick" in params and "attrs" not in params and any(
            s.name in ENTITY_MEMBER_NAMES for s in _selectors("pick", params["pick"], ctx)):
        attrs = None
    local = _flag(params, "local", default=None)
    ids = _ids(params.get("id"))
    types = None
    if params.get("type", "").strip() == "*":  # Table 6.4.3.2-1: every type, local
        if local is False:
            raise BadRequestData("type=* implies local=true; local cannot be false")
        local = True
    elif "type" in params:
        types = parse_type_expression(params["type"], ctx.expand_term)
    q = _q(params, ctx)
    scope_q = parse_scope_q(params["scopeQ"]) if "scopeQ" in params else None
    if "csf" in params:
        try:
            parse_q(params["csf"], ctx.expand_term)
        except NgsiLdError as exc:
            raise BadRequestData(f"invalid csf: {exc.detail}") from None
    geo = None
    if any(k in params for k in ("georel", "geometry", "coordinates")):
        geo = parse_geo_query(params.get("georel"), params.get("geometry"),
                              params.get("coordinates"), params.get("geoproperty"),
                              ctx.expand_term)
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        _check_regex(id_pattern)
    query = EntityQuery(ids=ids, id_pattern=id_pattern, types=types, q=q, scope_q=scope_q,
                        geo=geo, attrs=attrs, limit=limit, offset=offset, count=count,
                        order_by=_ordering(params, ctx))
    if require_filter and not is_narrowed(query, bool(local)):
        raise BadRequestData("a query needs at least one of type, attrs or q naming a "
                             "non-system attribute, scopeQ, a geo-query or local=true")
    return query


def is_narrowed(query: EntityQuery, local: bool, *, scope_counts: bool = True) -> bool:
    """§5.7.2.4 / §5.6.21.4: a type, attrs or q naming a non-system attribute, a
    geo-query or local=true (and, for queries, scopeQ) keeps a request from covering the
    whole tenant; ids and idPattern alone do not."""
    return bool(query.types is not None or query.geo is not None or local
                or (scope_counts and query.scope_q is not None)
                or _non_system(query.attrs or ())
                or (query.q is not None and _non_system(q_attributes(query.q))))


def _flag(params: Mapping[str, str], name: str,
          default: bool | None = False) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return default
    if raw not in ("true", "false"):
        raise BadRequestData(f"{name} must be true or false, got {raw[:40]!r}")
    return raw == "true"


def _non_system(names: object) -> bool:
    return any(n not in SYSTEM_IRIS and n not in SYSTEM_NAMES for n in names)  # type: ignore[attr-defined]


def _q(params: Mapping[str, str], ctx: TermMapper) -> QNode | None:
    """q (§4.9) with V1.9 `expandValues` and Linked Entity queries (needs `join`)."""
    if "q" not in params:
        return None
    q = parse_q(params["q"], ctx.expand_term)
    depth = linked_depth(q)
    if depth and depth > _join_level(params):
        raise BadRequestData(f"q queries Linked Entities {depth} level(s) deep, which needs "
                             "join=flat|inline and a joinLevel at least as deep")
    if "expandValues" in params:
        names = {s.name for s in _selectors("expandValues", params["expandValues"], ctx)}
        q = _expand_values(q, names, ctx)
    return q


def _expand_values(node: QNode, names: set[str], ctx: TermMapper) -> QNode:
    """§4.9 EXAMPLE 12: string values compared with the listed attributes are expanded as
    vocabulary terms against the @context."""
    if isinstance(node, And | Or):
        return type(node)(tuple(_expand_values(t, names, ctx) for t in node.terms))
    if isinstance(node, Linked):
        return replace(node, term=_expand_values(node.term, names, ctx))
    if not isinstance(node, Comparison) or node.path.attr not in names:
        return node
    value = node.value
    if isinstance(value, str):
        return replace(node, value=ctx.expand_vocab_value(value))
    if isinstance(value, ValueList):
        return replace(node, value=ValueList(tuple(
            ctx.expand_vocab_value(v) if isinstance(v, str) else v for v in value.values)))
    return node


def _ordering(params: Mapping[str, str], ctx: TermMapper) -> Ordering | None:
    """V1.9 §4.23 orderBy, collation and (for dist-asc / dist-desc) orderFrom."""
    collation = params.get("collation")
    if collation is not None:
        check_collation(collation)
    if "orderBy" not in params:
        return None
    keys = parse_order_by(params["orderBy"], ctx.expand_term)
    origin = None
    if any(k.distance for k in keys):
        origin = _order_origin(params.get("orderFrom", params.get("coordinates")),
                               params.get("orderGeometry", "Point"))
    return Ordering(keys, collation, origin)


def _order_origin(coordinates: object, geometry: object) -> GeoQuery:
    if coordinates is None or coordinates == "":
        raise BadRequestData("ordering by distance needs the reference coordinates "
                             "(orderFrom)")
    if not isinstance(geometry, str) or geometry not in QUERY_GEOMETRY_TYPES:
        raise BadRequestData(f"invalid reference geometry {geometry!r:.80}")
    try:
        value = orjson.loads(coordinates) if isinstance(coordinates, str) else coordinates
        reference = validate_geometry({"type": geometry, "coordinates": value})
    except (orjson.JSONDecodeError, NgsiLdError) as exc:
        raise BadRequestData(f"invalid orderFrom coordinates: {exc}"[:300]) from None
    return GeoQuery("near", None, None, reference)


def _ids(raw: str | None) -> tuple[str, ...]:
    if raw is None:
        return ()
    ids = tuple(i.strip() for i in raw.split(",") if i.strip())
    for entity_id in ids:
        if not is_uri(entity_id):
            raise BadRequestData(f"id {entity_id!r} is not a URI"[:200])
    return ids


def _check_regex(pattern: str) -> None:
    if len(pattern) > 1024:
        raise InvalidRequest("idPattern is too long")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise BadRequestData(f"idPattern is not a valid regular expression: {exc}") from None
