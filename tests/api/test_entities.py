"""End-to-end behaviour of /ngsi-ld/v1/entities over the real ASGI app and SQLite."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
CORE = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def shelter(n: int = 1, **attrs: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:EvacuationShelter:{n:03d}",
        "type": "EvacuationShelter",
        "name": {"type": "Property", "value": f"加賀市立 避難所 {n}"},
        "evacueeCount": {"type": "Property", "value": 10 * n, "observedAt":
                         "2026-11-26T03:00:00Z"},
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [136.3147 + n / 1000, 36.3028]}},
    }
    body.update(attrs)
    return body


def test_create_then_retrieve_normalized(client: TestClient) -> None:
    response = client.post(f"{API}/entities", json=shelter())
    assert response.status_code == 201
    assert response.headers["location"] == f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    got = client.get(f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001")
    assert got.status_code == 200
    assert got.headers["content-type"].startswith("application/json")
    assert CORE in got.headers["link"]
    body = got.json()
    assert body["type"] == "EvacuationShelter"
    assert body["evacueeCount"] == {"type": "Property", "value": 10,
                                    "observedAt": "2026-11-26T03:00:00Z"}
    assert body["location"]["value"]["type"] == "Point"


def test_create_twice_is_conflict(client: TestClient) -> None:
    assert client.post(f"{API}/entities", json=shelter()).status_code == 201
    again = client.post(f"{API}/entities", json=shelter())
    assert again.status_code == 409
    assert again.json()["type"] == ERR + "AlreadyExists"


def test_bad_inputs_are_problem_details_not_500(client: TestClient) -> None:
    cases = [
        (b"{not json", "InvalidRequest"),
        (b'{"id": "not a uri", "type": "T"}', "BadRequestData"),
        (b'{"id": "urn:a:b"}', "BadRequestData"),
        (b'{"id": "urn:a:b", "type": "T", "x": {"type": "Property"}}', "BadRequestData"),
        (b'{"id": "urn:a:b", "type": "T", "location": {"type": "GeoProperty", '
         b'"value": {"type": "Point", "coordinates": [500, 1]}}}', "BadRequestData"),
        (b"[" * 5000 + b"]" * 5000, "InvalidRequest"),
    ]
    for raw, error_type in cases:
        response = client.post(f"{API}/entities", content=raw,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 400, raw[:60]
        assert response.json()["type"] == ERR + error_type, raw[:60]


def test_unsupported_content_type_and_accept(client: TestClient) -> None:
    response = client.post(f"{API}/entities", content=b"{}",
                           headers={"Content-Type": "text/plain"})
    assert response.status_code == 415
    client.post(f"{API}/entities", json=shelter())
    response = client.get(f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001",
                          headers={"Accept": "text/html"})
    assert response.status_code == 406


def test_oversize_body_is_413(client: TestClient) -> None:
    big = {"id": "urn:a:b", "type": "T", "blob": {"type": "Property", "value": "x" * 2_000_000}}
    response = client.post(f"{API}/entities", json=big)
    assert response.status_code == 413


def test_query_by_type_and_q_with_count(client: TestClient) -> None:
    for n in range(1, 6):
        client.post(f"{API}/entities", json=shelter(n))
    response = client.get(f"{API}/entities", params={"type": "EvacuationShelter",
                                                     "q": "evacueeCount>=30", "count": "true"})
    assert response.status_code == 200
    assert response.headers["ngsild-results-count"] == "3"
    assert sorted(e["id"][-3:] for e in response.json()) == ["003", "004", "005"]


def test_key_values_and_concise(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter())
    url = f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    simple = client.get(url, params={"options": "keyValues"}).json()
    assert simple["evacueeCount"] == 10
    assert simple["location"] == {"type": "Point", "coordinates": [136.3157, 36.3028]}
    concise = client.get(url, params={"format": "concise"}).json()
    assert concise["name"] == "加賀市立 避難所 1"
    assert concise["evacueeCount"] == {"value": 10, "observedAt": "2026-11-26T03:00:00Z"}


def test_geo_near_query(client: TestClient) -> None:
    for n in range(1, 6):  # about 90 m apart along the parallel
        client.post(f"{API}/entities", json=shelter(n))
    response = client.get(f"{API}/entities", params={
        "type": "EvacuationShelter", "georel": "near;maxDistance==200", "geometry": "Point",
        "coordinates": "[136.3167,36.3028]"})
    assert response.status_code == 200
    found = [e["id"][-3:] for e in response.json()]  # 002 at 0 m, 001/003 ~90 m, 004 ~180 m
    assert found[0] == "002" and found[-1] == "004"
    assert set(found) == {"001", "002", "003", "004"}


def test_update_merge_and_delete_attribute(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter())
    url = f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    patch = client.patch(f"{url}/attrs", json={"evacueeCount": {"type": "Property", "value": 85},
                                               "missing": {"type": "Property", "value": 1}})
    assert patch.status_code == 204  # §5.6.2: attributes not there yet are added
    body = client.get(url).json()
    assert body["evacueeCount"]["value"] == 85 and body["missing"]["value"] == 1
    no_overwrite = client.post(f"{url}/attrs", params={"options": "noOverwrite"},
                               json={"evacueeCount": {"type": "Property", "value": 1}})
    assert no_overwrite.status_code == 207
    assert no_overwrite.json()["notUpdated"][0]["attributeName"] == \
        "https://uri.etsi.org/ngsi-ld/default-context/evacueeCount"
    assert client.get(url).json()["evacueeCount"]["value"] == 85
    merge = client.patch(url, json={"status": {"type": "Property", "value": "open"},
                                    "name": "urn:ngsi-ld:null"})
    assert merge.status_code == 204
    body = client.get(url).json()
    assert body["status"]["value"] == "open" and "name" not in body
    assert client.delete(f"{url}/attrs/status").status_code == 204
    assert client.delete(f"{url}/attrs/status").status_code == 404
    assert client.delete(url).status_code == 204
    assert client.get(url).status_code == 404


def test_sys_attrs_and_modified_at_moves(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter())
    url = f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    first = client.get(url, params={"options": "sysAttrs"}).json()
    client.patch(f"{url}/attrs/evacueeCount", json={"value": 11})
    second = client.get(url, params={"options": "sysAttrs"}).json()
    assert second["createdAt"] == first["createdAt"]
    assert second["modifiedAt"] > first["modifiedAt"]
    assert second["evacueeCount"]["createdAt"] == first["evacueeCount"]["createdAt"]
    assert second["evacueeCount"]["value"] == 11


def test_tenants_are_isolated(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter(), headers={"NGSILD-Tenant": "kaga"})
    other = {"NGSILD-Tenant": "other"}
    client.post(f"{API}/entities", json=shelter(2), headers=other)
    url = f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    assert client.get(url, headers={"NGSILD-Tenant": "kaga"}).status_code == 200
    assert client.get(url, headers=other).status_code == 404
    assert client.get(url).status_code == 404
    listed = client.get(f"{API}/entities", params={"type": "EvacuationShelter",
                                                   "count": "true"}, headers=other)
    assert listed.headers["ngsild-results-count"] == "1"
    assert client.get(f"{API}/types", headers={"NGSILD-Tenant": "nobody"}).status_code == 404


def test_batch_create_reports_each_failure(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter(1))
    response = client.post(f"{API}/entityOperations/create",
                           json=[shelter(1), shelter(2), {"id": "bad id", "type": "T"}])
    assert response.status_code == 207
    body = response.json()
    assert body["success"] == ["urn:ngsi-ld:EvacuationShelter:002"]
    assert {e["error"]["type"] for e in body["errors"]} == {ERR + "AlreadyExists",
                                                            ERR + "BadRequestData"}


def test_batch_upsert_creates_then_updates(client: TestClient) -> None:
    first = client.post(f"{API}/entityOperations/upsert", json=[shelter(1), shelter(2)])
    assert first.status_code == 201
    second = client.post(f"{API}/entityOperations/upsert",
                         json=[shelter(1, evacueeCount={"type": "Property", "value": 99})],
                         params={"options": "update"})
    assert second.status_code == 204
    got = client.get(f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001").json()
    assert got["evacueeCount"]["value"] == 99 and "name" in got


def test_types_and_attributes_discovery(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter())
    types = client.get(f"{API}/types").json()
    assert types["typeList"] == ["EvacuationShelter"]
    info = client.get(f"{API}/types/EvacuationShelter").json()
    assert info["entityCount"] == 1
    names = {a["attributeName"]: a["attributeTypes"] for a in info["attributeDetails"]}
    assert names["location"] == ["GeoProperty"]
    attrs = client.get(f"{API}/attributes").json()["attributeList"]
    assert set(attrs) == {"name", "evacueeCount", "location"}


def test_dataset_id_selects_attribute_instances(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter(1, name=[
        {"type": "Property", "value": "錦城小学校"},
        {"type": "Property", "value": "Kinjo School", "datasetId": "urn:ngsi-ld:Dataset:en"}]))
    url = f"{API}/entities/urn:ngsi-ld:EvacuationShelter:001"
    english = client.get(url, params={"datasetId": "urn:ngsi-ld:Dataset:en"}).json()
    assert english["name"]["value"] == "Kinjo School" and "evacueeCount" not in english
    default = client.get(url, params={"datasetId": "@none", "attrs": "name"}).json()
    assert default["name"]["value"] == "錦城小学校"
    assert client.get(url, params={"datasetId": "not a uri"}).status_code == 400


def test_a_concise_list_value_whose_items_carry_a_list_as_type_is_a_plain_value(
        client: TestClient) -> None:
    """Found by fuzzing: `"type": [...]` inside the items of a concise attribute used to
    raise a TypeError (500) while the server decided whether the list held attribute
    instances. Such items are not instances, so the list is the Property's value."""
    value = [{"type": [1, 2], "note": "x"}, {"type": {"a": 1}}]
    body = {"id": "urn:ngsi-ld:T:list-type", "type": "T", "k": value}
    assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201
    stored = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:T:list-type").json()
    assert stored["k"] == {"type": "Property", "value": value}
