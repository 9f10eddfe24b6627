"""POST /entityOperations/query: the Query body (§5.2.23) as GET /entities parameters."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
QUERY = f"{API}/entityOperations/query"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def vehicle(suffix: str, speed: int, name: str, lon: float, **attrs: object
            ) -> dict[str, object]:
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:Vehicle:{suffix}", "type": "Vehicle",
        "speed": {"type": "Property", "value": speed},
        "name": {"type": "Property", "value": name},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [lon, 36.3]}},
    }
    body.update(attrs)
    return body


@pytest.fixture
def fleet(client: TestClient) -> TestClient:
    garage = {"id": "urn:ngsi-ld:Garage:1", "type": "Garage",
              "name": {"type": "Property", "value": "Daishoji"}}
    for body in (vehicle("A", 80, "Zebra", 136.30,
                         parkedIn={"type": "Relationship", "object": garage["id"]}),
                 vehicle("B", 120, "Ähre", 136.40), garage):
        assert client.post(f"{API}/entities", json=body).status_code == 201
    return client


def query(client: TestClient, **members: object) -> list[dict[str, object]]:
    response = client.post(QUERY, json={"type": "Query", **members})
    assert response.status_code == 200, response.text
    result: list[dict[str, object]] = response.json()
    return result


def ids(entities: list[dict[str, object]]) -> list[str]:
    return [str(e["id"]).rsplit(":", 1)[-1] for e in entities]


def test_pick_and_omit_project_like_the_parameters(fleet: TestClient) -> None:
    picked = query(fleet, entities=[{"type": "Vehicle"}], pick=["id", "speed"])
    assert all(set(e) == {"id", "speed"} for e in picked)
    omitted = query(fleet, entities=[{"type": "Vehicle"}], omit=["speed"])
    assert omitted and all("speed" not in e and "name" in e for e in omitted)
    attrs = query(fleet, entities=[{"type": "Vehicle"}], attrs="speed")
    assert all("name" not in e for e in attrs)


def test_selector_ids_flatten_and_take_precedence(fleet: TestClient) -> None:
    both = query(fleet, entities=[{"type": "Vehicle", "id": ["urn:ngsi-ld:Vehicle:A",
                                                             "urn:ngsi-ld:Vehicle:B"]}])
    assert sorted(ids(both)) == ["A", "B"]
    only_a = query(fleet, entities=[{"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:A",
                                     "idPattern": ".*:B$"}])
    assert ids(only_a) == ["A"]
    only_b = query(fleet, entities=[{"type": "Vehicle", "idPattern": ".*:B$"}])
    assert ids(only_b) == ["B"]
    either = query(fleet, entities=[{"type": "Vehicle"}, {"type": "Garage"}])
    assert sorted(ids(either)) == ["1", "A", "B"]


def test_join_in_the_body_inlines_linked_entities(fleet: TestClient) -> None:
    [joined] = query(fleet, entities=[{"type": "Vehicle", "id": "urn:ngsi-ld:Vehicle:A"}],
                     join="inline", joinLevel=1)
    relationship = joined["parkedIn"]
    assert isinstance(relationship, dict)
    assert relationship["entity"]["id"] == "urn:ngsi-ld:Garage:1"


def test_ordering_member(fleet: TestClient) -> None:
    vehicles = [{"type": "Vehicle"}]
    nearest = query(fleet, entities=vehicles, ordering={
        "orderBy": ["location;dist-asc"], "coordinates": [136.41, 36.3], "geometry": "Point"})
    assert ids(nearest) == ["B", "A"]
    by_speed = query(fleet, entities=vehicles, ordering={"orderBy": "speed;desc"})
    assert ids(by_speed) == ["B", "A"]
    by_name = query(fleet, entities=vehicles,
                    ordering={"orderBy": ["name;asc"], "collation": "de"})
    assert ids(by_name) == ["B", "A"]


@pytest.mark.parametrize("members", [
    {"entities": []},
    {"entities": "Vehicle"},
    {"entities": [{"id": "urn:ngsi-ld:Vehicle:A"}]},
    {"entities": [{"type": 5}]},
    {"entities": [{"type": "Vehicle", "id": ["urn:ngsi-ld:Vehicle:A", 5]}]},
    {"entities": [{"type": "Vehicle", "id": "not a uri"}]},
    {"entities": [{"type": "Vehicle", "idPattern": 3}]},
    {"q": 42},
    {"scopeQ": ["/Kaga"]},
    {"lang": 1},
    {"csf": {}},
    {"attrs": []},
    {"pick": [1]},
    {"omit": {}},
    {"join": "inline", "joinLevel": 0},
    {"join": "inline", "joinLevel": "1"},
    {"join": "inline", "joinLevel": True},
    {"join": "sideways"},
    {"local": "yes"},
    {"temporalQ": {"timerel": "after", "timeAt": "2020-01-01T00:00:00Z"}},
    {"geoQ": "near"},
    {"geoQ": {"georel": 1, "geometry": "Point", "coordinates": [136.3, 36.3]}},
    {"geoQ": {"georel": "near;maxDistance==10", "geometry": "Point", "coordinates": 5}},
    {"ordering": ["speed"]},
    {"ordering": {"orderBy": ["location;dist-asc"]}},
    {"ordering": {"orderBy": ["location;dist-asc"], "coordinates": "136.3,36.3"}},
    {"ordering": {"orderBy": ["id;asc"], "geometry": 5}},
    {"ordering": {"orderBy": ["id;asc"], "collation": "not a bcp47 tag!!"}},
])
def test_invalid_query_bodies_are_bad_request_data(fleet: TestClient,
                                                    members: dict[str, object]) -> None:
    body = {"type": "Query", "entities": [{"type": "Vehicle"}], **members}
    response = fleet.post(QUERY, json=body)
    assert response.status_code == 400, response.text
    assert response.json()["type"] in (ERR + "BadRequestData", ERR + "InvalidRequest")


def test_body_without_entities_still_needs_no_filter(fleet: TestClient) -> None:
    assert sorted(ids(query(fleet))) == ["1", "A", "B"]
    assert ids(query(fleet, q="speed>100")) == ["B"]
