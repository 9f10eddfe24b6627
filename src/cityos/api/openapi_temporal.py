"""The temporal part of the OpenAPI document (ETSI GS CIM 009 V1.8.1 §6.18–§6.22, §6.24)."""

from __future__ import annotations

from cityos.api.openapi import (
    API,
    CREATED,
    DATETIME,
    INT,
    NO_CONTENT,
    OBJECT,
    STR,
    STRINGS,
    Schema,
    _any,
    _array,
    _errors,
    _obj,
    _ok,
    _op,
    _p,
    _s,
)

TAG = "Temporal"
_TEMPORAL_QUERY = ["timerel", "timeAt", "endTimeAt", "timeproperty", "lastN", "aggrMethods",
                   "aggrPeriodDuration", "attrs", "pick", "omit", "options", "format", "lang",
                   "datasetId"]
_ENTITY_QUERY = ["id", "type", "idPattern", "q", "scopeQ", "georel", "geometry",
                 "coordinates", "geoproperty", "limit", "offset", "count", "local", "orderBy"]
_RANGE = {"Content-Range": {"description": "206 only: date-time START-END/SIZE (§6.3.10).",
                            "schema": STR}}


_OWN_QUERY = {
    "timerel": "before, after or between (§4.11).",
    "timeAt": "DateTime the time relation compares with.",
    "endTimeAt": "End of the range of timerel=between (exclusive).",
    "timeproperty": "observedAt (default), createdAt, modifiedAt or deletedAt.",
    "lastN": "Only the last N instances per attribute.",
    "aggrMethods": "totalCount, distinctCount, sum, avg, min, max, stddev, sumsq.",
    "aggrPeriodDuration": "ISO 8601 duration of an aggregation period (PT0S: all).",
    "orderBy": "id or id;desc (the only ordering a temporal query takes).",
}


# §5.2.21 TemporalQuery (V1.9.1 members); anything else is refused with BadRequestData.
TEMPORAL_Q = _obj({
    "timerel": {"enum": ["before", "after", "between"]}, "timeAt": DATETIME,
    "endTimeAt": DATETIME,
    "timeproperty": {"enum": ["observedAt", "createdAt", "modifiedAt", "deletedAt"]},
    "lastN": {**INT, "minimum": 1}, "aggrMethods": _any(STR, STRINGS),
    "aggrPeriodDuration": STR}, additionalProperties=False,
    description="§5.2.21 TemporalQuery; aggrMethods asks for aggregatedValues.")
TEMPORAL_QUERY_BODY = {"allOf": [_s("Query"), _obj({
    "temporalQ": TEMPORAL_Q, "aggrParams": TEMPORAL_Q,
    "pick": _any(STRINGS, STR), "omit": _any(STRINGS, STR)})]}
_SCOPE_INSTANCE = _obj({"type": {"const": "Property"}, "value": _any(STR, STRINGS),
                        "observedAt": DATETIME}, "value", additionalProperties=False)
TEMPORAL_ENTITY = _obj({"id": STR, "type": _any(STR, STRINGS),
                        "scope": _any(STR, STRINGS, _array(_SCOPE_INSTANCE))},
                       "id", "type", additionalProperties=True,
                       description="§5.2.20 EntityTemporal: each attribute an array of "
                                   "instances; scope a Scope or its instances, each valid "
                                   "from its observedAt (V1.9.1 §4.18).")
_WRITES = ("Writes change the current entity as docs/api.md (Temporal) describes and "
           "notify subscriptions like the same change made through /entities.")


def temporal_parameters() -> dict[str, Schema]:
    """Parameters the temporal operations add to components/parameters."""
    params: dict[str, Schema] = {
        name: {"in": "query", "name": name, "required": False, "schema": STR,
               "description": doc} for name, doc in _OWN_QUERY.items()}
    params["instanceId"] = {"in": "path", "name": "instanceId", "required": True,
                            "schema": STR, "description": "An instanceId of the history."}
    return params


def _ref(*names: str) -> list[Schema]:
    return [{"$ref": f"#/components/parameters/{n}"} for n in names]


def _query(*names: str) -> list[Schema]:
    return _ref(*names)


def _path(*names: str) -> list[Schema]:
    return _ref(*names)


def temporal_paths() -> dict[str, Schema]:
    many = _ok("Temporal representations (206 when instances were cut to a time range).",
               _array(OBJECT), headers=_RANGE)
    one = _ok("The temporal representation.", OBJECT, headers=_RANGE)
    base = f"{API}/temporal/entities"
    entity = f"{base}/{{entityId}}"
    attribute = f"{entity}/attrs/{{attrId}}"
    return {
        base: {
            "post": _op(TAG, "Create or update temporal evolution", _p("link"),
                        {**CREATED, **NO_CONTENT, **_errors("413", "415")}, TEMPORAL_ENTITY,
                        description=_WRITES),
            "get": _op(TAG, "Query temporal evolution",
                       _p("link") + _query(*_TEMPORAL_QUERY, *_ENTITY_QUERY),
                       {"200": many, "206": many, **_errors("403", "406")}),
        },
        f"{API}/temporal/entityOperations/query": {
            "post": _op(TAG, "Query temporal evolution (POST)", _p("link")
                        + _query("limit", "offset", "count", "options", "format"),
                        {"200": many, "206": many, **_errors("415")}, TEMPORAL_QUERY_BODY),
        },
        entity: {
            "get": _op(TAG, "Retrieve temporal evolution",
                       _p("link") + _path("entityId") + _query(*_TEMPORAL_QUERY),
                       {"200": one, "206": one, **_errors("404", "406")}),
            "delete": _op(TAG, "Delete temporal evolution", _p() + _path("entityId"),
                          {**NO_CONTENT, **_errors("404")}),
        },
        f"{entity}/attrs": {
            "post": _op(TAG, "Add attribute instances", _p("link") + _path("entityId"),
                        {**NO_CONTENT, **_errors("404", "413", "415")}, OBJECT),
        },
        attribute: {
            "delete": _op(TAG, "Delete attribute history", _p("link")
                          + _path("entityId", "attrId") + _query("datasetId", "deleteAll"),
                          {**NO_CONTENT, **_errors("404")}),
        },
        f"{attribute}/{{instanceId}}": {
            "patch": _op(TAG, "Modify attribute instance",
                         _p("link") + _path("entityId", "attrId", "instanceId"),
                         {**NO_CONTENT, **_errors("404", "415")}, OBJECT),
            "delete": _op(TAG, "Delete attribute instance",
                          _p("link") + _path("entityId", "attrId", "instanceId"),
                          {**NO_CONTENT, **_errors("404")}),
        },
    }
