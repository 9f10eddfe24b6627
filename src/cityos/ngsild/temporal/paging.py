"""Pagination of attribute instances in temporal responses (ETSI GS CIM 009 V1.8.1
§6.3.10, Content-Range).

A response holds at most a configured number of instances per attribute. When an
attribute has more, the response covers only the time range every attribute could be
given completely: it ends at the last instance of the most cut attribute, every attribute
is cut to that range, and the range is announced as `Content-Range: date-time
<start>-<end>/<size>` with status 206. The client asks for the next range with timeAt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cityos.ngsild.temporal.params import TemporalQuery
from cityos.ngsild.temporal.times import format_micros, parse_micros
from cityos.ngsild.types import JsonObject


@dataclass(frozen=True)
class TemporalRange:
    """The time range a paginated response covers, in the order it was read."""

    start: int
    end: int
    size: str

    def header(self) -> str:
        return f"date-time {format_micros(self.start)}-{format_micros(self.end)}/{self.size}"


def instant(instance: JsonObject, timeproperty: str) -> int:
    return parse_micros(instance[timeproperty])


def cut_instances(entities: Mapping[str, dict[str, list[JsonObject]]],
                  truncated: Mapping[str, Iterable[str]],
                  query: TemporalQuery) -> TemporalRange | None:
    """Cut, in place, every attribute to the range the truncated ones allow; return that
    range (None when nothing was truncated). Truncated attributes that end up empty are
    kept as empty lists: the client sees that data exists beyond the range."""
    ends = [instant(entities[entity_id][name][-1], query.timeproperty)
            for entity_id, names in truncated.items() for name in names]
    if not ends:
        return None
    descending = query.descending
    boundary = max(ends) if descending else min(ends)
    seen: list[int] = []
    for attributes in entities.values():
        for name, instances in attributes.items():
            kept = [i for i in instances
                    if (instant(i, query.timeproperty) >= boundary if descending
                        else instant(i, query.timeproperty) <= boundary)]
            attributes[name] = kept
            seen.extend(instant(i, query.timeproperty) for i in kept)
    size = str(query.last_n) if query.last_n is not None else "*"
    if descending:
        start = query.upper if query.upper is not None else max(seen, default=boundary)
    else:
        start = query.lower if query.lower is not None else min(seen, default=boundary)
    return TemporalRange(start, boundary, size)
