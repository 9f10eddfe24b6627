"""The built-in OpenID Connect provider in-process: discovery, JWKS, client credentials,
key rotation, authorization code with PKCE, and the tokens it issues accepted as Bearer
credentials."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from starlette.testclient import TestClient
from tests.identity_support import add_operator, enrol, identity_of, secure_client

REDIRECT = "http://127.0.0.1:9999/callback"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with secure_client(f"sqlite:///{tmp_path / 'cityos.db'}",
                       identity_key_file=str(tmp_path / "identity.key")) as found:
        yield found


def new_client(client: TestClient, client_id: str, **options: object) -> str | None:
    identity = identity_of(client)
    _, secret = client.portal.call(  # type: ignore[union-attr]
        lambda: identity.clients.create(client_id, **options))  # type: ignore[arg-type]
    return secret


def client_credentials(client: TestClient, client_id: str, secret: str) -> str:
    answer = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                         auth=(client_id, secret))
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    return str(body["access_token"])


def jwt_part(token: str, index: int) -> dict[str, object]:
    part = token.split(".")[index]
    return dict(orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def whoami(client: TestClient, token: str) -> dict[str, object]:
    answer = client.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_discovery_document_points_at_the_endpoints(client: TestClient) -> None:
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == "http://127.0.0.1:1026"
    assert doc["jwks_uri"] == "http://127.0.0.1:1026/oidc/jwks"
    assert doc["token_endpoint"] == "http://127.0.0.1:1026/oidc/token"
    assert doc["code_challenge_methods_supported"] == ["S256"]
    keys = client.get("/oidc/jwks").json()["keys"]
    assert len(keys) == 1 and keys[0]["kty"] == "EC" and "d" not in keys[0]


def test_client_credentials_token_identifies_the_client(client: TestClient) -> None:
    secret = new_client(client, "shelter-app", roles=["shelter-writer"])
    assert secret is not None
    token = client_credentials(client, "shelter-app", secret)
    claims = jwt_part(token, 1)
    assert claims["iss"] == "http://127.0.0.1:1026" and claims["aud"] == "cityos"
    assert claims["sub"] == "client:shelter-app"
    assert whoami(client, token) == {"subject": "client:shelter-app", "kind": "client",
                                     "roles": ["shelter-writer"], "mfa": False,
                                     "clientId": "shelter-app",
                                     "issuer": "http://127.0.0.1:1026"}
    # Service tokens never reach the admin API.
    admin = client.get("/admin/operators", headers={"Authorization": f"Bearer {token}"})
    assert admin.status_code == 403


def test_client_secret_in_the_form_works_and_a_wrong_one_does_not(client: TestClient) -> None:
    secret = new_client(client, "svc")
    ok = client.post("/oidc/token", data={"grant_type": "client_credentials",
                                          "client_id": "svc", "client_secret": secret})
    assert ok.status_code == 200
    bad = client.post("/oidc/token", data={"grant_type": "client_credentials",
                                           "client_id": "svc", "client_secret": "nope"})
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"
    unknown = client.post("/oidc/token", data={"grant_type": "password"}, auth=("svc", secret))
    assert unknown.json()["error"] == "unsupported_grant_type"
    assert 'cityos_auth_failures_total{stage="oidc_client"} 1' in client.get("/metrics").text


def test_tokens_of_a_deleted_client_stop_working(client: TestClient) -> None:
    secret = new_client(client, "svc")
    assert secret is not None
    token = client_credentials(client, "svc", secret)
    identity = identity_of(client)
    client.portal.call(identity.clients.delete, "svc")  # type: ignore[union-attr]
    answer = client.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401


def test_key_rotation_old_tokens_valid_until_they_expire_new_ones_use_the_new_kid(
        client: TestClient) -> None:
    secret = new_client(client, "svc")
    assert secret is not None
    identity = identity_of(client)
    old_token = client_credentials(client, "svc", secret)
    old_kid = jwt_part(old_token, 0)["kid"]
    new_kid = client.portal.call(identity.keys.rotate)  # type: ignore[union-attr]
    assert new_kid != old_kid
    kids = [k["kid"] for k in client.get("/oidc/jwks").json()["keys"]]
    assert sorted(kids) == sorted([old_kid, new_kid])
    new_token = client_credentials(client, "svc", secret)
    assert jwt_part(new_token, 0)["kid"] == new_kid
    assert whoami(client, old_token)["subject"] == "client:svc"  # still valid
    identity.clock.offset += 700  # past the old token's lifetime + margin
    kids = [k["kid"] for k in client.get("/oidc/jwks").json()["keys"]]
    assert kids == [new_kid]
    refused = client.get("/auth/whoami", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401


def test_expired_and_tampered_own_tokens_are_refused(client: TestClient) -> None:
    secret = new_client(client, "svc", roles=["reader"])
    assert secret is not None
    token = client_credentials(client, "svc", secret)
    header, payload, signature = token.split(".")
    claims = jwt_part(token, 1)
    claims["roles"] = ["admin"]
    forged = base64.urlsafe_b64encode(orjson.dumps(claims)).rstrip(b"=").decode()
    for bad in (f"{header}.{forged}.{signature}", f"{header}.{payload}.{signature[:-4]}AAAA"):
        assert client.get("/auth/whoami",
                          headers={"Authorization": f"Bearer {bad}"}).status_code == 401
    identity_of(client).clock.offset += 601 + 30
    assert client.get("/auth/whoami",
                      headers={"Authorization": f"Bearer {token}"}).status_code == 401


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize(client: TestClient, challenge: str) -> str:
    answer = client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT,
        "scope": "openid", "state": "xyz", "nonce": "n-1", "code_challenge": challenge,
        "code_challenge_method": "S256"})
    assert answer.status_code == 303, answer.text
    location = urlsplit(answer.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def test_authorization_code_with_pkce_in_process(client: TestClient) -> None:
    new_client(client, "portal", public=True, redirect_uris=[REDIRECT])
    verifier, challenge = pkce_pair()
    # Not signed in: the authorize request sends the browser to the login page first.
    first = client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    assert first.headers["location"].startswith("/auth/login?next=%2Foidc%2Fauthorize")
    add_operator(client, "alice", ["admin"])
    enrol(client, "alice")
    code = authorize(client, challenge)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "client_id": "portal", "code_verifier": verifier}
    answer = client.post("/oidc/token", data=exchange)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    id_claims = jwt_part(body["id_token"], 1)
    assert id_claims["aud"] == "portal" and id_claims["nonce"] == "n-1"
    assert id_claims["sub"] == "operator:alice"
    me = whoami(client.__class__(client.app, base_url=str(client.base_url)),
                body["access_token"])
    assert me["kind"] == "user" and me["subject"] == "http://127.0.0.1:1026#operator:alice"
    assert me["mfa"] is True and me["roles"] == ["admin"]
    again = client.post("/oidc/token", data=exchange)  # a code works once
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_wrong_code_verifier_is_refused_and_burns_the_code(client: TestClient) -> None:
    new_client(client, "portal", public=True, redirect_uris=[REDIRECT])
    add_operator(client, "alice", [])
    enrol(client, "alice")
    verifier, challenge = pkce_pair()
    code = authorize(client, challenge)
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "client_id": "portal", "code_verifier": secrets.token_urlsafe(48)}
    wrong = client.post("/oidc/token", data=exchange)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    right = client.post("/oidc/token", data={**exchange, "code_verifier": verifier})
    assert right.status_code == 400


def test_authorize_refuses_unregistered_redirects_and_missing_pkce(client: TestClient) -> None:
    new_client(client, "portal", public=True, redirect_uris=[REDIRECT])
    evil = client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": "portal",
        "redirect_uri": "https://evil.example/cb", "code_challenge": "x" * 43,
        "code_challenge_method": "S256"})
    assert evil.status_code == 400 and "location" not in evil.headers
    plain = client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT,
        "code_challenge": "x" * 43, "code_challenge_method": "plain"})
    assert "error=invalid_request" in plain.headers["location"]


def test_password_only_session_gets_no_code(client: TestClient) -> None:
    new_client(client, "portal", public=True, redirect_uris=[REDIRECT])
    add_operator(client, "alice", [])
    from tests.identity_support import submit_password
    submit_password(client, "alice")
    _, challenge = pkce_pair()
    answer = client.get("/oidc/authorize", params={
        "response_type": "code", "client_id": "portal", "redirect_uri": REDIRECT,
        "code_challenge": challenge, "code_challenge_method": "S256"})
    assert answer.headers["location"].startswith("/auth/login?")
