"""Provisioned devices as Smart Data Models `Device` entities: the entity follows the
record (create, re-provision, last value reported, delete, created at start for older
records), is read through the NGSI-LD API under the platform's authorization, and never
carries a credential."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.testclient import TestClient

from cityos.iot.device_entity import device_entity, shares_fed_entity
from cityos.iot.model import parse_device
from tests.iot.support import RIVER_GAUGE, entity, iot_app, iot_service, provision
from tests.postgres_support import fresh_schema
from tests.security_support import API, secure_city

DEVICE_ENTITY = "urn:ngsi-ld:Device:gauge-1"
GAUGE = "urn:ngsi-ld:WaterObserved:gauge-1"


def flush(client: TestClient) -> None:
    client.portal.call(iot_service(client).directory.flush_last_seen)  # type: ignore[union-attr]


def assert_no_credentials(text: str, created: dict[str, Any]) -> None:
    for secret in (created.get("apikey"), created.get("hmac_key")):
        if secret:
            assert secret not in text
    assert "apikey" not in text and "hmac" not in text.lower()


def test_the_entity_describes_the_device_from_its_record() -> None:
    device = parse_device({**RIVER_GAUGE, "installed_on": "2026-04-01",
                           "transport": "HTTP"}, "kaga", None, "2026-11-26T00:00:00Z")
    body = device_entity(device, "2026-11-26T09:00:00.000000Z")
    assert body["id"] == DEVICE_ENTITY and body["type"] == "Device"
    assert body["controlledProperty"]["value"] == ["count", "height"]
    assert body["controlledAsset"] == {"type": "Relationship", "object": GAUGE}
    assert body["category"]["value"] == ["sensor"]
    assert body["supportedProtocol"]["value"] == ["http"]
    assert body["owner"]["value"] == ["加賀市"]
    assert body["description"]["value"] == "大聖寺川の水位監視"
    assert body["location"]["value"]["coordinates"] == [136.31, 36.305]
    assert body["dateInstalled"]["value"]["@value"] == "2026-04-01T00:00:00Z"
    assert body["dateLastValueReported"]["value"] == {
        "@type": "DateTime", "@value": "2026-11-26T09:00:00.000000Z"}
    bare = device_entity(parse_device({"device_id": "x", "entity_type": "T",
                                       "attributes": [{"name": "a"}],
                                       "installed_on": "2026-02-31"}, "", None, ""))
    assert set(bare) == {"id", "type", "name", "category", "controlledProperty",
                         "controlledAsset", "supportedProtocol"}  # impossible date left out
    assert not shares_fed_entity(device)


def test_device_entity_follows_provisioning_and_removal(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        created = provision(client, hmac=True, signed=False)
        response = client.get(f"{API}/entities/{DEVICE_ENTITY}")
        assert response.status_code == 200, response.text
        found = response.json()
        assert found["controlledProperty"]["value"] == ["count", "height"]
        assert found["controlledAsset"]["object"] == GAUGE
        assert found["location"]["value"]["coordinates"] == [136.31, 36.305]
        assert "dateLastValueReported" not in found
        assert_no_credentials(response.text, created)
        listed = client.get(f"{API}/entities", params={"type": "Device"})
        assert [e["id"] for e in listed.json()] == [DEVICE_ENTITY]

        # a reading, then the periodic flush: dateLastValueReported follows last_seen
        assert client.post("/iot/d", params={"k": created["apikey"], "i": "gauge-1"},
                           content=b"l|150").status_code == 200
        flush(client)
        seen = iot_service(client).directory.last_seen["gauge-1"]
        reported = entity(client, DEVICE_ENTITY)["dateLastValueReported"]  # type: ignore[index]
        assert reported["value"] == {"@type": "DateTime", "@value": seen}

        # it moves again once it is five minutes behind, not at every reading
        directory = iot_service(client).directory
        for later, moves in (("2099-01-01T00:00:00.000000Z", True),
                             ("2099-01-01T00:04:59.000000Z", False),
                             ("2099-01-01T00:05:00.000000Z", True)):
            directory.last_seen["gauge-1"] = later
            flush(client)
            reported = entity(client, DEVICE_ENTITY)["dateLastValueReported"]  # type: ignore[index]
            assert (reported["value"]["@value"] == later) is moves, later
        seen = "2099-01-01T00:05:00.000000Z"

        # re-provisioned without a location, another operator: the entity says the same
        provision(client, {**{k: v for k, v in RIVER_GAUGE.items() if k != "location"},
                           "operator": "石川県"})
        found = entity(client, DEVICE_ENTITY)
        assert found is not None and "location" not in found
        assert found["owner"]["value"] == ["石川県"]
        assert found["dateLastValueReported"]["value"]["@value"] == seen

        assert client.delete("/iot/devices/gauge-1").status_code in (200, 204)
        assert client.get(f"{API}/entities/{DEVICE_ENTITY}").status_code == 404
        assert entity(client, GAUGE) is not None  # the fed entity and its data stay


def test_older_devices_get_their_entity_at_start(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    with iot_app(database) as client:
        provision(client)
        assert client.delete(f"{API}/entities/{DEVICE_ENTITY}").status_code == 204
    with iot_app(database) as client:  # as after an upgrade: record without entity
        found = entity(client, DEVICE_ENTITY)
        assert found is not None and found["controlledAsset"]["object"] == GAUGE
        modified = client.get(f"{API}/entities/{DEVICE_ENTITY}",
                              params={"options": "sysAttrs"}).json()["modifiedAt"]
    with iot_app(database) as client:  # an entity that exists is left alone
        again = client.get(f"{API}/entities/{DEVICE_ENTITY}", params={"options": "sysAttrs"})
        assert again.json()["modifiedAt"] == modified


def test_a_device_feeding_its_own_device_entity(tmp_path: Path) -> None:
    own = {"device_id": "meter-1", "entity_type": "Device",
           "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}]}
    with iot_app(tmp_path / "db.sqlite") as client:
        created = provision(client, own)
        assert client.post("/iot/d", params={"k": created["apikey"], "i": "meter-1"},
                           content=b"c|4").status_code == 200
        provision(client, own)  # re-provisioning keeps the measurements
        found = entity(client, "urn:ngsi-ld:Device:meter-1")
        assert found is not None and found["count"]["value"] == 4
        assert found["controlledProperty"]["value"] == ["count"]
        assert client.delete("/iot/devices/meter-1").status_code in (200, 204)
        assert entity(client, "urn:ngsi-ld:Device:meter-1") is not None  # data stays


def test_device_entities_are_read_under_the_platform_authorization(tmp_path: Path) -> None:
    with secure_city(f"sqlite:///{tmp_path / 'db.sqlite'}") as city:
        client = city.client
        installer = city.key("iot-admin")
        response = client.post("/iot/devices", json={"devices": [RIVER_GAUGE]},
                               headers=city.auth(installer))
        assert response.status_code == 201, response.text
        created = response.json()["devices"][0]
        city.grant(audience="role:device-reader", operations=["read"], entityType="Device")
        reader, stranger = city.key("device-reader"), city.key("someone")

        # without a grant the entity reads as absent, as any unreadable entity does
        assert client.get(f"{API}/entities/{DEVICE_ENTITY}").status_code == 404
        assert client.get(f"{API}/entities/{DEVICE_ENTITY}",
                          headers=city.auth(stranger)).status_code == 404
        allowed = client.get(f"{API}/entities/{DEVICE_ENTITY}", headers=city.auth(reader))
        assert allowed.status_code == 200, allowed.text
        assert allowed.json()["controlledAsset"]["object"] == GAUGE
        assert_no_credentials(allowed.text, created)
        # the grant names Device only: the fed entity stays out of the reader's reach
        assert client.get(f"{API}/entities/{GAUGE}",
                          headers=city.auth(reader)).status_code == 404


def test_device_entities_on_postgresql() -> None:
    with fresh_schema() as url, iot_app(url) as client:
        created = provision(client)
        assert client.post("/iot/d", params={"k": created["apikey"], "i": "gauge-1"},
                           content=b"l|99").status_code == 200
        flush(client)
        found = entity(client, DEVICE_ENTITY)
        assert found is not None and found["controlledAsset"]["object"] == GAUGE
        assert found["dateLastValueReported"]["value"]["@value"] == \
            iot_service(client).directory.last_seen["gauge-1"]
        history = client.get(f"{API}/temporal/entities/{DEVICE_ENTITY}", params={
            "attrs": "dateLastValueReported", "timeproperty": "modifiedAt",
            "timerel": "after", "timeAt": "2000-01-01T00:00:00Z"})
        assert history.status_code == 200, history.text
        [reported] = history.json()["dateLastValueReported"]  # one move, one history row
        assert reported["value"] == found["dateLastValueReported"]["value"]
        assert client.delete("/iot/devices/gauge-1").status_code in (200, 204)
        assert entity(client, DEVICE_ENTITY) is None
