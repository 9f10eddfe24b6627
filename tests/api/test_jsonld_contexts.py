"""The JSON-LD @context API over the real ASGI app (ETSI GS CIM 009 §5.13, §6.30, §6.31)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
CONTEXTS = f"{API}/jsonldContexts"
CORE_V16 = "https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.6.jsonld"
ERR = "https://uri.etsi.org/ngsi-ld/errors/"
UNREACHABLE = "http://127.0.0.1:9/ctx.jsonld"  # nothing listens on the discard port
TERMS = {"@context": {"A1": "urn:ngsi-ld:attributes:A1", "A2": "urn:ngsi-ld:attributes:A2"}}


def add(client: TestClient, document: Any, tenant: str | None = None) -> str:
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    response = client.post(CONTEXTS, json=document, headers=headers)
    assert response.status_code == 201, response.text
    location: str = response.headers["location"]
    assert location.startswith(CONTEXTS + "/urn:ngsi-ld:jsonldContext:")
    return location.rsplit("/", 1)[1]


def problem_type(response: Any) -> str:
    kind: str = response.json()["type"]
    return kind.removeprefix(ERR)


@pytest.fixture
def context_server() -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """Serves TERMS at /ctx.jsonld on 127.0.0.1 until shut down."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(TERMS).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/ctx.jsonld", httpd
    httpd.shutdown()
    httpd.server_close()


# -- Add @context (§5.13.2) ------------------------------------------------------------------

def test_add_requires_an_object_with_an_at_context_member(client: TestClient) -> None:
    response = client.post(CONTEXTS, json=TERMS["@context"])
    assert response.status_code == 400 and problem_type(response) == "InvalidRequest"


@pytest.mark.parametrize("value", [7, True, None, "not a URL", [UNREACHABLE, 7]])
def test_add_rejects_invalid_context_values_before_fetching(client: TestClient,
                                                            value: Any) -> None:
    response = client.post(CONTEXTS, json={"@context": value})
    assert response.status_code == 400 and problem_type(response) == "BadRequestData"
    assert "location" not in response.headers
    assert client.get(CONTEXTS, params={"kind": "Hosted"}).json() == []


def test_add_does_not_fail_on_unreachable_referenced_contexts(client: TestClient) -> None:
    local_id = add(client, {"@context": [UNREACHABLE, TERMS["@context"]]})
    details = client.get(f"{CONTEXTS}/{local_id}", params={"details": "true"}).json()
    assert details["kind"] == "Hosted" and details["numberOfHits"] == 0
    assert client.get(f"{CONTEXTS}/{local_id}").json() == {"@context": [UNREACHABLE,
                                                                        TERMS["@context"]]}


# -- using a Hosted @context ---------------------------------------------------------------

def test_relative_context_reference_resolves_against_the_request_url(
        client: TestClient) -> None:
    local_id = add(client, TERMS)
    location = f"{CONTEXTS}/{local_id}"  # as the Location header gives it: a relative URL
    entity = {"id": "urn:ngsi-ld:Testing:1", "type": "Testing", "A1": "one", "@context": location}
    created = client.post(f"{API}/entities", json=entity,
                          headers={"Content-Type": "application/ld+json"})
    assert created.status_code == 201, created.text
    details = client.get(location, params={"details": "true"}).json()
    assert details["numberOfHits"] == 1
    hosted_url = details["URL"]
    assert hosted_url.startswith("http") and hosted_url.endswith(location)
    got = client.get(f"{API}/entities/urn:ngsi-ld:Testing:1", headers={
        "Link": f'<{hosted_url}>; rel="http://www.w3.org/ns/json-ld#context"; '
                f'type="application/ld+json"'})
    assert got.json()["A1"] == {"type": "Property", "value": "one"}


# -- Tenants (§5.5.10) ---------------------------------------------------------------------

def test_hosted_contexts_are_per_tenant(client: TestClient) -> None:
    local_id = add(client, TERMS, tenant="kagaA")
    other = {"NGSILD-Tenant": "kagaB"}
    assert client.get(f"{CONTEXTS}/{local_id}", headers=other).status_code == 404
    details = client.get(f"{CONTEXTS}/{local_id}", params={"details": "true"}, headers=other)
    assert details.status_code == 404
    for params in ({}, {"details": "true"}):
        listed = client.get(CONTEXTS, params=params, headers=other)
        assert listed.status_code == 200 and local_id not in listed.text
    assert local_id not in client.get(CONTEXTS).text  # nor in the default Tenant
    assert client.delete(f"{CONTEXTS}/{local_id}", headers=other).status_code == 404
    owner = {"NGSILD-Tenant": "kagaA"}
    assert client.get(f"{CONTEXTS}/{local_id}", headers=owner).json() == TERMS
    assert client.delete(f"{CONTEXTS}/{local_id}", headers=owner).status_code == 204


def test_another_tenants_hosted_context_cannot_be_used(client: TestClient) -> None:
    local_id = add(client, TERMS, tenant="kagaA")
    entity = {"id": "urn:ngsi-ld:Testing:2", "type": "Testing",
              "@context": f"http://127.0.0.1:1026{CONTEXTS}/{local_id}"}
    response = client.post(f"{API}/entities", json=entity,
                           headers={"Content-Type": "application/ld+json",
                                    "NGSILD-Tenant": "kagaB"})
    assert problem_type(response) == "LdContextNotAvailable"


# -- Delete and Reload @context (§5.13.5) ------------------------------------------------

def test_core_context_cannot_be_deleted_but_reload_is_accepted(client: TestClient) -> None:
    core = quote(CORE_V16, safe="")
    for params in ({}, {"reload": "false"}):
        response = client.delete(f"{CONTEXTS}/{core}", params=params)
        assert response.status_code == 400 and problem_type(response) == "BadRequestData"
    details = client.get(f"{CONTEXTS}/{core}", params={"details": "true"})
    assert details.status_code == 200 and details.json()["kind"] == "Cached"
    assert client.delete(f"{CONTEXTS}/{core}", params={"reload": "true"}).status_code == 204


@pytest.mark.parametrize(("reload", "status", "error"), [
    ("true", 400, "BadRequestData"), ("false", 404, "ResourceNotFound"),
    (None, 404, "ResourceNotFound"), ("xxx", 400, "BadRequestData")])
def test_delete_unknown_context(client: TestClient, reload: str | None, status: int,
                                error: str) -> None:
    params = {} if reload is None else {"reload": reload}
    response = client.delete(f"{CONTEXTS}/wrong_id_context", params=params)
    assert response.status_code == status and problem_type(response) == error


def test_failed_reload_is_504_and_keeps_the_cached_context(
        client: TestClient, context_server: tuple[str, ThreadingHTTPServer]) -> None:
    url, httpd = context_server
    entity = {"id": "urn:ngsi-ld:Testing:3", "type": "Testing", "A1": 1, "@context": url}
    assert client.post(f"{API}/entities", json=entity,
                       headers={"Content-Type": "application/ld+json"}).status_code == 201
    by_url = f"{CONTEXTS}/{quote(url, safe='')}"
    assert client.get(by_url, params={"details": "true"}).json()["kind"] == "Cached"
    assert client.delete(by_url, params={"reload": "true"}).status_code == 204
    httpd.shutdown()
    httpd.server_close()
    response = client.delete(by_url, params={"reload": "true"})
    assert response.status_code == 504 and problem_type(response) == "LdContextNotAvailable"
    assert client.get(by_url, params={"details": "true"}).json()["kind"] == "Cached"
    assert client.delete(by_url).status_code == 204
    assert client.get(by_url, params={"details": "true"}).status_code == 404
