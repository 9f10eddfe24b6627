"""Query parameters of entity retrieval and query (ETSI GS CIM 009 §6.4.3.1, §6.5.3.1)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from cityos.ngsild.errors import BadRequestData, InvalidRequest, TooManyResults
from cityos.ngsild.geo import parse_geo_query
from cityos.ngsild.model.names import is_uri
from cityos.ngsild.model.render import Form, RenderOptions
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.query import (
    parse_attribute_list,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)
from cityos.storage.base import EntityQuery

DEFAULT_LIMIT = 20
MAX_LIMIT = 1000
FORMATS: dict[str, Form] = {"normalized": "normalized", "keyValues": "keyValues",
                            "simplified": "keyValues", "concise": "concise"}
OPTIONS = frozenset({"keyValues", "simplified", "concise", "normalized", "sysAttrs",
                     "noOverwrite", "replace", "update", "temporalValues", "audit",
                     "aggregatedValues"})
ENTITY_MEMBER_NAMES = frozenset({"id", "type", "scope"})


def options_of(params: Mapping[str, str]) -> set[str]:
    raw = params.get("options")
    if raw is None:
        return set()
    values = {v.strip() for v in raw.split(",") if v.strip()}
    unknown = values - OPTIONS
    if unknown:
        raise BadRequestData(f"unknown option(s): {', '.join(sorted(unknown))}")
    return values


def render_options(params: Mapping[str, str], ctx: TermMapper) -> RenderOptions:
    """format/options, attrs/pick/omit, lang → how to render the entities."""
    options = options_of(params)
    form: Form = "normalized"
    if "format" in params:
        if params["format"] not in FORMATS:
            raise BadRequestData(f"unknown format {params['format']!r}")
        form = FORMATS[params["format"]]
    elif options & {"keyValues", "simplified"}:
        form = "keyValues"
    elif "concise" in options:
        form = "concise"
    attrs, members = _selection(params, ctx)
    omit: frozenset[str] = frozenset()
    if "omit" in params:
        omit = frozenset(_names(params["omit"], ctx, allow_members=True))
    lang = params.get("lang")
    if lang is not None and not lang.strip():
        raise BadRequestData("lang must not be empty")
    return RenderOptions(form=form, sys_attrs="sysAttrs" in options, attrs=attrs,
                         omit=omit, members=members, lang=lang)


def _names(text: str, ctx: TermMapper, *, allow_members: bool) -> list[str]:
    selectors = parse_attribute_list(text, ctx.expand_term)
    return [s.name if allow_members or s.name not in ENTITY_MEMBER_NAMES
            else ctx.expand_term(s.name) for s in selectors]


def _selection(params: Mapping[str, str],
               ctx: TermMapper) -> tuple[frozenset[str] | None, frozenset[str] | None]:
    if "pick" in params and "attrs" in params:
        raise BadRequestData("pick and attrs cannot be used together")
    if "pick" in params:
        picked = _names(params["pick"], ctx, allow_members=True)
        members = frozenset(p for p in picked if p in ENTITY_MEMBER_NAMES)
        return frozenset(p for p in picked if p not in ENTITY_MEMBER_NAMES), members
    if "attrs" in params:
        return frozenset(_names(params["attrs"], ctx, allow_members=False)), None
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
    """§6.4.3.1 GET /entities: every filter compiled to its AST, limits checked."""
    limit = _int_param(params, "limit", DEFAULT_LIMIT)
    offset = _int_param(params, "offset", 0)
    count = params.get("count", "false") == "true"
    if limit > MAX_LIMIT:
        raise TooManyResults(f"limit must not exceed {MAX_LIMIT}")
    if limit == 0 and not count:
        raise BadRequestData("limit=0 is only allowed together with count=true")
    ids = _ids(params.get("id"))
    types = parse_type_expression(params["type"], ctx.expand_term) if "type" in params else None
    q = parse_q(params["q"], ctx.expand_term) if "q" in params else None
    scope_q = parse_scope_q(params["scopeQ"]) if "scopeQ" in params else None
    geo = None
    if any(k in params for k in ("georel", "geometry", "coordinates")):
        geo = parse_geo_query(params.get("georel"), params.get("geometry"),
                              params.get("coordinates"), params.get("geoproperty"),
                              ctx.expand_term)
    id_pattern = params.get("idPattern")
    if id_pattern is not None:
        _check_regex(id_pattern)
    if require_filter and not (ids or types or q or geo or attrs or id_pattern or scope_q):
        raise BadRequestData("a query needs at least one of type, id, idPattern, attrs, q, "
                             "scopeQ or a geo-query")
    return EntityQuery(ids=ids, id_pattern=id_pattern, types=types, q=q, scope_q=scope_q,
                       geo=geo, attrs=attrs, limit=limit, offset=offset, count=count)


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
