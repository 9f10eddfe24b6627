"""Which instances an entity change adds to the history (cityos.ngsild.temporal.diff)."""

from __future__ import annotations

from cityos.ngsild.temporal.diff import SCOPE_IRI, history_records
from cityos.ngsild.types import JsonObject

SPEED = "https://example.org/speed"
NAME = "https://example.org/name"


def _entity(attrs: JsonObject, modified: str = "2024-01-01T00:00:00Z",
            **members: object) -> JsonObject:
    return {"id": "urn:ngsi-ld:Vehicle:1", "type": ["https://example.org/Vehicle"],
            "createdAt": "2024-01-01T00:00:00Z", "modifiedAt": modified, "attrs": attrs,
            **members}


def _speed(value: object, modified: str, **extra: object) -> JsonObject:
    return {"type": "Property", "value": value, "createdAt": "2024-01-01T00:00:00Z",
            "modifiedAt": modified, **extra}


def test_a_new_entity_records_every_instance() -> None:
    after = _entity({SPEED: [_speed(1, "t1"), _speed(2, "t1", datasetId="urn:d:2")]})
    records = history_records(None, after, "now")
    assert [(r.attribute, r.instance["value"]) for r in records] == [(SPEED, 1), (SPEED, 2)]


def test_unchanged_instances_are_not_recorded_again() -> None:
    before = _entity({SPEED: [_speed(1, "t1")], NAME: [_speed("a", "t1")]})
    after = _entity({SPEED: [_speed(5, "t2")], NAME: [_speed("a", "t1")]}, "t2")
    records = history_records(before, after, "now")
    assert [(r.attribute, r.instance["value"]) for r in records] == [(SPEED, 5)]


def test_a_rewrite_with_the_same_value_counts_when_modifiedat_moves() -> None:
    before = _entity({SPEED: [_speed(1, "t1")]})
    after = _entity({SPEED: [_speed(1, "t2")]}, "t2")
    assert len(history_records(before, after, "now")) == 1


def test_a_deleted_attribute_is_recorded_with_deletedat_and_null() -> None:
    before = _entity({SPEED: [_speed(1, "t1")], NAME: [
        {"type": "LanguageProperty", "languageMap": {"en": "x"}, "modifiedAt": "t1"}]})
    after = _entity({}, "t2")
    records = {r.attribute: r.instance for r in history_records(before, after, "now")}
    assert records[SPEED]["value"] == "urn:ngsi-ld:null"
    assert records[SPEED]["deletedAt"] == "t2"
    assert records[NAME]["languageMap"] == {"@none": "urn:ngsi-ld:null"}


def test_deleting_the_entity_records_every_attribute_and_scope_deleted_now() -> None:
    before = _entity({SPEED: [_speed(1, "t1")]}, scope=["/Kaga"])
    records = history_records(before, None, "2024-02-02T00:00:00Z")
    assert {r.attribute for r in records} == {SPEED, SCOPE_IRI}
    assert all(r.instance["deletedAt"] == "2024-02-02T00:00:00Z" for r in records)


def test_a_scope_change_is_a_property_observed_when_modified() -> None:
    before = _entity({}, scope=["/Old"])
    after = _entity({}, "t3", scope=["/New"])
    [record] = history_records(before, after, "now")
    assert record.attribute == SCOPE_IRI
    assert record.instance["value"] == ["/New"]
    assert record.instance["observedAt"] == record.instance["modifiedAt"] == "t3"
