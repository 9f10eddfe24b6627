"""Provisioning JSON (FIWARE shapes plus registry fields) and CSV rows."""

from __future__ import annotations

import pytest

from cityos.iot.csv_import import read_devices
from cityos.iot.model import device_from_json, parse_device, parse_group
from cityos.ngsild.errors import BadRequestData

GROUP = {"name": "river-levels", "entity_type": "WaterObserved",
         "attributes": [{"object_id": "l", "name": "height", "unitCode": "MTR", "scale": 0.01}],
         "purpose": "水位の監視", "operator": "加賀市", "installed_on": "2026-04-01"}


def test_device_inherits_from_its_group_and_round_trips() -> None:
    group = parse_group(GROUP, "kaga")
    device = parse_device({"device_id": "g1", "group": "river-levels",
                           "location": {"type": "Point", "coordinates": [136.31, 36.30]},
                           "operator": "石川県"}, "kaga", group, "2026-11-26T00:00:00Z")
    assert device.entity_id == "urn:ngsi-ld:WaterObserved:g1"
    assert device.attributes == group.attributes
    assert (device.registry.purpose, device.registry.operator) == ("水位の監視", "石川県")
    assert device.location == (136.31, 36.30)
    assert device_from_json(device.as_json()) == device


@pytest.mark.parametrize("body", [
    {"device_id": "a/b", "entity_type": "T", "attributes": [{"name": "x"}]},
    {"device_id": "d", "attributes": [{"name": "x"}]},
    {"device_id": "d", "entity_type": "T"},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "type"}]},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x", "type": "Date"}]},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x"}, {"name": "x"}]},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x"}], "transport": "CoAP"},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x"}],
     "location": {"type": "Point", "coordinates": [200, 0]}},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x"}],
     "installed_on": "April"},
    {"device_id": "d", "entity_type": "T", "attributes": [{"name": "x"}],
     "entity_name": "not a uri"},
])
def test_invalid_devices_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(BadRequestData):
        parse_device(body, "", None, "2026-11-26T00:00:00Z")


def test_csv_rows_become_devices_and_bad_rows_are_reported() -> None:
    text = ("\ufeffdevice_id,entity_type,attributes,longitude,latitude,purpose,personal_data\n"
            "c1,CrowdFlowObserved,c:peopleCount:Integer:C62,136.3,36.3,混雑把握,no\n"
            "g1,WaterObserved,l:height:Number:MTR:0.01,,,水位,\n"
            "bad,WaterObserved,l:height,,,,\n")
    rows = read_devices(text)
    assert rows[0] == (2, {"device_id": "c1", "entity_type": "CrowdFlowObserved",
                           "attributes": [{"object_id": "c", "name": "peopleCount",
                                           "type": "Integer", "unitCode": "C62"}],
                           "purpose": "混雑把握", "personal_data": False,
                           "location": {"type": "Point", "coordinates": [136.3, 36.3]}})
    assert rows[1][1]["attributes"][0]["scale"] == 0.01  # type: ignore[index]
    assert rows[2][0] == 4 and isinstance(rows[2][1], BadRequestData)


def test_csv_needs_a_header_with_device_id() -> None:
    with pytest.raises(BadRequestData):
        read_devices("a,b\n1,2\n")
