"""Pagination of GET /entities (§4.12, §5.5.9): prev/next Link headers."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from cityos.api.responses import page_links

API = "/ngsi-ld/v1"
CONTEXT_REL = "http://www.w3.org/ns/json-ld#context"


@pytest.fixture
def three(client: TestClient) -> TestClient:
    for n in range(3):
        body = {"id": f"urn:ngsi-ld:Building:{n}", "type": "Building",
                "name": {"type": "Property", "value": f"B{n}"}}
        assert client.post(f"{API}/entities", json=body).status_code == 201
    return client


def links(response_link: str) -> dict[str, str]:
    """rel → target of every Link value other than the @context one."""
    found = re.findall(r'<([^>]*)>;\s*rel="([^"]*)"', response_link)
    return {rel: target for target, rel in found if rel != CONTEXT_REL}


@pytest.mark.parametrize(("limit", "offset", "prev", "next_"), [
    (1, 0, None, 1),
    (1, 1, 0, 2),
    (1, 2, 1, None),
    (2, 0, None, 2),
    (2, 1, 0, None),
    (3, 0, None, None),
])
@pytest.mark.parametrize("count", [True, False])
def test_prev_and_next_links(three: TestClient, limit: int, offset: int, prev: int | None,
                             next_: int | None, count: bool) -> None:
    params = {"type": "Building", "idPattern": "urn:ngsi-ld:Building:.*", "limit": limit,
              "offset": offset}
    if count:
        params["count"] = "true"
    response = three.get(f"{API}/entities/", params=params)
    assert response.status_code == 200
    assert len(response.json()) == min(limit, 3 - offset)
    header = response.headers["link"]
    assert CONTEXT_REL in header
    got = links(header)
    flag = "count=true&" if count else ""
    expected = {}
    for rel, page in (("prev", prev), ("next", next_)):
        if page is not None:
            expected[rel] = (f"{API}/entities?{flag}idPattern=urn:ngsi-ld:Building:.*"
                             f"&limit={limit}&offset={page}&type=Building")
    assert got == expected
    for value in header.split(","):
        if 'rel="next"' in value or 'rel="prev"' in value:
            assert 'type="application/json"' in value


def test_limit_zero_with_count_has_no_links(three: TestClient) -> None:
    response = three.get(f"{API}/entities", params={"type": "Building", "limit": 0,
                                                     "count": "true"})
    assert response.json() == []
    assert response.headers["ngsild-results-count"] == "3"
    assert links(response.headers["link"]) == {}


def test_json_ld_response_carries_only_the_paging_links(three: TestClient) -> None:
    response = three.get(f"{API}/entities", params={"type": "Building", "limit": 1},
                         headers={"Accept": "application/ld+json"})
    assert response.headers["content-type"].startswith("application/ld+json")
    assert CONTEXT_REL not in response.headers["link"]
    assert links(response.headers["link"]) == {
        "next": f"{API}/entities?limit=1&offset=1&type=Building"}


def test_link_values_escape_separators() -> None:
    [link] = page_links(f"{API}/entities", [("q", "a==1;b==\"x,y\""), ("type", "A,B")],
                        offset=0, limit=5, more=True, media="application/json")
    target = link[1:link.index(">")]
    assert "," not in target and ";" not in target
    assert target.endswith("&type=A%2CB")
    assert link.endswith('; rel="next"; type="application/json"')
