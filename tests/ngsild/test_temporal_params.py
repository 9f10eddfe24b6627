"""Temporal query parameters (cityos.ngsild.temporal.params, times)."""

from __future__ import annotations

import pytest

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal.params import parse_duration, parse_temporal_query
from cityos.ngsild.temporal.times import format_micros, parse_micros

HOUR = 3_600_000_000


@pytest.mark.parametrize(("text", "micros"), [
    ("PT1H", HOUR), ("P1D", 24 * HOUR), ("PT15M", HOUR // 4), ("PT0.5S", 500_000),
    ("P1W", 7 * 24 * HOUR), ("P1DT1H", 25 * HOUR), ("PT0S", None), ("P0D", None),
])
def test_iso_durations_become_microseconds(text: str, micros: int | None) -> None:
    assert parse_duration(text) == micros


@pytest.mark.parametrize("text", ["1H", "P", "PT", "PT1X", "P1H", "", "PT-1H", 5])
def test_malformed_durations_are_bad_request_data(text: object) -> None:
    with pytest.raises(BadRequestData):
        parse_duration(text)


def test_between_bounds_are_inclusive_then_exclusive() -> None:
    query = parse_temporal_query({"timerel": "between", "timeAt": "2020-08-01T12:00:00Z",
                                  "endTimeAt": "2020-08-01T13:00:00Z"})
    assert query.lower == parse_micros("2020-08-01T12:00:00Z")
    assert query.upper == parse_micros("2020-08-01T13:00:00Z")


def test_before_bounds_only_the_upper_end_and_after_only_the_lower() -> None:
    before = parse_temporal_query({"timerel": "before", "timeAt": "2020-08-01T12:00:00Z"})
    after = parse_temporal_query({"timerel": "after", "timeAt": "2020-08-01T12:00:00Z"})
    assert (before.lower, before.upper) == (None, parse_micros("2020-08-01T12:00:00Z"))
    assert (after.lower, after.upper) == (parse_micros("2020-08-01T12:00:00Z"), None)


def test_two_spellings_of_one_instant_give_the_same_bound() -> None:
    a = parse_temporal_query({"timerel": "after", "timeAt": "2020-08-01T12:05:00Z"})
    b = parse_temporal_query({"timerel": "after", "timeAt": "2020-08-01T12:05:00.000Z"})
    assert a.lower == b.lower


@pytest.mark.parametrize("params", [
    {"timerel": "during", "timeAt": "2020-08-01T12:00:00Z"},
    {"timerel": "after"},
    {"timerel": "before", "timeAt": ""},
    {"timerel": "between", "timeAt": "2020-08-01T12:00:00Z"},
    {"timerel": "between", "timeAt": "2020-08-01T13:00:00Z",
     "endTimeAt": "2020-08-01T12:00:00Z"},
    {"timerel": "after", "timeAt": "2020-08-01"},
    {"timerel": "after", "timeAt": "yesterday"},
    {"timeproperty": "expiresAt"},
    {"lastN": "0"}, {"lastN": "1.5"}, {"lastN": "-3"}, {"lastN": 0},
])
def test_inconsistent_temporal_queries_are_bad_request_data(params: dict[str, object]) -> None:
    with pytest.raises(BadRequestData):
        parse_temporal_query(params)


def test_aggregation_needs_known_methods() -> None:
    query = parse_temporal_query({"aggrMethods": "avg,max", "aggrPeriodDuration": "PT1H"},
                                 aggregated=True)
    assert query.aggregation_methods == ("avg", "max")
    assert query.period == HOUR
    assert parse_temporal_query({"aggrMethods": ["sum"]}, aggregated=True).period is None
    for bad in ({"aggrMethods": "avg,median"}, {}, {"aggrMethods": "avg",
                                                    "aggrPeriodDuration": "hourly"}):
        with pytest.raises(BadRequestData):
            parse_temporal_query(bad, aggregated=True)


def test_lastn_reads_newest_first() -> None:
    assert parse_temporal_query({"lastN": "3"}).descending
    assert not parse_temporal_query({}).descending


@pytest.mark.parametrize(("micros", "text"), [
    (parse_micros("2020-08-01T12:03:00Z"), "2020-08-01T12:03:00Z"),
    (parse_micros("2020-08-01T12:03:00.250Z"), "2020-08-01T12:03:00.250Z"),
    (parse_micros("2020-08-01T12:03:00.000001Z"), "2020-08-01T12:03:00.000001Z"),
])
def test_instants_are_written_back_as_short_as_they_were_sent(micros: int, text: str) -> None:
    assert format_micros(micros) == text
