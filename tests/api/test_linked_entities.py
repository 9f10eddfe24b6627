"""Linked entity retrieval (join=inline|flat) with projections on the linked entities."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"


def _seed(client: TestClient) -> None:
    client.post(f"{API}/entities", json={
        "id": "urn:ngsi-ld:City:Kaga", "type": "City",
        "name": {"type": "Property", "value": "加賀市"},
        "population": {"type": "Property", "value": 63000}})
    client.post(f"{API}/entities", json={
        "id": "urn:ngsi-ld:Shelter:1", "type": "Shelter",
        "name": {"type": "Property", "value": "錦城小学校"},
        "locatedIn": {"type": "Relationship", "object": "urn:ngsi-ld:City:Kaga"}})


def test_inline_join_embeds_the_linked_entity(client: TestClient) -> None:
    _seed(client)
    body = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:1",
                      params={"join": "inline"}).json()
    assert body["locatedIn"]["entity"]["name"]["value"] == "加賀市"
    simple = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:1",
                        params={"join": "inline", "options": "keyValues"}).json()
    assert simple["locatedIn"]["population"] == 63000


def test_flat_join_with_projection_of_the_linked_entity(client: TestClient) -> None:
    _seed(client)
    body = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:1", params={
        "join": "flat", "pick": "id,locatedIn{id,name}"}).json()
    assert body == [
        {"id": "urn:ngsi-ld:Shelter:1",
         "locatedIn": {"type": "Relationship", "object": "urn:ngsi-ld:City:Kaga"}},
        {"id": "urn:ngsi-ld:City:Kaga", "name": {"type": "Property", "value": "加賀市"}}]


def test_projection_of_linked_entities_needs_join(client: TestClient) -> None:
    _seed(client)
    response = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:1",
                          params={"pick": "locatedIn{name}"})
    assert response.status_code == 400
