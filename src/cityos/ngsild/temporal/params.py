"""The temporal query (ETSI GS CIM 009 §4.11, §5.2.21 TemporalQuery, §5.2.44
AggregationParams, §6.18.3.1 / §6.19.3.1 query parameters), parsed into one value.

The same parser reads URL parameters and the `temporalQ` / `aggrParams` members of a
POST /temporal/entityOperations/query body: both are mappings of the same names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal.times import require_micros

TIMERELS = frozenset({"before", "after", "between"})
# §4.8: the four Temporal Properties a temporal query may select instances by.
TIME_PROPERTIES = frozenset({"observedAt", "createdAt", "modifiedAt", "deletedAt"})
# §4.5.19: the aggregation functions.
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max",
                       "stddev", "sumsq")
_DURATION = re.compile(
    r"^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?"
    r"(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d{1,6})?)S)?)?$")
_SECOND = 1_000_000
# A year and a month have no fixed length; aggregation buckets need one (documented).
_UNIT_MICROS = (365 * 86400 * _SECOND, 30 * 86400 * _SECOND, 7 * 86400 * _SECOND,
                86400 * _SECOND, 3600 * _SECOND, 60 * _SECOND)
MAX_LAST_N = 1_000_000


@dataclass(frozen=True)
class TemporalQuery:
    """What part of the history a request selects (§4.11, §5.2.21).

    `lower` (inclusive) and `upper` (exclusive) bound the selected instants in epoch
    microseconds; None is unbounded. `period` is the aggregation period in microseconds
    (None: one period spanning the whole selection)."""

    timerel: str | None = None
    time_at: int | None = None
    end_time_at: int | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    aggregation_methods: tuple[str, ...] = ()
    period: int | None = None

    @property
    def lower(self) -> int | None:
        return self.time_at if self.timerel in ("after", "between") else None

    @property
    def upper(self) -> int | None:
        if self.timerel == "before":
            return self.time_at
        return self.end_time_at if self.timerel == "between" else None

    @property
    def descending(self) -> bool:
        """lastN selects the most recent instances, so they are read newest first."""
        return self.last_n is not None


def parse_duration(text: object) -> int | None:
    """An ISO 8601 duration (`PT1H`, `P1D`, `P1Y2M`, `PT0.5S`) in microseconds; a zero
    duration (`PT0S`, the default) means "the whole selected time range" (None)."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise BadRequestData(f"aggrPeriodDuration must be an ISO 8601 duration such as "
                             f"PT1H or P1D, got {text!r}"[:200])
    *whole, seconds = match.groups()
    total = sum(int(v) * unit for v, unit in zip(whole, _UNIT_MICROS, strict=True) if v)
    if seconds:
        total += round(float(seconds) * _SECOND)
    return total or None


def parse_aggregation_methods(raw: object) -> tuple[str, ...]:
    """aggrMethods: a comma-separated string or (in a JSON body) an array of strings."""
    if isinstance(raw, str):
        names = [n.strip() for n in raw.split(",") if n.strip()]
    elif isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        names = [n.strip() for n in raw]
    else:
        raise BadRequestData("aggrMethods must be a list of aggregation method names")
    unknown = [n for n in names if n not in AGGREGATION_METHODS]
    if unknown or not names:
        raise BadRequestData(f"unknown aggrMethods {', '.join(unknown)!r}; known: "
                             + ", ".join(AGGREGATION_METHODS))
    return tuple(dict.fromkeys(names))


def _last_n(raw: object) -> int:
    """§5.2.21: lastN is a positive integer."""
    if isinstance(raw, bool) or not (isinstance(raw, int) or
                                     (isinstance(raw, str) and raw.isdigit())):
        raise BadRequestData(f"lastN must be a positive integer, got {raw!r}"[:120])
    value = int(raw)
    if not 1 <= value <= MAX_LAST_N:
        raise BadRequestData(f"lastN must be between 1 and {MAX_LAST_N}")
    return value


def parse_temporal_query(params: Mapping[str, Any], *, aggregated: bool = False,
                         require_timerel: bool = False) -> TemporalQuery:
    """Check and convert timerel, timeAt, endTimeAt, timeproperty, lastN and (when
    `aggregated`) aggrMethods and aggrPeriodDuration. Any inconsistency is BadRequestData
    (§5.7.3.4, §5.7.4.4)."""
    timerel = params.get("timerel")
    if timerel is not None and timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, got {timerel!r}"
                             [:120])
    if timerel is None and require_timerel:
        raise BadRequestData("a temporal query needs timerel and timeAt")
    time_at = end_time_at = None
    if timerel is not None:
        if params.get("timeAt") in (None, ""):
            raise BadRequestData(f"timerel={timerel} needs timeAt")
        time_at = require_micros(params["timeAt"], "timeAt")
    if timerel == "between":
        if params.get("endTimeAt") in (None, ""):
            raise BadRequestData("timerel=between needs endTimeAt")
        end_time_at = require_micros(params["endTimeAt"], "endTimeAt")
        if time_at is not None and end_time_at <= time_at:
            raise BadRequestData("endTimeAt must be later than timeAt")
    timeproperty = params.get("timeproperty") or "observedAt"
    if timeproperty not in TIME_PROPERTIES:
        raise BadRequestData("timeproperty must be observedAt, createdAt, modifiedAt or "
                             f"deletedAt, got {timeproperty!r}"[:160])
    last_n = _last_n(params["lastN"]) if params.get("lastN") not in (None, "") else None
    methods: tuple[str, ...] = ()
    period = None
    if aggregated:
        if params.get("aggrMethods") in (None, ""):
            raise BadRequestData("aggregatedValues needs aggrMethods")
        methods = parse_aggregation_methods(params["aggrMethods"])
        period = parse_duration(params.get("aggrPeriodDuration", "PT0S"))
    elif params.get("aggrPeriodDuration") not in (None, ""):
        parse_duration(params["aggrPeriodDuration"])
    return TemporalQuery(timerel, time_at, end_time_at, timeproperty, last_n, methods, period)
