"""DELETE /entities (purge): narrowed by a qualifying filter, with keep / drop."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"


def _seed(client: TestClient) -> None:
    for n in range(5):
        kind = "Shelter" if n < 3 else "Park"
        client.post(f"{API}/entities", json={
            "id": f"urn:ngsi-ld:{kind}:{n}", "type": kind,
            "count": {"type": "Property", "value": n},
            "name": {"type": "Property", "value": f"n{n}"}})


def test_purge_by_type_deletes_only_that_type(client: TestClient) -> None:
    _seed(client)
    assert client.delete(f"{API}/entities", params={"type": "Shelter"}).status_code == 204
    left = client.get(f"{API}/entities", params={"type": "Shelter,Park", "count": "true"})
    assert left.headers["ngsild-results-count"] == "2"


def test_purge_needs_a_qualifying_filter(client: TestClient) -> None:
    _seed(client)
    for params in ({}, {"idPattern": ".*"}, {"id": "urn:ngsi-ld:Shelter:0"},
                   {"q": 'modifiedAt>"2020-01-01T00:00:00Z"'}):
        response = client.delete(f"{API}/entities", params=params)
        assert response.status_code == 400, params
    count = client.get(f"{API}/entities", params={"type": "Shelter,Park", "count": "true"})
    assert count.headers["ngsild-results-count"] == "5"


def test_purge_drop_and_keep_attributes(client: TestClient) -> None:
    _seed(client)
    client.delete(f"{API}/entities", params={"type": "Shelter", "drop": "name"})
    shelter = client.get(f"{API}/entities/urn:ngsi-ld:Shelter:0").json()
    assert "name" not in shelter and "count" in shelter
    client.delete(f"{API}/entities", params={"type": "Park", "keep": "name"})
    park = client.get(f"{API}/entities/urn:ngsi-ld:Park:3").json()
    assert "name" in park and "count" not in park
    both = client.delete(f"{API}/entities", params={"type": "Park", "keep": "a", "drop": "b"})
    assert both.status_code == 400
