"""The OpenAPI document: valid OpenAPI 3.1, in step with the routes the app serves, and true
to real responses. /docs renders it without loading anything from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.routing import BaseRoute, Mount, Route
from starlette.testclient import TestClient

from cityos.api import openapi
from cityos.app import build_app
from cityos.config import load_settings

API = "/ngsi-ld/v1"
SHELTER = "urn:ngsi-ld:EvacuationShelter:kaga-001"
REQUIRED_PARAMETERS = {"type", "id", "idPattern", "attrs", "pick", "omit", "q", "scopeQ",
                       "georel", "geometry", "coordinates", "geoproperty", "geometryProperty",
                       "lang", "limit", "offset", "count", "options", "format", "details",
                       "kind", "datasetId", "deleteAll", "reload", "NGSILD-Tenant"}

# Routes that exist only to answer a precise error (no entity id, method not allowed); they
# are not operations, so the document leaves them out.
REFUSALS = {("PUT", f"{API}/entities"), ("PATCH", f"{API}/entities"),
            ("GET", f"{API}/entities/{{}}/attrs"), ("PUT", f"{API}/entities/{{}}/attrs"),
            ("DELETE", f"{API}/entities/{{}}/attrs"),
            # an empty attribute name in a temporal instance path: refused with 400
            ("DELETE", f"{API}/temporal/entities/{{}}/attrs//{{}}")}


def app_with_openapi(database: Path) -> Starlette:
    """The City OS app; the OpenAPI routes are added here only if app.py does not yet."""
    app = build_app(load_settings({"database_url": f"sqlite:///{database}", "dev": True},
                                  environ={}))
    if not any(getattr(route, "path", None) == "/openapi.json" for route in app.router.routes):
        app.router.routes.extend(openapi.routes)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Starlette:
    return app_with_openapi(tmp_path / "cityos.db")


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:1026") as test_client:
        yield test_client


def served_operations(routes: list[BaseRoute], prefix: str = "") -> set[tuple[str, str]]:
    """(METHOD, path template) of every endpoint, path parameters written as {}."""
    found: set[tuple[str, str]] = set()
    for route in routes:
        if isinstance(route, Mount):
            found |= served_operations(list(route.routes), prefix + route.path)
        elif isinstance(route, Route):
            path = re.sub(r"\{[^}]+\}", "{}", prefix + route.path)
            found |= {(m, path) for m in route.methods or () if m != "HEAD"}
    return found


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
            for path, item in document["paths"].items() for method in item}


def shelter() -> dict[str, Any]:
    return {"id": SHELTER, "type": "EvacuationShelter",
            "name": {"type": "Property", "value": "加賀市立錦城小学校"},
            "capacity": {"type": "Property", "value": 500},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [136.308189, 36.307739]}}}


def conforms(document: dict[str, Any], schema: dict[str, Any], instance: Any) -> list[str]:
    """Errors of `instance` against a schema of the document ($refs resolve in it)."""
    validator = Draft202012Validator({**schema, "components": document["components"]})
    return [error.message for error in validator.iter_errors(instance)]


def test_document_is_valid_openapi_3_1() -> None:
    document = openapi.openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_served_route_is_documented_and_vice_versa(app: Starlette) -> None:
    # Apps' routes (pages, their own JSON) are documented by each app, not in this document;
    # platform services' routes (identity, IoT) are.
    apps = served_operations([route for plugin in app.state.plugins
                              if not plugin.in_platform_openapi
                              for route in plugin.routes(app.state.platform)])
    served = served_operations(list(app.router.routes)) - REFUSALS - apps
    documented = documented_operations(openapi.openapi_document())
    assert served - documented == set(), "served but not documented"
    assert documented - served == set(), "documented but not served"


def test_parameters_and_problem_responses_are_described() -> None:
    document = openapi.openapi_document()
    names = {p["name"] for p in document["components"]["parameters"].values()}
    assert names >= REQUIRED_PARAMETERS
    responses = document["components"]["responses"]
    for code in ("400", "404", "406", "409", "413", "415", "422", "504"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ProblemDetails"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["summary"] and operation["tags"], (method, path)
            if path.startswith(API):
                assert "400" in operation["responses"], (method, path)
            for ref in operation.get("parameters", []):
                assert ref["$ref"].removeprefix("#/components/parameters/") in \
                    document["components"]["parameters"]


def test_openapi_json_is_served(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(openapi.OPENAPI_MEDIA_TYPE)
    assert response.json() == openapi.openapi_document()


def test_docs_page_lists_every_operation_without_external_assets(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    for tag in ("<script", "<link", "src=", "@import", "url("):
        assert tag not in page
    for path, item in openapi.openapi_document()["paths"].items():
        for method in item:
            assert f">{method.upper()}</span> <code>{path}</code>" in page


def test_real_responses_match_their_documented_schemas(client: TestClient) -> None:
    document = openapi.openapi_document()
    paths, schemas = document["paths"], document["components"]["schemas"]
    assert client.post(f"{API}/entities", json=shelter()).status_code == 201
    checks: list[tuple[str, str, str, dict[str, Any]]] = [
        ("get", f"{API}/entities/{{entityId}}", f"{API}/entities/{SHELTER}", {}),
        ("get", f"{API}/entities/{{entityId}}", f"{API}/entities/{SHELTER}",
         {"Accept": "application/geo+json"}),
        ("get", f"{API}/entities", f"{API}/entities?type=EvacuationShelter", {}),
        ("get", f"{API}/types", f"{API}/types", {}),
        ("get", f"{API}/types", f"{API}/types?details=true", {}),
        ("get", f"{API}/types/{{typeName}}", f"{API}/types/EvacuationShelter", {}),
        ("get", f"{API}/attributes", f"{API}/attributes?details=true", {}),
        ("get", f"{API}/attributes/{{attrId}}", f"{API}/attributes/capacity", {}),
        ("get", f"{API}/jsonldContexts", f"{API}/jsonldContexts?details=true", {}),
        ("get", "/health", "/health", {}),
    ]
    for method, template, url, headers in checks:
        response = client.request(method.upper(), url, headers=headers)
        assert response.status_code == 200, (url, response.text)
        media = response.headers["content-type"].split(";")[0]
        schema = paths[template][method]["responses"]["200"]["content"][media]["schema"]
        assert conforms(document, schema, response.json()) == [], url
    missing = client.get(f"{API}/entities/urn:ngsi-ld:EvacuationShelter:none")
    assert missing.status_code == 404
    assert conforms(document, schemas["ProblemDetails"], missing.json()) == []
    batch = client.post(f"{API}/entityOperations/create", json=[shelter(), {"id": "x"}])
    assert batch.status_code == 207
    assert conforms(document, schemas["BatchOperationResult"], batch.json()) == []
