"""The /iot HTTP API: provisioning (devices, groups, CSV), who may provision, and the
FIWARE-compatible HTTP ingestion endpoints with signatures and replay protection."""

from __future__ import annotations

import time
from pathlib import Path

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.iot.http_api import may_provision_devices
from cityos.iot.signatures import sign
from cityos.security.principal import ANONYMOUS, DEVELOPER, Principal
from tests.iot.support import RIVER_GAUGE, entity, iot_app, iot_service, provision
from tests.postgres_support import fresh_schema

GAUGE = "urn:ngsi-ld:WaterObserved:gauge-1"


def test_http_ultralight_and_json_measurements(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        apikey = provision(client)["apikey"]
        response = client.post("/iot/d", params={"k": apikey, "i": "gauge-1"},
                               content=b"l|150|c|3")
        assert response.status_code == 200 and response.json() == {"measurements": 2}
        found = entity(client, GAUGE)
        assert found is not None
        assert (found["height"]["value"], found["count"]["value"]) == (1.5, 3)
        response = client.post("/iot/json", params={"k": apikey, "i": "gauge-1"},
                               json={"l": 90, "unknown": 1})
        assert response.status_code == 200 and response.json() == {"measurements": 1}
        assert entity(client, GAUGE)["height"]["value"] == 0.9  # type: ignore[index]
        assert "cityos_iot_readings_unmapped_total 1" in client.get("/metrics").text


def test_http_refusals_are_problem_details(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        apikey = provision(client)["apikey"]
        cases = [({"k": "wrong-key", "i": "gauge-1"}, b"l|1", 401),
                 ({"k": apikey, "i": "other"}, b"l|1", 401),
                 ({"k": apikey, "i": "gauge-1"}, b"l|abc", 400),
                 ({"k": apikey, "i": "gauge-1"}, b"\xff\x00", 400),
                 ({"k": apikey}, b"l|1", 400)]
        for params, body, status in cases:
            response = client.post("/iot/d", params=params, content=body)
            assert response.status_code == status, (params, body, response.text)
            assert response.json()["type"].endswith(
                "Unauthenticated" if status == 401 else "BadRequestData")
        metrics = client.get("/metrics").text
        assert 'cityos_iot_rejected_total{reason="deviceUnknown",transport="http"} 2' in metrics
        assert 'cityos_iot_rejected_total{reason="payloadMalformed",transport="http"} 2' \
            in metrics


def test_signed_http_measurements_with_header_and_replay(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        created = provision(client, signed=True, hmac=True)
        apikey, key = created["apikey"], created["hmac_key"].encode()
        params = {"k": apikey, "i": "gauge-1"}
        line = sign(key, "gauge-1", b"l|111", int(time.time()))
        assert client.post("/iot/d", params=params, content=b"l|111",
                           headers={"Cityos-Signature": line}).status_code == 200
        replay = client.post("/iot/d", params=params, content=b"l|111",
                             headers={"Cityos-Signature": line})
        assert replay.status_code == 401 and "payloadReplayed" in replay.json()["detail"]
        stale = sign(key, "gauge-1", b"l|5", int(time.time()) - 3600)
        assert client.post("/iot/d", params=params,
                           content=stale.encode() + b"\nl|5").status_code == 401
        unsigned = client.post("/iot/d", params=params, content=b"l|7")
        assert unsigned.status_code == 401 and "deviceSignatureInvalid" in unsigned.text
        assert entity(client, GAUGE)["height"]["value"] == 1.11  # type: ignore[index]


def test_groups_share_mapping_and_key(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        response = client.post("/iot/services", json={"services": [{
            "name": "counters", "entity_type": "CrowdFlowObserved", "apikey": True,
            "attributes": [{"object_id": "c", "name": "peopleCount", "type": "Integer"}],
            "purpose": "混雑把握", "operator": "加賀市"}]})
        assert response.status_code == 201
        group_key = response.json()["services"][0]["apikey"]
        created = provision(client, {"device_id": "hall-1", "group": "counters"})
        assert "apikey" not in created  # it shares the group's key
        assert created["attributes"][0]["name"] == "peopleCount"
        own = provision(client, {"device_id": "hall-2", "group": "counters", "apikey": True})
        for device, key in (("hall-1", group_key), ("hall-2", own["apikey"]),
                            ("hall-2", group_key)):
            assert client.post("/iot/d", params={"k": key, "i": device},
                               content=b"c|4").status_code == 200
        assert client.get("/iot/services").json()["count"] == 1
        assert client.delete("/iot/services/counters").status_code == 400  # devices left
        for device in ("hall-1", "hall-2"):
            assert client.delete(f"/iot/devices/{device}").status_code == 204
        assert client.delete("/iot/services/counters").status_code == 204


def test_devices_listed_read_removed_and_kept_across_restart(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite"
    with iot_app(database) as client:
        created = provision(client, hmac=True, signed=True)
        assert len(created["apikey"]) >= 20 and len(created["hmac_key"]) == 64
    with iot_app(database) as client:
        listed = client.get("/iot/devices").json()
        assert listed["count"] == 1
        device = client.get("/iot/devices/gauge-1").json()
        assert device["hmac"] is True and "apikey" not in device and "hmac_key" not in device
        line = sign(created["hmac_key"].encode(), "gauge-1", b"l|5", int(time.time()))
        assert client.post("/iot/d", params={"k": created["apikey"], "i": "gauge-1"},
                           content=line.encode() + b"\nl|5").status_code == 200
        assert client.get("/iot/devices/nope").status_code == 404
        assert client.delete("/iot/devices/gauge-1").status_code == 204
        assert client.get("/iot/devices").json()["count"] == 0
        assert client.get("/iot/devices/gauge-1").status_code == 404
    raw = database.read_bytes()
    assert created["apikey"].encode() not in raw and created["hmac_key"].encode() not in raw


def test_devices_and_ingestion_on_postgresql() -> None:
    with fresh_schema() as url:
        with iot_app(url, iot_secret_key="a passphrase for the tests") as client:
            created = provision(client, hmac=True)
            line = sign(created["hmac_key"].encode(), "gauge-1", b"l|42", int(time.time()))
            assert client.post("/iot/d", params={"k": created["apikey"], "i": "gauge-1"},
                               content=line.encode() + b"\nl|42").status_code == 200
        with iot_app(url, iot_secret_key="a passphrase for the tests") as client:
            assert entity(client, GAUGE)["height"]["value"] == 0.42  # type: ignore[index]
            line = sign(created["hmac_key"].encode(), "gauge-1", b"l|43", int(time.time()))
            assert client.post("/iot/d", params={"k": created["apikey"], "i": "gauge-1"},
                               content=line.encode() + b"\nl|43").status_code == 200
            assert client.get("/sensors.geojson").json()["features"][0]["id"] == "gauge-1"


def test_csv_import(tmp_path: Path) -> None:
    csv = ("device_id,entity_type,attributes,longitude,latitude,purpose,operator\n"
           "c1,CrowdFlowObserved,c:peopleCount:Integer:C62,136.3,36.3,混雑把握,加賀市\n"
           "g1,WaterObserved,l:height:Number:MTR:0.01,136.31,36.31,水位監視,加賀市\n"
           "bad,WaterObserved,,,,,\n")
    with iot_app(tmp_path / "db.sqlite") as client:
        response = client.post("/iot/devices/import", content=csv.encode(),
                               headers={"Content-Type": "text/csv"})
        assert response.status_code == 201
        body = response.json()
        assert [d["device_id"] for d in body["devices"]] == ["c1", "g1"]
        assert body["errors"][0]["line"] == 4
        assert entity(client, "urn:ngsi-ld:CrowdFlowObserved:c1") is not None


def test_invalid_provisioning_is_refused(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        for body in ({"devices": []}, {"devices": [{"device_id": "x"}]}, [1],
                     {"devices": [{**RIVER_GAUGE, "apikey": "short"}]},
                     {"devices": [{**RIVER_GAUGE, "group": "missing"}]},
                     {"devices": [{**RIVER_GAUGE, "signed": True}]}):
            response = client.post("/iot/devices", json=body)
            assert response.status_code == 400, (body, response.text)
        assert client.post("/iot/devices", content=b"{").status_code == 400
        mixed = client.post("/iot/devices", json={"devices": [
            {**RIVER_GAUGE, "device_id": "fine"}, {**RIVER_GAUGE, "apikey": "short"}]})
        assert mixed.status_code == 400  # the valid one was not provisioned either
        assert iot_service(client).directory.devices == {}


def test_who_may_provision(tmp_path: Path) -> None:
    assert may_provision_devices(DEVELOPER)
    assert not may_provision_devices(ANONYMOUS)
    assert may_provision_devices(Principal("client:iot", "client",
                                           roles=frozenset({"iot-admin"})))
    assert not may_provision_devices(Principal("user:a", "user",
                                               roles=frozenset({"iot-admin"})))
    assert not may_provision_devices(Principal("operator:b", "operator"))
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'db.sqlite'}"},
                             environ={})
    with TestClient(build_app(settings)) as client:
        assert client.post("/iot/devices", json={"devices": [RIVER_GAUGE]}).status_code == 401
        assert client.get("/iot/devices").status_code == 401
        # devices authenticate with their own keys: the ingestion endpoint stays open
        assert client.post("/iot/d", params={"k": "x" * 20, "i": "d"},
                           content=b"c|1").status_code == 401
        assert client.get("/sensors").status_code == 200  # the registry is public
