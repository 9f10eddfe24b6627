"""GET /entities query parameters: validation (ETSI GS CIM 009 §5.7.2.4, §4.21), q
extensions of V1.9 (§4.9), and entity ordering (V1.9 §4.23)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"


def vehicle(n: str, **attrs: object) -> dict[str, object]:
    return {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle", **attrs}


def prop(value: object, **extra: object) -> dict[str, object]:
    return {"type": "Property", "value": value, **extra}


def create(client: TestClient, *entities: dict[str, object]) -> None:
    for entity in entities:
        assert client.post(f"{API}/entities", json=entity).status_code == 201


def ids(client: TestClient, query: str) -> list[str]:
    response = client.get(f"{API}/entities?{query}")
    assert response.status_code == 200, response.text
    return [e["id"].rsplit(":", 1)[1] for e in response.json()]


def error(client: TestClient, query: str) -> str:
    response = client.get(f"{API}/entities?{query}")
    assert response.status_code == 400, response.text
    return str(response.json()["type"]).removeprefix(ERR)


@pytest.mark.parametrize("query", [
    "id=urn:ngsi-ld:Vehicle:a",  # id alone does not narrow the query (5.7.2.4)
    "idPattern=.*",
    "attrs=createdAt",  # system attributes alone are too wide
    'q=modifiedAt>"2020-01-01T00:00:00Z"',
    "attrs=id,type",  # entity members are not attribute names
    "type=Vehicle&pick=name&omit=name",
    "type=Vehicle&omit=name&attrs=speed",
    "type=Vehicle&pick=id;name",
    "type=Vehicle&pick=id,locatedAt{name",
    "type=Vehicle&pick=id,,name",
    "type=Vehicle&pick=locatedAt{}",
    "type=Vehicle&pick=owner{name}",  # Linked Entity projection without join
    "type=Vehicle&pick=a{b{c}}&join=inline&joinLevel=1",
    'type=Vehicle&q=owner{name}=="x"',  # Linked Entity query without join
    'type=Vehicle&q=owner{works{name}}=="x"&join=inline&joinLevel=1',
    "type=Vehicle&csf=))bad((",
    "type=*&local=false",
    "type=Vehicle&local=yes",
    "type=Vehicle&orderBy=name;sideways",
    "type=Vehicle&orderBy=location;dist-asc",  # no orderFrom
    "type=Vehicle&orderBy=name&collation=!!nope",
])
def test_invalid_queries_are_bad_request_data(client: TestClient, query: str) -> None:
    assert error(client, query) == "BadRequestData"


@pytest.mark.parametrize("query", ["format=invalid", "options=keyValues,invalid"])
def test_unknown_representation_is_invalid_request(client: TestClient, query: str) -> None:
    assert error(client, f"type=Vehicle&{query}") == "InvalidRequest"


def test_local_and_type_wildcard_select_every_entity(client: TestClient) -> None:
    create(client, vehicle("a"), {"id": "urn:ngsi-ld:Building:b", "type": "Building"})
    assert sorted(ids(client, "local=true")) == ["a", "b"]
    assert sorted(ids(client, "type=*")) == ["a", "b"]


def test_pick_with_an_entity_member_keeps_entities_without_the_attributes(
        client: TestClient) -> None:
    create(client, vehicle("a", name=prop("A")), vehicle("b", speed=prop(1)))
    assert sorted(ids(client, "type=Vehicle&pick=id,name")) == ["a", "b"]
    names = client.get(f"{API}/entities?type=Vehicle&pick=name").json()
    assert names == [{"name": {"type": "Property", "value": "A"}}]


def test_pipe_separates_projection_members(client: TestClient) -> None:
    create(client, vehicle("a", name=prop("A"), speed=prop(1), brand=prop("x")))
    by_pipe = client.get(f"{API}/entities?type=Vehicle&pick=id|name").json()
    assert by_pipe == client.get(f"{API}/entities?type=Vehicle&pick=id,name").json()
    assert error(client, "type=Vehicle&pick=name||speed") == "BadRequestData"


def test_order_by_attribute_member_sub_attribute_and_direction(client: TestClient) -> None:
    for n, name, sub in (("2", "B", 2), ("1", "A", 1), ("3", "C", 3)):
        create(client, vehicle(n, name=prop(name, sub=prop(sub))))
    assert ids(client, "type=Vehicle&orderBy=name") == ["1", "2", "3"]
    assert ids(client, "type=Vehicle&orderBy=name;desc") == ["3", "2", "1"]
    assert ids(client, "type=Vehicle&orderBy=id") == ["1", "2", "3"]
    assert ids(client, "type=Vehicle&orderBy=createdAt") == ["2", "1", "3"]
    assert ids(client, "type=Vehicle&orderBy=name.createdAt") == ["2", "1", "3"]
    assert ids(client, "type=Vehicle&orderBy=name.sub;desc") == ["3", "2", "1"]
    assert ids(client, "type=Vehicle&orderBy=type;asc,name.sub;desc,name") == ["3", "2", "1"]
    assert ids(client, "type=Vehicle&orderBy=name&limit=1&offset=1") == ["2"]


def test_order_puts_numbers_before_strings_and_absent_last(client: TestClient) -> None:
    create(client, vehicle("far", address=prop({"city": "Zurich"})),
           vehicle("mid", rank=prop("abc"), address=prop({"city": "Berlin"})),
           vehicle("near", rank=prop(5), address=prop({"city": "Amsterdam"})))
    assert ids(client, "type=Vehicle&orderBy=rank") == ["near", "mid", "far"]
    assert ids(client, "type=Vehicle&orderBy=rank;desc") == ["mid", "near", "far"]
    assert ids(client, "type=Vehicle&orderBy=address[city];desc") == ["far", "mid", "near"]


def test_order_by_distance(client: TestClient) -> None:
    for n, lon, lat in (("mid", 9, 41), ("far", 10, 45), ("near", 8.01, 40.01)):
        point = {"type": "Point", "coordinates": [lon, lat]}
        create(client, vehicle(n, location={"type": "GeoProperty", "value": point}))
    base = "type=Vehicle&orderFrom=[8,40]&orderBy=location;"
    assert ids(client, base + "dist-asc") == ["near", "mid", "far"]
    assert ids(client, base + "dist-desc") == ["far", "mid", "near"]
    near = "georel=near;maxDistance==2000000&geometry=Point&coordinates=[8,40]"
    assert ids(client, f"type=Vehicle&{near}&orderBy=location;dist-desc&orderFrom=[8,40]") \
        == ["far", "mid", "near"]


def test_collation_ranks_accents_with_their_base_letter(client: TestClient) -> None:
    create(client, vehicle("1", name=prop("A")), vehicle("2", name=prop("b")),
           vehicle("3", name=prop("á")), vehicle("4", name=prop("Zebra")),
           vehicle("5", name=prop("Ähre")))
    assert ids(client, "type=Vehicle&orderBy=name") == ["1", "4", "2", "5", "3"]
    assert ids(client, "type=Vehicle&orderBy=name&collation=und") == ["1", "3", "5", "2", "4"]
    assert ids(client, "type=Vehicle&orderBy=name&collation=de-u-co-phonebk")[1] == "3"


def test_q_language_extensions(client: TestClient) -> None:
    create(client,
           {"id": "urn:ngsi-ld:Building:pisa", "type": "Building", "name": prop("Pisa Tower"),
            "category": {"type": "VocabProperty", "vocab": "commercial"}},
           vehicle("a", color={"type": "LanguageProperty",
                               "languageMap": {"en": "red", "fr": "rouge"}},
                   managedBy={"type": "Relationship", "object": "urn:ngsi-ld:Building:pisa"}))
    assert ids(client, 'type=Vehicle&q=color[*]=="rouge"') == ["a"]
    assert ids(client, 'type=Vehicle&q=color[*]!="red"') == []
    assert ids(client, 'type=Vehicle&q=managedBy>"urn:a"') == []
    assert ids(client, 'type=Vehicle&q=managedBy=="urn:ngsi-ld:Building:pisa"') == ["a"]
    linked = "type=Vehicle&join=inline&q=managedBy{%s}==%%22Pisa%%20Tower%%22"
    assert ids(client, linked % "name") == ["a"]
    assert ids(client, linked % "Building:name") == ["a"]
    assert ids(client, linked % "Vehicle:name") == []
    assert ids(client, "type=Building&q=category==commercial") == []
    assert ids(client, "type=Building&q=category==commercial&expandValues=category") == ["pisa"]


def test_negated_existence_selects_entities_without_the_attribute(client: TestClient) -> None:
    """V1.9 clause 4.9 `!attr` (also percent-encoded), alone and with other terms."""
    create(client, vehicle("a", speed=prop(30), heading=prop(45)),
           vehicle("b", speed=prop(60)),
           vehicle("c", heading=prop(90, observedAt="2024-05-01T08:00:00Z")))
    assert ids(client, "type=Vehicle&q=!heading") == ["b"]
    assert ids(client, "type=Vehicle&q=%21heading%3Bspeed%3E25") == ["b"]
    assert ids(client, "type=Vehicle&q=!speed|speed>50") == ["b", "c"]
    assert ids(client, "type=Vehicle&q=!heading.observedAt") == ["a", "b"]
    response = client.get(f"{API}/entities?type=Vehicle&q=!heading&count=true&limit=0")
    assert response.headers["NGSILD-Results-Count"] == "1"
    for bad in ("q=!heading==45", "q=!", "q=!(heading)", "q=!owner{name}"):
        assert error(client, f"type=Vehicle&{bad}") == "InvalidRequest", bad
