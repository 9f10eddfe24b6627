"""Over the real ASGI app: every API call audited with its caller, operation template,
tenant, purpose and result; rate limits per caller and per IP (429 + Retry-After);
security headers; the body limit on every route; error counters on /metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security.authentication import AuthenticationMiddleware, Scope, header
from cityos.security.principal import Principal

ENTITY = {"id": "urn:ngsi-ld:EvacuationShelter:audit-1", "type": "EvacuationShelter",
          "name": {"type": "Property", "value": "大聖寺地区会館"}}
JSON = {"Content-Type": "application/json"}


class HeaderAuthenticator:
    """Test-only: the caller named by an X-Test-Subject header is a client."""

    async def authenticate(self, scope: Scope) -> Principal | None:
        subject = header(scope, b"x-test-subject")
        if subject is None:
            return None
        return Principal(subject=subject, kind="client", client_id=subject.split(":")[-1],
                         issuer="test")


def with_test_authenticator(app: Starlette) -> Starlette:
    for middleware in app.user_middleware:
        if middleware.cls is AuthenticationMiddleware:
            middleware.kwargs["authenticators"].append(HeaderAuthenticator())
    return app


def make_client(tmp_path: Path, **overrides: Any) -> TestClient:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}", "dev": True,
                              **overrides}, environ={})
    return TestClient(with_test_authenticator(build_app(settings)),
                      base_url="http://127.0.0.1:1026")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as test_client:
        yield test_client


def audit_records(client: TestClient) -> list[dict[str, Any]]:
    trail = client.app.state.audit  # type: ignore[attr-defined]

    async def collect() -> list[dict[str, Any]]:
        return [record async for record in trail.export()]

    return list(client.portal.call(collect))  # type: ignore[union-attr]


def test_each_api_call_is_audited_with_caller_operation_and_result(client: TestClient) -> None:
    access = client.app.state.access  # type: ignore[attr-defined]
    client.portal.call(access.grant, {"audience": "subject:client:shelter-app",
                                      "operations": ["read", "write"], "tenant": "kaga"})
    created = client.post("/ngsi-ld/v1/entities", content=orjson.dumps(ENTITY),
                          headers={**JSON, "X-Test-Subject": "client:shelter-app",
                                   "X-Purpose": "shelter-operations",
                                   "NGSILD-Tenant": "kaga"})
    assert created.status_code == 201
    assert created.headers["x-request-id"]
    patched = client.patch(f"/ngsi-ld/v1/entities/{ENTITY['id']}/attrs",
                           content=orjson.dumps({"status": {"type": "Property",
                                                            "value": "open"}}),
                           headers={**JSON, "X-Request-Id": "incident-7",
                                    "NGSILD-Tenant": "kaga"})
    assert patched.status_code == 204
    missing = client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:none")
    assert missing.status_code == 404
    client.get("/health")
    records = audit_records(client)
    assert [r["operation"] for r in records] == [
        "POST /ngsi-ld/v1/entities",
        "PATCH /ngsi-ld/v1/entities/{entity_id}/attrs",
        "GET /ngsi-ld/v1/entities/{entity_id}"]
    create, patch, get = records
    assert (create["subject"], create["kind"], create["clientId"], create["tenant"],
            create["purpose"], create["result"]) == \
        ("client:shelter-app", "client", "shelter-app", "kaga", "shelter-operations", "201")
    assert create["requestId"] == created.headers["x-request-id"]
    assert (patch["subject"], patch["target"], patch["requestId"], patch["result"]) == \
        ("developer", ENTITY["id"], "incident-7", "204")
    assert (get["target"], get["result"], get["remote"]) == \
        ("urn:ngsi-ld:Thing:none", "404", "testclient")


def test_audit_off_records_nothing(tmp_path: Path) -> None:
    with make_client(tmp_path, audit=False) as client:
        client.get("/ngsi-ld/v1/types")
        assert not client.app.state.audit.enabled  # type: ignore[attr-defined]


def test_rate_limit_per_caller_answers_429_with_retry_after(tmp_path: Path) -> None:
    with make_client(tmp_path, rate_limit_client=0.01, rate_limit_client_burst=2) as client:
        alice = {"X-Test-Subject": "client:alice"}
        assert [client.get("/ngsi-ld/v1/types", headers=alice).status_code
                for _ in range(2)] == [200, 200]
        refused = client.get("/ngsi-ld/v1/types", headers=alice)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.json()["type"].endswith("TooManyRequests")
        assert client.get("/ngsi-ld/v1/types",
                          headers={"X-Test-Subject": "client:bob"}).status_code == 200
        assert client.get("/health").status_code == 200
        metrics = client.get("/metrics").text
        assert 'cityos_rate_limited_total{limit="client"} 1' in metrics
        assert 'cityos_http_errors_total{status="429"} 1' in metrics


def test_rate_limit_per_ip(tmp_path: Path) -> None:
    with make_client(tmp_path, rate_limit_ip=0.01, rate_limit_ip_burst=3) as client:
        codes = [client.get("/ngsi-ld/v1/types").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert [client.get("/health").status_code for _ in range(5)] == [200] * 5


def test_security_headers_on_pages_and_hsts_only_over_tls(client: TestClient) -> None:
    own = client.get("/docs")  # a page with its own stricter policy keeps it
    assert own.headers["content-security-policy"].startswith("default-src 'none'")
    assert "frame-ancestors 'none'" in own.headers["content-security-policy"]
    page = client.get("/ngsi-ld/v1/types")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert page.headers["x-frame-options"] == "DENY"
    assert "camera=()" in page.headers["permissions-policy"]
    assert "strict-transport-security" not in page.headers
    proxied = client.get("/docs", headers={"X-Forwarded-Proto": "https"})
    assert proxied.headers["strict-transport-security"].startswith("max-age=")


def test_body_limit_holds_on_every_route(tmp_path: Path) -> None:
    with make_client(tmp_path, max_body_bytes=100) as client:
        big = orjson.dumps({**ENTITY, "description": {"type": "Property", "value": "x" * 200}})
        for path in ("/ngsi-ld/v1/entities", "/ngsi-ld/v1/entityOperations/upsert",
                     "/no/such/route", "/health"):
            answer = client.post(path, content=big, headers=JSON)
            assert answer.status_code == 413, path
            assert answer.json()["type"].endswith("PayloadTooLarge")


def test_chunked_bodies_are_refused_before_reading(client: TestClient) -> None:
    def chunks() -> Iterator[bytes]:
        yield orjson.dumps(ENTITY)

    answer = client.post("/ngsi-ld/v1/entities", content=chunks(), headers=JSON)
    assert answer.status_code == 411


def test_error_counters_on_metrics(client: TestClient) -> None:
    client.get("/ngsi-ld/v1/entities/urn:ngsi-ld:Thing:none")
    client.post("/ngsi-ld/v1/entities", content=b"{", headers=JSON)
    metrics = client.get("/metrics").text
    assert 'cityos_http_errors_total{status="404"} 1' in metrics
    assert 'cityos_http_errors_total{status="400"} 1' in metrics
