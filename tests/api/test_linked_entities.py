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


def test_the_queried_entities_projection_is_not_the_linked_ones(client: TestClient) -> None:
    """omit/pick without `rel{…}` project the entities queried; a linked entity comes
    whole (inline and flat alike)."""
    _seed(client)
    shelter = f"{API}/entities/urn:ngsi-ld:Shelter:1"
    inline = client.get(shelter, params={"join": "inline", "omit": "name"}).json()
    assert "name" not in inline
    assert inline["locatedIn"]["entity"]["name"]["value"] == "加賀市"
    flat = client.get(shelter, params={"join": "flat", "omit": "name"}).json()
    assert [e["id"] for e in flat] == ["urn:ngsi-ld:Shelter:1", "urn:ngsi-ld:City:Kaga"]
    assert "name" not in flat[0] and flat[1]["name"]["value"] == "加賀市"
    omitted = client.get(shelter, params={"join": "flat", "omit": "name,locatedIn{name}"})
    assert set(omitted.json()[1]) == {"id", "type", "population"}


def test_flat_join_follows_only_the_relationships_shown(client: TestClient) -> None:
    """A Relationship projected away links nothing: no linked entity is listed."""
    _seed(client)
    body = client.get(f"{API}/entities", params={
        "type": "Shelter", "join": "flat", "pick": "id,name"}).json()
    assert body == [{"id": "urn:ngsi-ld:Shelter:1",
                     "name": {"type": "Property", "value": "錦城小学校"}}]
    single = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:1",
                        params={"join": "flat", "omit": "locatedIn"}).json()
    assert single["id"] == "urn:ngsi-ld:Shelter:1"  # one entity: not a list
    client.post(f"{API}/entities", json={
        "id": "urn:ngsi-ld:Country:Japan", "type": "Country",
        "name": {"type": "Property", "value": "日本"}})
    client.post(f"{API}/entities/urn:ngsi-ld:City:Kaga/attrs", json={
        "inCountry": {"type": "Relationship", "object": "urn:ngsi-ld:Country:Japan"}})
    two = client.get(f"{API}/entities", params={
        "type": "Shelter", "join": "flat", "joinLevel": "2",
        "pick": "id,locatedIn{id,name}"}).json()
    assert [e["id"] for e in two] == ["urn:ngsi-ld:Shelter:1", "urn:ngsi-ld:City:Kaga"]
    deeper = client.get(f"{API}/entities", params={
        "type": "Shelter", "join": "flat", "joinLevel": "2",
        "pick": "id,locatedIn{id,inCountry{name}}"}).json()
    assert deeper[-1] == {"name": {"type": "Property", "value": "日本"}}
