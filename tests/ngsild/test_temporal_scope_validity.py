"""Scope validity over time (V1.9.1 §4.18, C.5.16): cityos.ngsild.temporal.scope_validity."""

from __future__ import annotations

from typing import Any

from cityos.ngsild.query import parse_scope_q
from cityos.ngsild.temporal.scope_validity import (
    instances_while_valid,
    matching_scopes,
    validity,
)
from cityos.ngsild.temporal.times import parse_micros


def _scope(values: list[str], at: str, **extra: Any) -> dict[str, Any]:
    return {"type": "Property", "value": values, "observedAt": at, **extra}


def _at(text: str) -> int:
    return parse_micros(f"2024-05-01T{text}:00Z")


def test_each_scope_is_valid_until_the_next_one_replaces_it() -> None:
    history = [_scope(["/S"], "2024-05-01T12:30:00Z"), _scope(["/R"], "2024-05-01T10:00:00Z")]
    [first, second] = validity(history, "observedAt")
    assert (first.instance["value"], first.start, first.end) == (["/R"], _at("10:00"),
                                                                 _at("12:30"))
    assert (second.instance["value"], second.start) == (["/S"], _at("12:30"))


def test_only_scopes_matching_and_valid_within_the_window_count() -> None:
    history = [_scope(["/R"], "2024-05-01T10:00:00Z"), _scope(["/S"], "2024-05-01T12:30:00Z"),
               _scope([], "2024-05-01T12:40:00Z", deletedAt="2024-05-01T12:40:00Z")]
    window = (_at("12:00"), _at("13:00"))
    [r] = matching_scopes(history, "observedAt", parse_scope_q("/R"), *window)
    assert (r.start, r.end) == (_at("12:00"), _at("12:30"))  # clipped to the window
    [s] = matching_scopes(history, "observedAt", parse_scope_q("/S"), *window)
    assert (s.start, s.end) == (_at("12:30"), _at("12:40"))  # ended by the deletion
    assert matching_scopes(history, "observedAt", parse_scope_q("/R"), _at("12:30"),
                           _at("13:00")) == []
    people = [{"type": "Property", "value": n, "observedAt": f"2024-05-01T12:{m}:00Z"}
              for n, m in ((1, "15"), (2, "35"), (3, "45"))]
    assert [i["value"] for i in instances_while_valid(people, "observedAt", [s])] == [2]
