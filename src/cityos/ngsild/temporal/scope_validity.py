"""Scope validity over time for temporal queries (ETSI GS CIM 009 V1.9.1 §4.18, §4.19,
§5.7.4.4 S4, annex C.5.16).

"A given Scope is considered valid from the time it has been set until the time it has
been explicitly removed by an update or delete operation": each recorded Scope instance
is valid from its time (the query's timeproperty) until the next one, a deletion (an
empty Scope) ending it. A temporal query with scopeQ keeps an entity when a Scope that
satisfies it was valid at some instant of the query's window, and then shows only the
attribute instances of those instants, with the Scopes that made them match.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cityos.ngsild.query import evaluate_scope_q
from cityos.ngsild.temporal.times import parse_micros
from cityos.ngsild.types import JsonObject

UNBOUNDED = 2**62


@dataclass(frozen=True)
class ValidScope:
    """One Scope instance and the instants [start, end) it was valid, in epoch µs."""

    start: int
    end: int
    instance: JsonObject

    def holds(self, at: int) -> bool:
        return self.start <= at < self.end


def _at(instance: JsonObject, timeproperty: str) -> int | None:
    text = instance.get(timeproperty)
    return parse_micros(text) if isinstance(text, str) else None


def validity(instances: Sequence[JsonObject], timeproperty: str) -> list[ValidScope]:
    """Each Scope instance with the interval it was valid (instances without a time of
    `timeproperty` are left out; a deletion's interval is kept, with no Scope values)."""
    timed = sorted((at, n, i) for n, i in enumerate(instances)
                   if (at := _at(i, timeproperty)) is not None)
    out = []
    for position, (start, _, instance) in enumerate(timed):
        end = timed[position + 1][0] if position + 1 < len(timed) else UNBOUNDED
        if end > start:
            out.append(ValidScope(start, end, instance))
    return out


def matching_scopes(instances: Sequence[JsonObject], timeproperty: str, scope_q: Any,
                    lower: int | None, upper: int | None) -> list[ValidScope]:
    """The Scopes valid within [lower, upper) that satisfy `scope_q`, their intervals
    clipped to that window."""
    low = lower if lower is not None else -UNBOUNDED
    high = upper if upper is not None else UNBOUNDED
    found = []
    for valid in validity(instances, timeproperty):
        start, end = max(valid.start, low), min(valid.end, high)
        values = valid.instance.get("value") or []
        if start < end and "deletedAt" not in valid.instance and \
                evaluate_scope_q(scope_q, set(values)):
            found.append(ValidScope(start, end, valid.instance))
    return found


def instances_while_valid(instances: list[JsonObject], timeproperty: str,
                          scopes: Sequence[ValidScope]) -> list[JsonObject]:
    """The attribute instances whose time falls where one of `scopes` was valid."""
    kept = []
    for instance in instances:
        at = _at(instance, timeproperty)
        if at is not None and any(scope.holds(at) for scope in scopes):
            kept.append(instance)
    return kept
