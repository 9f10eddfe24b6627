"""Media type negotiation and request-level HTTP rules (§6.3.4, §6.3.6, §6.3.14)."""

from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.testclient import TestClient

from cityos.api.negotiation import GEO_JSON, JSON, JSON_LD, choose_response_type
from cityos.api.negotiation import prefers_json_body as prefers_json
from cityos.ngsild.errors import NotAcceptable

API = "/ngsi-ld/v1"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
ENTITY = {"id": "urn:ngsi-ld:Vehicle:n1", "type": "Vehicle",
          "location": {"type": "GeoProperty",
                       "value": {"type": "Point", "coordinates": [136.31, 36.30]}}}
READ = (JSON, JSON_LD, GEO_JSON)


def request_with(**headers: str) -> Request:
    raw = [(k.replace("_", "-").lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@pytest.mark.parametrize(("accept", "expected"), [
    ("", JSON),
    ("*/*", JSON),
    ("application/*", JSON),
    ("application/ld+json, application/json", JSON),
    ("application/geo+json, application/json", JSON),
    ("application/json;q=0.1, application/ld+json;q=0.9", JSON_LD),
    ("application/ld+json", JSON_LD),
    ("application/json;q=0, application/ld+json", JSON_LD),
    ("application/json;q=0, */*", JSON_LD),
    ("*/*;q=0.9, application/ld+json;q=0.8", JSON),
    ("application/ld+json;q=notanumber", JSON_LD),
    ("application/geo+json", GEO_JSON),
    ("text/html;q=1, application/ld+json;q=0.2", JSON_LD),
    ("APPLICATION/LD+JSON; charset=utf-8", JSON_LD),
])
def test_accept_precedence(accept: str, expected: str) -> None:
    assert choose_response_type(request_with(accept=accept), READ) == expected


def test_geojson_is_not_offered_everywhere() -> None:
    request = request_with(accept="application/geo+json;q=0.9, application/ld+json;q=0.1")
    assert choose_response_type(request) == JSON_LD
    with pytest.raises(NotAcceptable):
        choose_response_type(request_with(accept="application/geo+json"))
    with pytest.raises(NotAcceptable):
        choose_response_type(request_with(accept="text/html, application/json;q=0"))


def test_prefer_body_json() -> None:
    assert prefers_json(request_with(prefer="body=json"))
    assert prefers_json(request_with(prefer='return=minimal, body="json"'))
    assert not prefers_json(request_with(prefer="return=minimal"))
    assert not prefers_json(request_with())


def test_accept_over_http(client: TestClient) -> None:
    assert client.post(f"{API}/entities", json=ENTITY).status_code == 201
    url = f"{API}/entities/{ENTITY['id']}"
    got = client.get(url, headers={"Accept": "application/ld+json, application/json"})
    assert got.headers["content-type"].startswith(JSON)
    assert "link" in got.headers
    got = client.get(url, headers={"Accept": "*/*"})
    assert got.headers["content-type"].startswith(JSON)
    refused = client.get(url, headers={"Accept": "text/csv"})
    assert refused.status_code == 406
    assert refused.json()["type"] == ERR + "NotAcceptable"


def test_length_required_before_anything_else(client: TestClient) -> None:
    def chunks() -> object:
        yield b'{"id": "urn:ngsi-ld:Vehicle:x", "type": "Vehicle"}'

    for method, path in (("POST", "entities"), ("PUT", "entities/urn:ngsi-ld:Vehicle:x"),
                         ("PATCH", "entities/urn:ngsi-ld:Vehicle:x/attrs")):
        response = client.request(method, f"{API}/{path}", content=chunks(),
                                  headers={"Content-Type": "application/json",
                                           "NGSILD-Tenant": "nosuchtenant"})
        assert response.status_code == 411, (method, path)
        assert response.content == b""
    assert client.get(f"{API}/entities?type=Vehicle").status_code == 200


def test_tenant_header_is_echoed(client: TestClient) -> None:
    headers = {"NGSILD-Tenant": "echoed"}
    created = client.post(f"{API}/entities", json=ENTITY, headers=headers)
    assert created.status_code == 201
    assert created.headers["ngsild-tenant"] == "echoed"
    got = client.get(f"{API}/entities/{ENTITY['id']}", headers=headers)
    assert got.headers["ngsild-tenant"] == "echoed"
    missing = client.get(f"{API}/entities/urn:ngsi-ld:Vehicle:none", headers=headers)
    assert missing.status_code == 404
    assert missing.headers["ngsild-tenant"] == "echoed"
    assert "ngsild-tenant" not in client.get(f"{API}/types").headers
    # the default tenant does not see another tenant's entity
    assert client.get(f"{API}/entities/{ENTITY['id']}").status_code == 404


def test_unsupported_content_type(client: TestClient) -> None:
    response = client.post(f"{API}/entities", content=b"<x/>",
                           headers={"Content-Type": "application/xml"})
    assert response.status_code == 415
    assert response.json()["type"] == ERR + "UnsupportedMediaType"
