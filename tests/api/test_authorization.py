"""Authorization through HTTP with security on, on both backends: queries and their counts,
single-entity reads and writes, batch operations, discovery, tenants, linked entities,
@context writes and the admin endpoints. Temporal and subscriptions (SQLite so far) are in
test_authorization_sqlite.py."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.security_support import (
    API,
    DEVICE,
    OTHER_SHELTER,
    SHELTER,
    SecureCity,
    device,
    secure_city,
    seed,
    shelter,
)

QUERY = {"type": "EvacuationShelter,Device", "count": "true"}


@pytest.fixture
def city(database_url: str) -> Iterator[SecureCity]:
    with secure_city(database_url) as secure:
        yield secure


@pytest.fixture
def admin(city: SecureCity) -> str:
    return seed(city)


def ids(response: object) -> set[str]:
    return {e["id"] for e in response.json()}  # type: ignore[attr-defined]


def test_anonymous_reads_public_types_without_personal_data(city: SecureCity,
                                                            admin: str) -> None:
    response = city.client.get(f"{API}/entities", params=QUERY)
    assert response.status_code == 200
    assert ids(response) == {SHELTER, OTHER_SHELTER}
    assert response.headers["NGSILD-Results-Count"] == "2"
    assert all("contactPhone" not in e and "peopleOccupancy" in e for e in response.json())
    one = city.client.get(f"{API}/entities/{SHELTER}", params={"options": "keyValues"})
    assert one.status_code == 200 and "contactPhone" not in one.json()


def test_counts_and_pages_cover_only_what_the_caller_may_read(city: SecureCity,
                                                              admin: str) -> None:
    everything = city.client.get(f"{API}/entities", params=QUERY, headers=city.auth(admin))
    assert everything.headers["NGSILD-Results-Count"] == "4"
    page = city.client.get(f"{API}/entities", params={**QUERY, "limit": "1", "offset": "1"})
    assert page.headers["NGSILD-Results-Count"] == "2"
    assert len(page.json()) == 1 and 'rel="next"' not in page.headers.get("Link", "")
    by_post = city.client.post(f"{API}/entityOperations/query", params={"count": "true"},
                               json={"type": "Query", "entities": [{"type": "Device"}]})
    assert by_post.status_code == 200 and by_post.json() == []
    assert by_post.headers["NGSILD-Results-Count"] == "0"


def test_unreadable_entity_reads_as_absent(city: SecureCity, admin: str) -> None:
    hidden = city.client.get(f"{API}/entities/{DEVICE}")
    missing = city.client.get(f"{API}/entities/urn:ngsi-ld:Device:nowhere")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["type"] == missing.json()["type"]


def test_personal_attribute_needs_an_explicit_grant(city: SecureCity, admin: str) -> None:
    assert "contactPhone" not in city.client.get(f"{API}/entities/{SHELTER}",
                                                 headers=city.auth(admin)).json()
    city.grant(audience="role:welfare", operations=["read"], entityType="EvacuationShelter",
               attributes=["contactPhone", "name"])
    welfare = city.key("welfare")
    shown = city.client.get(f"{API}/entities/{SHELTER}", headers=city.auth(welfare)).json()
    assert shown["contactPhone"]["value"] == "0761-72-0000"
    probe = {"type": "EvacuationShelter", "q": 'contactPhone=="0761-72-0000"'}
    assert city.client.get(f"{API}/entities", params=probe).status_code == 401
    assert city.client.get(f"{API}/entities", params=probe,
                           headers=city.auth(admin)).status_code == 403


def test_writes_follow_type_id_pattern_and_attribute_grants(city: SecureCity,
                                                            admin: str) -> None:
    city.grant(audience="role:shelter-staff", operations=["write"], tenant="",
               entityType="EvacuationShelter", idPattern="urn:ngsi-ld:EvacuationShelter:kaga-.*",
               attributes=["peopleOccupancy", "status"])
    staff = city.auth(city.key("shelter-staff"))
    occupancy = {"peopleOccupancy": {"type": "Property", "value": 55}}
    client = city.client
    assert client.patch(f"{API}/entities/{SHELTER}/attrs", json=occupancy,
                        headers=staff).status_code == 204
    assert client.get(f"{API}/entities/{SHELTER}").json()["peopleOccupancy"]["value"] == 55
    renamed = {"name": {"type": "Property", "value": "偽"}}
    assert client.patch(f"{API}/entities/{SHELTER}/attrs", json=renamed,
                        headers=staff).status_code == 403
    assert client.patch(f"{API}/entities/{OTHER_SHELTER}/attrs", json=occupancy,
                        headers=staff).status_code == 403
    assert client.patch(f"{API}/entities/{DEVICE}/attrs", json={"waterLevel": 9},
                        headers=staff).status_code == 404
    assert client.delete(f"{API}/entities/{SHELTER}", headers=staff).status_code == 403
    assert client.post(f"{API}/entities", json=device("urn:ngsi-ld:Device:x"),
                       headers=staff).status_code == 403
    assert client.patch(f"{API}/entities/{SHELTER}/attrs", json=occupancy).status_code == 401
    assert client.get(f"{API}/entities/{SHELTER}").json()["name"]["value"] == "錦城小学校"


def test_batch_reports_each_refused_entity(city: SecureCity, admin: str) -> None:
    city.grant(audience="role:shelter-staff", operations=["write"],
               entityType="EvacuationShelter", idPattern="urn:ngsi-ld:EvacuationShelter:kaga-.*")
    staff = city.auth(city.key("shelter-staff"))
    batch = [shelter(SHELTER, 77), shelter(OTHER_SHELTER, 77), device(DEVICE, 9.9)]
    response = city.client.post(f"{API}/entityOperations/upsert", json=batch,
                                params={"options": "update"}, headers=staff)
    assert response.status_code == 207, response.text
    result = response.json()
    assert result["success"] == [SHELTER]
    errors = {e["entityId"]: e["error"]["status"] for e in result["errors"]}
    assert errors == {OTHER_SHELTER: 403, DEVICE: 404}
    deleted = city.client.post(f"{API}/entityOperations/delete", json=[DEVICE, OTHER_SHELTER],
                               headers=staff)
    assert deleted.status_code == 207
    assert city.client.get(f"{API}/entities/{DEVICE}",
                           headers=city.auth(admin)).json()["waterLevel"]["value"] == 1.5


def test_tenants_are_isolated(city: SecureCity, admin: str) -> None:
    city.grant(audience="role:kaga-b-staff", operations=["read", "write"], tenant="kaga-b")
    other = city.auth(city.key("kaga-b-staff"))
    tenant_b = {**other, "NGSILD-Tenant": "kaga-b"}
    assert city.client.post(f"{API}/entities", json=device("urn:ngsi-ld:Device:b"),
                            headers=tenant_b).status_code == 201
    assert city.client.get(f"{API}/entities/{DEVICE}", headers=other).status_code == 404
    assert city.client.post(f"{API}/entities", json=device("urn:ngsi-ld:Device:c"),
                            headers=other).status_code == 403
    bound = city.auth(city.key("city-admin", tenants={"kaga-b"}))
    in_b = city.client.get(f"{API}/entities", params=QUERY,
                           headers={**bound, "NGSILD-Tenant": "kaga-b"})
    assert ids(in_b) == {"urn:ngsi-ld:Device:b"}
    # A key limited to tenants holds no grant elsewhere, not even the public ones.
    assert city.client.get(f"{API}/entities", params=QUERY, headers=bound).status_code == 403
    assert city.client.get(f"{API}/entities/{SHELTER}", headers=bound).status_code == 403


def test_discovery_lists_only_readable_types_and_attributes(city: SecureCity,
                                                            admin: str) -> None:
    types = city.client.get(f"{API}/types").json()
    assert types["typeList"] == ["EvacuationShelter"]
    attributes = city.client.get(f"{API}/attributes").json()["attributeList"]
    assert "contactPhone" not in attributes and "waterLevel" not in attributes
    assert city.client.get(f"{API}/types/Device").status_code == 404
    all_types = city.client.get(f"{API}/types", headers=city.auth(admin)).json()
    assert set(all_types["typeList"]) == {"EvacuationShelter", "Device"}


def test_linked_entities_are_joined_only_when_readable(city: SecureCity, admin: str) -> None:
    link = {"sensor": {"type": "Relationship", "object": DEVICE}}
    assert city.client.post(f"{API}/entities/{SHELTER}/attrs", json=link,
                            headers=city.auth(admin)).status_code == 204
    params = {"join": "flat", "type": "EvacuationShelter", "id": SHELTER}
    anonymous = city.client.get(f"{API}/entities", params=params)
    assert ids(anonymous) == {SHELTER}
    joined = city.client.get(f"{API}/entities", params=params, headers=city.auth(admin))
    assert ids(joined) == {SHELTER, DEVICE}


def test_invalid_and_revoked_keys_are_refused(city: SecureCity, admin: str) -> None:
    bogus = city.client.get(f"{API}/entities/{SHELTER}", headers={"X-API-Key": "ck_x"})
    assert bogus.status_code == 401
    assert bogus.json()["type"].endswith("/Unauthenticated") or "nauthenticated" in \
        bogus.json()["type"]
    city.revoke(admin)
    revoked = city.client.get(f"{API}/entities/{SHELTER}", headers=city.auth(admin))
    assert revoked.status_code == 401


def test_admin_endpoints_refuse_api_keys(city: SecureCity, admin: str) -> None:
    for method, path in (("GET", "/admin/apikeys"), ("POST", "/admin/apikeys"),
                         ("GET", "/admin/policies"), ("POST", "/admin/policies"),
                         ("DELETE", "/admin/policies/x"), ("DELETE", "/admin/apikeys/x")):
        body = {"name": "x"} if method == "POST" else None
        assert city.client.request(method, path, json=body).status_code == 401
        assert city.client.request(method, path, json=body,
                                   headers=city.auth(admin)).status_code == 403


def test_context_store_writes_need_an_admin_grant(city: SecureCity, admin: str) -> None:
    context = {"@context": {"level": "https://kaga.example/ns#level"}}
    assert city.client.post(f"{API}/jsonldContexts", json=context).status_code == 401
    assert city.client.post(f"{API}/jsonldContexts", json=context,
                            headers=city.auth(admin)).status_code == 403
    city.grant(audience="role:context-admin", operations=["admin"])
    keeper = city.auth(city.key("context-admin"))
    created = city.client.post(f"{API}/jsonldContexts", json=context, headers=keeper)
    assert created.status_code == 201
    assert city.client.get(created.headers["Location"]).status_code == 200  # open to read


def test_attribute_selection_cannot_reveal_personal_data(city: SecureCity, admin: str) -> None:
    probe = {"type": "EvacuationShelter", "attrs": "contactPhone"}
    assert city.client.get(f"{API}/entities", params=probe).status_code == 401
    assert city.client.get(f"{API}/entities", params=probe,
                           headers=city.auth(admin)).status_code == 403
    fine = city.client.get(f"{API}/entities", params={"type": "EvacuationShelter",
                                                       "attrs": "name"})
    assert fine.status_code == 200 and len(fine.json()) == 2
