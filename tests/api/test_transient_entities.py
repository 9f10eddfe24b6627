"""Transient entities and attributes over HTTP (NGSI-LD V1.9.1 §4.22, §6.3.11)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from starlette.testclient import TestClient

ENTITIES = "/ngsi-ld/v1/entities"
JSON = {"Content-Type": "application/json"}


def soon(seconds: float) -> str:
    moment = datetime.now(UTC) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def create(client: TestClient, entity_id: str, **attrs: object) -> None:
    body = {"id": entity_id, "type": "Vehicle", **attrs}
    response = client.post(ENTITIES, json=body, headers=JSON)
    assert response.status_code == 201, response.text


def test_expires_at_is_a_system_member_shown_only_with_sys_attrs(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:t1", expiresAt="2100-01-01T00:00:00Z",
           speed={"type": "Property", "value": 7, "expiresAt": "2100-01-01T00:00:00Z"})
    plain = client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:t1")
    assert "expiresAt" not in plain.text
    full = client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:t1",
                      params={"options": "sysAttrs"}).json()
    assert full["expiresAt"] == "2100-01-01T00:00:00Z"
    assert full["speed"]["expiresAt"] == "2100-01-01T00:00:00Z"


def test_malformed_expiry_is_bad_request_data(client: TestClient) -> None:
    for body in ({"id": "urn:ngsi-ld:Vehicle:b", "type": "Vehicle", "expiresAt": "soon"},
                 {"id": "urn:ngsi-ld:Vehicle:b", "type": "Vehicle",
                  "speed": {"type": "Property", "value": 1, "expiresAt": 12}}):
        response = client.post(ENTITIES, json=body, headers=JSON)
        assert response.status_code == 400
        assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


def test_an_entity_created_already_expired_is_never_served(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:past", expiresAt="2020-01-01T00:00:00Z")
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:past").status_code == 404
    listed = client.get(ENTITIES, params={"type": "Vehicle"}).json()
    assert "urn:ngsi-ld:Vehicle:past" not in [e["id"] for e in listed]
    # Updating what has expired is updating nothing.
    patch = client.patch(f"{ENTITIES}/urn:ngsi-ld:Vehicle:past/attrs",
                         json={"speed": {"type": "Property", "value": 1}}, headers=JSON)
    assert patch.status_code == 404


def test_expiry_set_later_by_merge_takes_effect(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:m", speed={"type": "Property", "value": 1})
    merged = client.patch(f"{ENTITIES}/urn:ngsi-ld:Vehicle:m",
                          json={"expiresAt": "2020-01-01T00:00:00Z"}, headers=JSON)
    assert merged.status_code == 204, merged.text
    assert client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:m").status_code == 404


def test_expired_attribute_instances_vanish_and_durable_ones_stay(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:a",
           speed=[{"type": "Property", "value": 1, "expiresAt": "2020-01-01T00:00:00Z"},
                  {"type": "Property", "value": 2, "datasetId": "urn:ngsi-ld:d:durable"}],
           owner={"type": "Relationship", "object": "urn:ngsi-ld:P:1",
                  "expiresAt": "2020-01-01T00:00:00Z"})
    entity = client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:a").json()
    assert "owner" not in entity
    assert entity["speed"]["value"] == 2


def test_whole_attribute_update_clears_expiry_partial_update_keeps_it(
        client: TestClient) -> None:
    expiry = soon(1.5)
    create(client, "urn:ngsi-ld:Vehicle:u",
           a={"type": "Property", "value": 1, "expiresAt": expiry},
           b={"type": "Property", "value": 1, "expiresAt": expiry})
    url = f"{ENTITIES}/urn:ngsi-ld:Vehicle:u"
    assert client.patch(f"{url}/attrs", json={"a": {"type": "Property", "value": 2}},
                        headers=JSON).status_code == 204
    assert client.patch(f"{url}/attrs/b", json={"value": 2}, headers=JSON).status_code == 204
    time.sleep(2)
    entity = client.get(url).json()
    assert entity["a"]["value"] == 2
    assert "b" not in entity


def test_the_sweeper_reaps_expired_entities_from_storage(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:reap", expiresAt=soon(0.5))
    create(client, "urn:ngsi-ld:Vehicle:durable")
    params = {"type": "Vehicle", "count": "true"}
    assert client.get(ENTITIES, params=params).headers["NGSILD-Results-Count"] == "2"
    deadline = time.monotonic() + 10
    while client.get(ENTITIES, params=params).headers["NGSILD-Results-Count"] != "1":
        assert time.monotonic() < deadline, "the expired entity was never swept"
        time.sleep(0.2)
    again = client.post(ENTITIES, json={"id": "urn:ngsi-ld:Vehicle:reap", "type": "Vehicle"},
                        headers=JSON)
    assert again.status_code == 201
    assert "expiresAt" not in client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:reap",
                                         params={"options": "sysAttrs"}).json()


def test_an_ngsi_ld_null_expiry_makes_the_entity_durable_again(client: TestClient) -> None:
    create(client, "urn:ngsi-ld:Vehicle:n", expiresAt=soon(1.0))
    merged = client.patch(f"{ENTITIES}/urn:ngsi-ld:Vehicle:n",
                          json={"expiresAt": "urn:ngsi-ld:null"}, headers=JSON)
    assert merged.status_code == 204, merged.text
    time.sleep(1.5)
    entity = client.get(f"{ENTITIES}/urn:ngsi-ld:Vehicle:n", params={"options": "sysAttrs"})
    assert entity.status_code == 200
    assert "expiresAt" not in entity.json()
