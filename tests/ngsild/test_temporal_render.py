"""Temporal representations and instance pagination (cityos.ngsild.temporal.render,
paging)."""

from __future__ import annotations

from cityos.ngsild.context import compile_context
from cityos.ngsild.temporal.paging import cut_instances
from cityos.ngsild.temporal.params import parse_temporal_query
from cityos.ngsild.temporal.render import (
    AggregatedSeries,
    TemporalRenderOptions,
    render_temporal_entity,
)
from cityos.ngsild.temporal.times import parse_micros
from cityos.ngsild.types import JsonObject

VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
CTX = compile_context(None)


def _instance(value: object, observed: str, n: int, **extra: object) -> JsonObject:
    return {"type": "Property", "value": value, "observedAt": observed,
            "instanceId": f"urn:ngsi-ld:Instance:{n}", "createdAt": observed,
            "modifiedAt": observed, **extra}


ENTITY = {"id": "urn:ngsi-ld:Vehicle:1", "type": [VOCAB + "Vehicle"],
          "attrs": {VOCAB + "speed": [_instance(120, "2020-08-01T12:03:00Z", 1),
                                      _instance(80, "2020-08-01T12:05:00Z", 2)]}}


def test_normalized_lists_every_instance_with_its_instance_id() -> None:
    out = render_temporal_entity(ENTITY, CTX, TemporalRenderOptions())
    assert out["type"] == "Vehicle"
    assert out["speed"] == [
        {"type": "Property", "value": 120, "observedAt": "2020-08-01T12:03:00Z",
         "instanceId": "urn:ngsi-ld:Instance:1"},
        {"type": "Property", "value": 80, "observedAt": "2020-08-01T12:05:00Z",
         "instanceId": "urn:ngsi-ld:Instance:2"}]


def test_sysattrs_adds_created_and_modified_to_each_instance() -> None:
    out = render_temporal_entity(ENTITY, CTX, TemporalRenderOptions(sys_attrs=True))
    assert out["speed"][0]["createdAt"] == "2020-08-01T12:03:00Z"


def test_temporal_values_are_value_time_pairs() -> None:
    out = render_temporal_entity(ENTITY, CTX, TemporalRenderOptions("temporalValues"))
    assert out["speed"] == {"type": "Property", "values": [
        [120, "2020-08-01T12:03:00Z"], [80, "2020-08-01T12:05:00Z"]]}


def test_simplified_relationships_and_language_maps_use_their_own_members() -> None:
    entity = {"id": "urn:x:1", "type": [VOCAB + "T"], "attrs": {
        VOCAB + "rel": [{"type": "Relationship", "object": "urn:a", "instanceId": "urn:i:1",
                         "observedAt": "2020-01-01T00:00:00Z", "modifiedAt": "x",
                         "createdAt": "x"}],
        VOCAB + "name": [{"type": "LanguageProperty", "languageMap": {"en": "a", "ja": "b"},
                          "instanceId": "urn:i:2", "observedAt": "2020-01-01T00:00:00Z",
                          "modifiedAt": "x", "createdAt": "x"}]}}
    out = render_temporal_entity(entity, CTX, TemporalRenderOptions("temporalValues"))
    assert out["rel"] == {"type": "Relationship",
                          "objects": [["urn:a", "2020-01-01T00:00:00Z"]]}
    assert out["name"]["languageMaps"][0][0] == {"languageMap": {"en": "a", "ja": "b"}}
    picked = render_temporal_entity(entity, CTX, TemporalRenderOptions("temporalValues",
                                                                       lang="ja"))
    assert picked["name"] == {"type": "Property", "values": [["b", "2020-01-01T00:00:00Z"]]}


def test_aggregated_values_are_value_start_end_triples() -> None:
    start = parse_micros("2020-08-01T12:03:00Z")
    hour = 3_600_000_000
    entity = {"id": "urn:x:1", "type": [VOCAB + "T"], "attrs": {}, "aggregates": {
        VOCAB + "speed": [AggregatedSeries("Property", None,
                                           {"avg": [(100.0, start, start + hour)]})]}}
    out = render_temporal_entity(entity, CTX, TemporalRenderOptions("aggregatedValues"))
    assert out["speed"] == {"type": "Property", "avg": [
        [100.0, "2020-08-01T12:03:00Z", "2020-08-01T13:03:00Z"]]}


def test_pick_and_omit_of_entity_members() -> None:
    only_id = render_temporal_entity(ENTITY, CTX, TemporalRenderOptions(
        members=frozenset({"id"})))
    assert "type" not in only_id and only_id["id"] == ENTITY["id"]
    no_type = render_temporal_entity(ENTITY, CTX, TemporalRenderOptions(
        omit=frozenset({"type"})))
    assert "type" not in no_type and "speed" in no_type


def _series(start_minute: int, count: int) -> list[JsonObject]:
    return [_instance(i, f"2020-01-01T01:{start_minute + i:02d}:00Z", i) for i in range(count)]


def test_truncated_attributes_cut_the_others_to_the_same_range() -> None:
    attrs = {"e": {"speed": _series(0, 5), "fuel": _series(2, 5)}}
    query = parse_temporal_query({"timerel": "after", "timeAt": "2019-01-01T00:00:00Z"})
    window = cut_instances(attrs, {"e": ["speed"]}, query)
    assert window is not None
    assert window.header() == "date-time 2019-01-01T00:00:00Z-2020-01-01T01:04:00Z/*"
    assert [i["value"] for i in attrs["e"]["fuel"]] == [0, 1, 2]


def test_lastn_ranges_run_backwards_and_announce_the_size() -> None:
    newest_first = list(reversed(_series(0, 5)))[:3]
    attrs = {"e": {"speed": newest_first}}
    window = cut_instances(attrs, {"e": ["speed"]}, parse_temporal_query({"lastN": "20"}))
    assert window is not None
    assert window.header() == "date-time 2020-01-01T01:04:00Z-2020-01-01T01:02:00Z/20"


def test_nothing_truncated_means_no_range() -> None:
    attrs = {"e": {"speed": _series(0, 2)}}
    assert cut_instances(attrs, {}, parse_temporal_query({})) is None
    assert len(attrs["e"]["speed"]) == 2


def test_temporal_values_of_an_attribute_cut_away_keep_an_empty_series() -> None:
    entity = {"id": "urn:x:1", "type": [VOCAB + "T"],
              "attrs": {VOCAB + "speed": [], VOCAB + "rel": []},
              "kinds": {VOCAB + "rel": "Relationship"}}
    out = render_temporal_entity(entity, CTX, TemporalRenderOptions("temporalValues"))
    assert out["speed"] == {"type": "Property", "values": []}
    assert out["rel"] == {"type": "Relationship", "objects": []}
