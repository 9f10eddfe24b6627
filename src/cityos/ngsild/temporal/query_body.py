"""The Query data type (ETSI GS CIM 009 §5.2.23) as the body of Query Temporal Evolution
of Entities by POST (§5.7.4, §6.24.3.1), with its `temporalQ` (§5.2.21 TemporalQuery).

The body is turned into the mappings the URL form of the operation carries (§6.18.3.1),
so one parser checks both: entity query parameters (`type`, `id`, `idPattern`, `q`,
`scopeQ`, `csf`, `lang`, `attrs`, `pick`, `omit`, geo-query members) and temporal
parameters (`timerel`, `timeAt`, `endTimeAt`, `timeproperty`, `lastN`, `aggrMethods`,
`aggrPeriodDuration`; `aggrParams`, the V1.8 place of the last two, is read as well).
What the JSON form gets wrong — a member of the wrong JSON type, an unknown TemporalQuery
member — is BadRequestData here; values are checked by the shared parsers afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from cityos.ngsild.errors import BadRequestData

# §5.2.21 Table 5.2.21-1 (V1.9.1: lastN, aggrMethods and aggrPeriodDuration belong to it).
TEMPORAL_Q_MEMBERS = ("timerel", "timeAt", "endTimeAt", "timeproperty", "lastN",
                      "aggrMethods", "aggrPeriodDuration")
_TEXT_MEMBERS = ("timerel", "timeAt", "endTimeAt", "timeproperty", "aggrPeriodDuration")
# Query members (§5.2.23) given to the entity query as they are, when strings.
_STRING_QUERY_MEMBERS = ("q", "scopeQ", "csf", "lang")
_LIST_QUERY_MEMBERS = ("attrs", "pick", "omit")
_GEO_MEMBERS = ("georel", "geometry", "geoproperty")


@dataclass(frozen=True)
class TemporalQueryBody:
    """`params`: entity query parameters; `temporal`: temporal parameters; `aggregated`:
    aggregation methods were asked for (so the aggregated representation is meant)."""

    params: dict[str, Any]
    temporal: dict[str, Any]
    aggregated: bool


def parse_temporal_q(raw: object, member: str = "temporalQ") -> dict[str, Any]:
    """§5.2.21: a TemporalQuery object (absent: the whole history)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise BadRequestData(f"{member} must be a TemporalQuery object (§5.2.21)")
    unknown = sorted(name for name in raw if name not in TEMPORAL_Q_MEMBERS)
    if unknown:
        raise BadRequestData(f"{member} has unknown members {', '.join(unknown)}"[:200]
                             + "; known: " + ", ".join(TEMPORAL_Q_MEMBERS))
    for name in _TEXT_MEMBERS:
        if name in raw and not isinstance(raw[name], str):
            raise BadRequestData(f"{member}.{name} must be a string")
    last_n = raw.get("lastN")
    if "lastN" in raw and (isinstance(last_n, bool) or not isinstance(last_n, int)):
        raise BadRequestData(f"{member}.lastN must be a positive integer")
    return dict(raw)


def _entity_selectors(raw: object, params: dict[str, Any]) -> None:
    """§5.2.33 EntitySelector list → type / id / idPattern parameters."""
    if raw is None:
        return
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise BadRequestData("entities must be an array of EntitySelectors")
    if not raw:
        raise BadRequestData("entities must not be an empty array")
    for selector in raw:
        for name in ("id", "idPattern", "type"):
            if name in selector and not isinstance(selector[name], str):
                raise BadRequestData(f"an EntitySelector's {name} must be a string")
    types = [e["type"] for e in raw if "type" in e]
    ids = [e["id"] for e in raw if "id" in e]
    patterns = [e["idPattern"] for e in raw if "idPattern" in e]
    if types:
        params["type"] = ",".join(types)
    if ids:
        params["id"] = ",".join(ids)
    if patterns:
        params["idPattern"] = patterns[0]


def _list_member(body: dict[str, Any], name: str, params: dict[str, Any]) -> None:
    value = body[name]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        params[name] = ",".join(value)
    elif isinstance(value, str) and value:
        params[name] = value
    else:
        raise BadRequestData(f"{name} must be a non-empty array of attribute names")


def _geo_query(raw: object, params: dict[str, Any]) -> None:
    """§5.2.13 GeoQuery → georel / geometry / coordinates / geoproperty parameters."""
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise BadRequestData("geoQ must be a GeoQuery object")
    for name in _GEO_MEMBERS:
        if name in raw:
            if not isinstance(raw[name], str):
                raise BadRequestData(f"geoQ.{name} must be a string")
            params[name] = raw[name]
    if "coordinates" in raw:
        coordinates = raw["coordinates"]
        params["coordinates"] = coordinates if isinstance(coordinates, str) else \
            orjson.dumps(coordinates).decode()


def parse_temporal_query_body(body: object) -> TemporalQueryBody:
    """§5.2.23 Query → the parameters of §6.18.3.1."""
    if not isinstance(body, dict) or body.get("type") != "Query":
        raise BadRequestData("the body must be a Query object (type Query)")
    params: dict[str, Any] = {}
    _entity_selectors(body.get("entities"), params)
    for name in _STRING_QUERY_MEMBERS:
        if name in body:
            if not isinstance(body[name], str):
                raise BadRequestData(f"{name} must be a string")
            params[name] = body[name]
    for name in _LIST_QUERY_MEMBERS:
        if name in body:
            _list_member(body, name, params)
    _geo_query(body.get("geoQ"), params)
    temporal = parse_temporal_q(body.get("temporalQ"))
    aggregation = parse_temporal_q(body.get("aggrParams"), "aggrParams")
    temporal.update(aggregation)
    return TemporalQueryBody(params, temporal, "aggrMethods" in temporal)
