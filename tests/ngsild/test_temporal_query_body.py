"""The Query body of Query Temporal Evolution of Entities by POST (§5.2.23) and its
temporalQ (§5.2.21): cityos.ngsild.temporal.query_body."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal.params import parse_temporal_query
from cityos.ngsild.temporal.query_body import parse_temporal_query_body

WINDOW = {"timerel": "between", "timeAt": "2024-05-01T08:00:00Z",
          "endTimeAt": "2024-05-01T09:00:00Z", "timeproperty": "modifiedAt"}


def _query(**members: Any) -> dict[str, Any]:
    return {"type": "Query", "entities": [{"type": "CrowdSensor"}], **members}


def test_a_query_becomes_the_parameters_of_the_url_form() -> None:
    parsed = parse_temporal_query_body(_query(
        q="people>5", scopeQ="/Kaga", attrs=["people", "level"], pick=["people"],
        geoQ={"georel": "near;maxDistance==100", "geometry": "Point",
              "coordinates": [136.3, 36.3]},
        temporalQ={**WINDOW, "lastN": 2}))
    assert parsed.params == {"type": "CrowdSensor", "q": "people>5", "scopeQ": "/Kaga",
                             "attrs": "people,level", "pick": "people",
                             "georel": "near;maxDistance==100", "geometry": "Point",
                             "coordinates": "[136.3,36.3]"}
    query = parse_temporal_query(parsed.temporal)
    assert (query.timerel, query.timeproperty, query.last_n) == ("between", "modifiedAt", 2)
    assert not parsed.aggregated


def test_aggregation_members_in_temporalq_or_aggrparams_ask_for_aggregation() -> None:
    inside = parse_temporal_query_body(_query(temporalQ={**WINDOW, "aggrMethods": "avg,max"}))
    legacy = parse_temporal_query_body(_query(temporalQ=WINDOW,
                                              aggrParams={"aggrMethods": ["avg"]}))
    assert inside.aggregated and legacy.aggregated
    assert parse_temporal_query(inside.temporal, aggregated=True).aggregation_methods == (
        "avg", "max")


@pytest.mark.parametrize("members", [
    {"temporalQ": "timerel=after"},
    {"temporalQ": ["after"]},
    {"temporalQ": {**WINDOW, "time": "2024-05-01T08:00:00Z"}},
    {"temporalQ": {"timerel": ["after"], "timeAt": "2024-05-01T08:00:00Z"}},
    {"temporalQ": {"timerel": "after", "timeAt": 1714550400}},
    {"temporalQ": {**WINDOW, "timeproperty": {"name": "observedAt"}}},
    {"temporalQ": {**WINDOW, "lastN": 2.5}},
    {"temporalQ": {**WINDOW, "lastN": "2"}},
    {"temporalQ": {**WINDOW, "lastN": True}},
    {"aggrParams": "avg"},
    {"entities": []},
    {"entities": [{"type": ["CrowdSensor"]}]},
    {"entities": "CrowdSensor"},
    {"q": ["people>5"]},
    {"attrs": []},
    {"geoQ": "near"},
])
def test_wrongly_typed_members_are_bad_request_data(members: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        parse_temporal_query_body(_query(**members))


@pytest.mark.parametrize("temporal_q", [
    {"timerel": "during", "timeAt": "2024-05-01T08:00:00Z"},
    {"timerel": "between", "timeAt": "2024-05-01T08:00:00Z"},
    {**WINDOW, "timeproperty": "expiresAt"},
    {**WINDOW, "lastN": 0},
    {"timerel": "after", "timeAt": "yesterday"},
])
def test_wrong_values_are_refused_by_the_shared_parser(temporal_q: dict[str, Any]) -> None:
    parsed = parse_temporal_query_body(_query(temporalQ=temporal_q))
    with pytest.raises(BadRequestData):
        parse_temporal_query(parsed.temporal)


def test_a_body_that_is_not_a_query_is_refused() -> None:
    for body in ([], {"type": "NotQuery"}, "Query"):
        with pytest.raises(BadRequestData):
            parse_temporal_query_body(body)
