"""What temporal API writes mean for the current entity: cityos.ngsild.temporal.current."""

from __future__ import annotations

from typing import Any

from cityos.ngsild.temporal import current

PEOPLE = "https://example.org/people"
NOW = "2024-06-01T00:00:00Z"


def _instance(value: int, observed: str | None, **extra: Any) -> dict[str, Any]:
    instance: dict[str, Any] = {"type": "Property", "value": value, **extra}
    if observed is not None:
        instance["observedAt"] = observed
    return instance


def _entity(*instances: dict[str, Any]) -> dict[str, Any]:
    stamped = [{**i, "createdAt": NOW, "modifiedAt": NOW} for i in instances]
    return {"id": "urn:ngsi-ld:CrowdSensor:1", "type": ["CrowdSensor"], "createdAt": NOW,
            "modifiedAt": NOW, "attrs": {PEOPLE: stamped} if stamped else {}}


def _values(entity: dict[str, Any] | None) -> list[Any]:
    assert entity is not None
    return [(i["value"], i.get("datasetId")) for i in entity["attrs"].get(PEOPLE, [])]


def test_the_latest_instance_of_each_series_becomes_current() -> None:
    sent = {"id": "urn:ngsi-ld:CrowdSensor:1", "type": ["CrowdSensor"], "attrs": {PEOPLE: [
        _instance(3, "2024-05-01T09:00:00Z"), _instance(7, "2024-05-01T08:00:00Z"),
        _instance(4, "2024-05-01T07:00:00Z", datasetId="urn:ngsi-ld:Dataset:b")]}}
    created = current.entity_mutator(sent, NOW)(None)
    assert sorted(_values(created), key=str) == [(3, None), (4, "urn:ngsi-ld:Dataset:b")]


def test_a_later_observation_in_the_current_entity_is_kept() -> None:
    sent = {"id": "urn:ngsi-ld:CrowdSensor:1", "type": ["CrowdSensor"],
            "attrs": {PEOPLE: [_instance(1, "2024-05-01T08:00:00Z")]}}
    later = _entity(_instance(9, "2024-05-01T10:00:00.000Z"))
    assert _values(current.entity_mutator(sent, NOW)(later)) == [(9, None)]
    earlier = _entity(_instance(9, "2024-05-01T07:59:59.999Z"))
    assert _values(current.entity_mutator(sent, NOW)(earlier)) == [(1, None)]


def test_deleting_a_series_history_removes_it_from_the_current_entity() -> None:
    entity = _entity(_instance(1, "2024-05-01T08:00:00Z"),
                     _instance(2, "2024-05-01T08:00:00Z", datasetId="urn:ngsi-ld:Dataset:b"))
    one = current.removal_mutator(PEOPLE, "urn:ngsi-ld:Dataset:b", False, NOW)(entity)
    assert _values(one) == [(1, None)]
    every = current.removal_mutator(PEOPLE, None, True, NOW)(entity)
    assert every is not None and PEOPLE not in every["attrs"]
    other = current.removal_mutator("https://example.org/level", None, True, NOW)(entity)
    assert other is entity
    assert current.removal_mutator(PEOPLE, None, True, NOW)(None) is None


def test_the_current_entity_follows_a_modified_or_deleted_latest_instance() -> None:
    shown = _instance(5, "2024-05-01T09:00:00Z")
    entity = _entity(shown)
    edited = _instance(6, "2024-05-01T09:00:00Z", instanceId="urn:ngsi-ld:Instance:2")
    assert _values(current.series_mutator(PEOPLE, shown, edited, NOW)(entity)) == [(6, None)]
    previous = _instance(4, "2024-05-01T08:00:00Z", instanceId="urn:ngsi-ld:Instance:1")
    assert _values(current.series_mutator(PEOPLE, shown, previous, NOW)(entity)) == [
        (4, None)]
    emptied = current.series_mutator(PEOPLE, shown, None, NOW)(entity)
    assert emptied is not None and PEOPLE not in emptied["attrs"]


def test_an_older_instance_changes_nothing_unless_it_becomes_the_latest() -> None:
    entity = _entity(_instance(5, "2024-05-01T09:00:00Z"))
    old = _instance(1, "2024-05-01T07:00:00Z")
    latest = _instance(5, "2024-05-01T09:00:00Z", instanceId="urn:ngsi-ld:Instance:2")
    assert current.series_mutator(PEOPLE, old, latest, NOW)(entity) is entity
    moved = _instance(8, "2024-05-01T11:00:00Z", instanceId="urn:ngsi-ld:Instance:1")
    assert _values(current.series_mutator(PEOPLE, old, moved, NOW)(entity)) == [(8, None)]


def test_a_later_core_observation_is_not_undone_by_history_edits() -> None:
    entity = _entity(_instance(50, "2024-05-02T00:00:00Z"))
    touched = _instance(5, "2024-05-01T09:00:00Z")
    for latest in (None, _instance(4, "2024-05-01T08:00:00Z", instanceId="urn:x:1")):
        assert current.series_mutator(PEOPLE, touched, latest, NOW)(entity) is entity
    assert current.series_mutator(PEOPLE, touched, None, NOW)(None) is None
