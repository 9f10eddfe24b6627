"""Fuzzing every operation of the served OpenAPI document: no input may cause a 5xx.

Schemathesis reads /openapi.json from the in-process ASGI app and generates valid and
invalid requests for each operation; a second part sends hand-made hostile inputs (deep
nesting, huge strings, unicode, bad URIs, bad q and geo strings) to entities that exist.
Remote @context URLs are answered in-process, so nothing leaves the machine.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.python import asgi as schemathesis_asgi
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cityos.api import openapi
from cityos.app import build_app
from cityos.broker import context_resolver
from cityos.config import load_settings

API = "/ngsi-ld/v1"
BASE_URL = f"http://{schemathesis_asgi.HOST}"
# Generated requests per operation: bodies are costly to generate, so fewer of those.
READ_EXAMPLES, WRITE_EXAMPLES = 100, 30
SHELTER_ID = "urn:ngsi-ld:EvacuationShelter:kaga-001"
REMOTE_CONTEXT = {"@context": {"capacity": "https://kaga.example/ns#capacity"}}
STATUSES: Counter[int] = Counter()


def _offline(request: httpx.Request) -> httpx.Response:
    """Every remote @context URL resolves to a small valid document, without a network."""
    return httpx.Response(200, json=REMOTE_CONTEXT)


class OfflineHttpx:
    """Stands in for the httpx module inside the @context resolver: its clients never leave
    the process, however often the app restarts and recreates them."""

    def __getattr__(self, name: str) -> Any:
        return getattr(httpx, name)

    @staticmethod
    def AsyncClient(**kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(_offline), **kwargs)


@pytest.fixture(scope="module", autouse=True)
def offline_contexts() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context_resolver, "httpx", OfflineHttpx())
        yield


def fuzz_app(database: Path) -> Starlette:
    settings_ = load_settings({"database_url": f"sqlite:///{database}",
                               "max_body_bytes": 262_144, "dev": True}, environ={})
    app = build_app(settings_)
    if not any(getattr(route, "path", None) == "/openapi.json" for route in app.router.routes):
        app.router.routes.extend(openapi.routes)
    return app


def shelter(entity_id: str = SHELTER_ID) -> dict[str, Any]:
    return {"id": entity_id, "type": "EvacuationShelter",
            "name": {"type": "Property", "value": "加賀市立錦城小学校"},
            "capacity": {"type": "Property", "value": 500},
            "operator": {"type": "Relationship", "object": "urn:ngsi-ld:Organization:kaga"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [136.308189, 36.307739]}}}


@pytest.fixture(scope="module")
def asgi_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A requests-style session that reaches the app in-process. The schemathesis plugin
    ends the app's lifespan after each test; the session starts it again on the next call."""
    application: Any = fuzz_app(tmp_path_factory.mktemp("fuzz") / "cityos.db")
    with schemathesis_asgi.get_client(application) as session:
        served = session.get("/openapi.json")
        assert served.json() == openapi.openapi_document()  # we fuzz what is served
        assert session.post(f"{API}/entities", json=shelter()).status_code == 201
        yield session
    schemathesis_asgi.shutdown_lifespans()


# Loaded from the same builder that /openapi.json serves (checked in the fixture above), so
# collection needs no running app.
schema = schemathesis.openapi.from_dict(openapi.openapi_document())
# The coverage phase enumerates every combination of nested body shapes (tens of thousands
# of requests per operation here); bounded random generation keeps the run short.
schema.config.phases.update(phases=["examples", "fuzzing"])
reads = schema.include(method=["GET", "DELETE"])
writes = schema.include(method=["POST", "PUT", "PATCH"])
FUZZ_SETTINGS = settings(deadline=None, suppress_health_check=list(HealthCheck),
                         phases=[Phase.explicit, Phase.reuse, Phase.generate],
                         report_multiple_bugs=False)


def _call(case: Any, session: Any) -> None:
    response = case.call(session=session, base_url=BASE_URL)
    STATUSES[response.status_code] += 1
    case.validate_response(response, checks=[not_a_server_error])


@reads.parametrize()
@settings(FUZZ_SETTINGS, max_examples=READ_EXAMPLES)
def test_reads_never_fail_on_the_server(case: Any, asgi_session: Any) -> None:
    _call(case, asgi_session)


@writes.parametrize()
@settings(FUZZ_SETTINGS, max_examples=WRITE_EXAMPLES)
def test_writes_never_fail_on_the_server(case: Any, asgi_session: Any) -> None:
    _call(case, asgi_session)


# -- hand-made hostile inputs ---------------------------------------------------------------

@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    application = fuzz_app(tmp_path_factory.mktemp("hostile") / "cityos.db")
    with TestClient(application, raise_server_exceptions=False) as test_client:
        assert test_client.post(f"{API}/entities", json=shelter()).status_code == 201
        yield test_client


def _nested(depth: int, leaf: Any = 1) -> Any:
    value = leaf
    for i in range(depth):
        value = {"a": value} if i % 2 else [value]
    return value


HUGE = "加" * 200_000
HOSTILE_BODIES: list[Any] = [
    _nested(200), _nested(900), {"id": SHELTER_ID, "type": "T", "x": _nested(60)},
    {"id": "urn:" + HUGE, "type": "T"}, {"id": SHELTER_ID, "type": HUGE},
    {"id": "urn:a:b", "type": "T", "x": {"type": "Property", "value": HUGE}},
    {"id": "not a uri", "type": "T"}, {"id": "urn:\u0000:x", "type": "T"},
    {"id": "http://[::1", "type": "T"}, {"id": "urn:a:b", "type": ["T"] * 500},
    {"id": "urn:a:b", "type": "T", "\u202e\ud7ff": 1}, {"id": "urn:a:b", "type": "💥"},
    {"id": "urn:a:b", "type": "T", "location": {"type": "GeoProperty", "value": {
        "type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]}}},
    {"id": "urn:a:b", "type": "T", "location": {"type": "GeoProperty", "value": {
        "type": "Point", "coordinates": [1e308, -1e308]}}},
    {"id": "urn:a:b", "type": "T", "location": {"type": "GeoProperty", "value": {
        "type": "MultiPolygon", "coordinates": [[[[0, 0]] * 5000]]}}},
    {"id": "urn:a:b", "type": "T", "@context": {"@vocab": None}},
    {"id": "urn:a:b", "type": "T", "r": {"type": "Relationship", "object": [HUGE[:300]]}},
    {"type": "Query", "geoQ": {"geometry": "Point", "coordinates": "[", "georel": "near"}},
    {"type": "Query", "q": "(" * 5000}, {"type": "Query", "entities": [{"idPattern": "(" * 3}]},
    {"type": "Query", "attrs": [1, None]}, {"id": "urn:a:b", "type": "T", "x": {"type": {}}},
    {"id": "urn:a:b", "type": "T", "@context": "http://kaga.example/\u001a"},
    [SHELTER_ID] * 3, [None, 1, "x", {}], [], {}, "string", 12, None, True,
]
HOSTILE_RAW = [
    b'{"a":' * 20_000 + b"1" + b"}" * 20_000, b"[" * 50_000 + b"]" * 50_000,
    b"{" * 100_000, b"\xff\xfe\x00", b"[1,2", b"\x00", b'{"a":1}' * 3, b"1" * 400_000,
    b'{"id": "urn:a:\\ud800", "type": "T"}', b'{"id": "urn:a:b", "type": "T", "n": 1e999}',
    b'{"id": "urn:a:b", "type": "T", "n": {"type": "Property", "value": NaN}}',
]
BODY_OPERATIONS = [
    ("POST", f"{API}/entities"), ("PUT", f"{API}/entities/{SHELTER_ID}"),
    ("PATCH", f"{API}/entities/{SHELTER_ID}"), ("POST", f"{API}/entities/{SHELTER_ID}/attrs"),
    ("PATCH", f"{API}/entities/{SHELTER_ID}/attrs"),
    ("PATCH", f"{API}/entities/{SHELTER_ID}/attrs/capacity"),
    ("PUT", f"{API}/entities/{SHELTER_ID}/attrs/capacity"),
    *(("POST", f"{API}/entityOperations/{op}")
      for op in ("create", "upsert", "update", "merge", "delete", "query")),
    ("POST", f"{API}/jsonldContexts"),
]


def _check(response: httpx.Response, what: str) -> None:
    STATUSES[response.status_code] += 1
    assert response.status_code < 500, f"{what} → {response.status_code} {response.text[:300]}"


@pytest.mark.parametrize(("method", "path"), BODY_OPERATIONS)
def test_hostile_bodies(client: TestClient, method: str, path: str) -> None:
    for body in HOSTILE_BODIES:
        raw = json.dumps(body, ensure_ascii=False).encode()
        for media in ("application/json", "application/ld+json"):
            response = client.request(method, path, content=raw,
                                      headers={"Content-Type": media})
            _check(response, f"{method} {path} {media} {raw[:120]!r}")
    for raw in HOSTILE_RAW:
        response = client.request(method, path, content=raw,
                                  headers={"Content-Type": "application/json"})
        _check(response, f"{method} {path} {raw[:60]!r}")


HOSTILE_STRINGS = [
    "", " ", "(", ")", ";", "|", "==", "!=", "~=", "..", ",", "[", "]", "\"", "'", "%00",
    "\u0000", "\ud7ff", "加賀", "💥" * 100, "a" * 20_000, "(" * 3000, "capacity>",
    "capacity==1..", "capacity~=(", "capacity==\"\\", "name[0]==1", "a.b.c.d.e==1",
    "capacity>1;|name==2", "near;maxDistance==", "near;maxDistance==-1",
    "near;maxDistance==1e999", "within;x", "[[[", "[1]", "[1e999,1e999]", "[[1,2],[3]]",
    "urn:ngsi-ld:null", "http://[::1", "@context", "*", "@none", "1e999", "-1", "NaN",
]
ENTITY_KEYS = ["type", "id", "idPattern", "attrs", "pick", "omit", "q", "scopeQ", "georel",
               "geometry", "coordinates", "geoproperty", "geometryProperty", "lang", "limit",
               "offset", "count", "options", "format"]
READ_PATHS = {  # path → the query parameters it reads
    f"{API}/entities": ENTITY_KEYS,
    f"{API}/entities/{SHELTER_ID}": ["attrs", "pick", "omit", "options", "format", "lang",
                                     "geometryProperty"],
    f"{API}/types": ["details"], f"{API}/types/EvacuationShelter": ["details"],
    f"{API}/attributes": ["details"], f"{API}/attributes/capacity": ["details"],
    f"{API}/jsonldContexts": ["details", "kind"],
}


@pytest.mark.parametrize("path", READ_PATHS)
def test_hostile_query_strings(client: TestClient, path: str) -> None:
    for key in READ_PATHS[path]:
        for value in HOSTILE_STRINGS:
            params = {key: value, **({} if key == "type" else {"type": "EvacuationShelter"})}
            response = client.get(path, params=params)
            _check(response, f"GET {path} {key}={value[:80]!r}")


geo_text = st.text(alphabet="nearmaxDistnc=;0123456789.,-[]ePointLygwhi ", max_size=40)
q_text = st.text(alphabet=st.sampled_from(list("capity<>=!~;|()\"'.[]0123456789,-xyz ")),
                 max_size=60)
headers_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=200)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(q=q_text, georel=geo_text, coordinates=geo_text,
       geometry=st.sampled_from(["Point", "Polygon", "LineString", "MultiPoint", "Box", ""]))
def test_generated_q_and_geo_queries(client: TestClient, q: str, georel: str,
                                     coordinates: str, geometry: str) -> None:
    params = {"type": "EvacuationShelter", "q": q, "georel": georel,
              "coordinates": coordinates, "geometry": geometry}
    _check(client.get(f"{API}/entities", params=params), f"GET /entities {params}")
    body = {"type": "Query", "q": q, "geoQ": {"georel": georel, "geometry": geometry,
                                              "coordinates": coordinates}}
    _check(client.post(f"{API}/entityOperations/query", json=body), f"POST query {body}")


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(link=headers_text, tenant=headers_text, accept=headers_text)
def test_generated_headers(client: TestClient, link: str, tenant: str, accept: str) -> None:
    headers = {"Link": link, "NGSILD-Tenant": tenant, "Accept": accept}
    response = client.get(f"{API}/entities/{SHELTER_ID}", headers=headers)
    _check(response, f"GET entity with headers {headers!r}")
    response = client.patch(f"{API}/entities/{SHELTER_ID}/attrs", json={"capacity": 3},
                             headers=headers)
    _check(response, f"PATCH attrs with headers {headers!r}")
