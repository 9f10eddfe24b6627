"""Transient entities and attributes (V1.9.1 §4.22): what is live at a given instant."""

from __future__ import annotations

from datetime import datetime

import pytest

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.expiry import next_expiry, without_expired

CTX = core_context()
SPEED = "https://uri.etsi.org/ngsi-ld/default-context/speed"
NAME = "https://uri.etsi.org/ngsi-ld/default-context/name"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def vehicle(**extra: object) -> dict[str, object]:
    return {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", **extra}


def test_entity_expiry_is_parsed_as_a_member_not_an_attribute() -> None:
    entity = parse_entity(vehicle(expiresAt="2030-01-01T00:00:00Z"), CTX)
    assert entity["expiresAt"] == "2030-01-01T00:00:00Z"
    assert entity["attrs"] == {}


@pytest.mark.parametrize("bad", ["tomorrow", 5, "2030-01-01T00:00:00+09:00", None])
def test_malformed_expiry_is_rejected_at_entity_and_attribute_level(bad: object) -> None:
    with pytest.raises(BadRequestData):
        parse_entity(vehicle(expiresAt=bad), CTX)
    with pytest.raises(BadRequestData):
        parse_entity(vehicle(speed={"type": "Property", "value": 1, "expiresAt": bad}), CTX)


def test_next_expiry_is_the_earliest_of_entity_instances_and_sub_attributes() -> None:
    entity = parse_entity(vehicle(
        expiresAt="2030-01-01T00:00:00Z",
        speed=[{"type": "Property", "value": 1, "expiresAt": "2029-06-01T00:00:00Z"},
               {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:d:2"}],
        name={"type": "Property", "value": "bus",
              "note": {"type": "Property", "value": "x",
                       "expiresAt": "2029-06-01T00:00:00.5Z"}}), CTX)
    assert next_expiry(entity) == at("2029-06-01T00:00:00+00:00")
    assert next_expiry(parse_entity(vehicle(), CTX)) is None


def test_instants_compare_as_time_not_as_text() -> None:
    # "…00.5Z" sorts before "…00Z" as text but is half a second later.
    entity = parse_entity(vehicle(speed=[
        {"type": "Property", "value": 1, "expiresAt": "2030-01-01T00:00:00.5Z"},
        {"type": "Property", "value": 2, "expiresAt": "2030-01-01T00:00:00Z",
         "datasetId": "urn:ngsi-ld:d:2"}]), CTX)
    live = without_expired(entity, at("2030-01-01T00:00:00.2+00:00"))
    assert live is not None
    assert [i["value"] for i in live["attrs"][SPEED]] == [1]


def test_an_expired_entity_is_gone_and_a_live_one_is_untouched() -> None:
    entity = parse_entity(vehicle(expiresAt="2030-01-01T00:00:00Z"), CTX)
    assert without_expired(entity, at("2030-01-01T00:00:00+00:00")) is None
    assert without_expired(entity, at("2029-12-31T23:59:59+00:00")) is entity


def test_expired_instances_and_sub_attributes_vanish_siblings_stay() -> None:
    entity = parse_entity(vehicle(
        speed=[{"type": "Property", "value": 1, "expiresAt": "2030-01-01T00:00:00Z"},
               {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:d:2"}],
        name={"type": "Property", "value": "bus",
              "note": {"type": "Property", "value": "x", "expiresAt": "2030-01-01T00:00:00Z"}},
        owner={"type": "Relationship", "object": "urn:ngsi-ld:P:1",
               "expiresAt": "2030-01-01T00:00:00Z"}), CTX)
    live = without_expired(entity, at("2031-01-01T00:00:00+00:00"))
    assert live is not None
    assert [i["value"] for i in live["attrs"][SPEED]] == [2]
    assert "attrs" not in live["attrs"][NAME][0]
    assert set(live["attrs"]) == {SPEED, NAME}
    assert len(entity["attrs"][SPEED]) == 2  # the input is left as it was
