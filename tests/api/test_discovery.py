"""Discovery of entity types and attributes (§5.7.5–§5.7.10) and of the source identity."""

from __future__ import annotations

import re

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def building(n: int, **attrs: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
        "name": {"type": "Property", "value": f"Building {n}"},
        "owner": {"type": "Relationship", "object": "urn:ngsi-ld:Person:1"},
    }
    body.update(attrs)
    return body


def seed(client: TestClient, tenant: str | None = None) -> None:
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    bodies = [building(1), building(2, name=[
                  {"type": "Property", "value": "a"},
                  {"type": "Property", "value": "b", "datasetId": "urn:ngsi-ld:Dataset:b"}]),
              {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle",
               "name": {"type": "Property", "value": "bus"}}]
    for body in bodies:
        assert client.post(f"{API}/entities", json=body, headers=headers).status_code == 201


def test_type_list_and_details(client: TestClient) -> None:
    seed(client)
    listed = client.get(f"{API}/types")
    assert listed.status_code == 200
    body = listed.json()
    assert body["type"] == "EntityTypeList"
    assert body["id"].startswith("urn:ngsi-ld:EntityTypeList:")
    assert sorted(body["typeList"]) == ["Building", "Vehicle"]
    details = client.get(f"{API}/types", params={"details": "true"}).json()
    by_id = {d["id"]: d for d in details}
    assert by_id[DEFAULT + "Building"] == {
        "id": DEFAULT + "Building", "type": "EntityType", "typeName": "Building",
        "attributeNames": ["name", "owner"]}
    assert client.get(f"{API}/types", params={"details": "false"}).json()["type"] == \
        "EntityTypeList"


def test_type_info_compact_and_expanded(client: TestClient) -> None:
    seed(client)
    for name in ("Building", DEFAULT + "Building"):
        got = client.get(f"{API}/types/{name}")
        assert got.status_code == 200, got.text
        assert got.json() == {
            "id": DEFAULT + "Building", "type": "EntityTypeInfo", "typeName": "Building",
            "entityCount": 2,
            "attributeDetails": [
                {"id": DEFAULT + "name", "type": "Attribute", "attributeName": "name",
                 "attributeTypes": ["Property"]},
                {"id": DEFAULT + "owner", "type": "Attribute", "attributeName": "owner",
                 "attributeTypes": ["Relationship"]}]}


def test_unknown_type_and_attribute_are_not_found(client: TestClient) -> None:
    seed(client)
    for path in ("types/NoSuchType", "attributes/noSuchAttribute", "attributes/id",
                 "attributes/type", "attributes/createdAt"):
        got = client.get(f"{API}/{path}")
        assert got.status_code == 404, path
        assert got.json()["type"] == ERR + "ResourceNotFound"


def test_attribute_list_details_and_info(client: TestClient) -> None:
    seed(client)
    listed = client.get(f"{API}/attributes").json()
    assert listed["type"] == "AttributeList"
    assert sorted(listed["attributeList"]) == ["name", "owner"]
    details = client.get(f"{API}/attributes?details=true").json()
    assert {"id": DEFAULT + "name", "type": "Attribute", "attributeName": "name",
            "typeNames": ["Building", "Vehicle"]} in details
    info = client.get(f"{API}/attributes/name")
    assert info.status_code == 200
    # four instances: one per Building 1 and Vehicle 1, two (datasetIds) on Building 2
    assert info.json() == {"id": DEFAULT + "name", "type": "Attribute",
                           "attributeName": "name", "attributeCount": 4,
                           "attributeTypes": ["Property"],
                           "typeNames": ["Building", "Vehicle"]}


def test_json_ld_response_carries_context(client: TestClient) -> None:
    seed(client)
    got = client.get(f"{API}/types", headers={"Accept": "application/ld+json"})
    assert got.headers["content-type"].startswith("application/ld+json")
    assert "@context" in got.json()
    assert client.get(f"{API}/attributes",
                      headers={"Accept": "text/html"}).status_code == 406


def test_undefined_query_parameters_are_invalid(client: TestClient) -> None:
    seed(client)
    for path in ("types?limit=5", "types/Building?details=true", "attributes?limit=5",
                 "attributes/name?details=true", "attributes?invalidParams=x"):
        got = client.get(f"{API}/{path}")
        assert got.status_code == 400, path
        assert got.json()["type"] == ERR + "InvalidRequest"
    assert client.get(f"{API}/types?details=maybe").status_code == 400
    assert client.get(f"{API}/types?local=true").status_code == 200


def test_discovery_is_scoped_to_the_tenant(client: TestClient) -> None:
    seed(client, "discoa")
    headers = {"NGSILD-Tenant": "discob"}
    body = {"id": "urn:ngsi-ld:Thing:1", "type": "Thing"}
    assert client.post(f"{API}/entities", json=body, headers=headers).status_code == 201
    assert client.get(f"{API}/types", headers=headers).json()["typeList"] == ["Thing"]
    assert client.get(f"{API}/types/Building", headers=headers).status_code == 404
    assert client.get(f"{API}/types/Building",
                      headers={"NGSILD-Tenant": "discoa"}).status_code == 200
    unknown = client.get(f"{API}/types", headers={"NGSILD-Tenant": "nosuchtenant"})
    assert unknown.status_code == 404


def test_source_identity(client: TestClient) -> None:
    got = client.get(f"{API}/info/sourceIdentity", headers={"Accept": "application/json"})
    assert got.status_code == 200
    body = got.json()
    assert body["type"] == "ContextSourceIdentity"
    assert body["id"].startswith("urn:")
    assert body["contextSourceAlias"]
    assert re.fullmatch(r"P(\d+D)?T\d+H\d+M\d+S", body["contextSourceUptime"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["contextSourceTimeAt"])
    tenant_a = client.get(f"{API}/info/sourceIdentity", headers={"NGSILD-Tenant": "a"}).json()
    tenant_b = client.get(f"{API}/info/sourceIdentity", headers={"NGSILD-Tenant": "b"}).json()
    again = client.get(f"{API}/info/sourceIdentity", headers={"NGSILD-Tenant": "a"}).json()
    assert len({body["contextSourceAlias"], tenant_a["contextSourceAlias"],
                tenant_b["contextSourceAlias"]}) == 3
    assert again["contextSourceAlias"] == tenant_a["contextSourceAlias"]
