"""Tokens of an external issuer, for real: a second `cityos serve` process acts as the
issuer (its own built-in provider), the City OS under test is configured with its URL
and fetches its discovery document and JWKS over HTTP. Also the authorization code flow
with PKCE end to end over HTTP, a test client playing the browser."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pyotp
import pytest
from starlette.testclient import TestClient
from tests.e2e.server import ServerProcess
from tests.identity_support import identity_of, secure_client

REDIRECT = "http://127.0.0.1:9999/callback"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'<code class="secret">([^<]+)</code>')


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The external issuer: a real City OS process (development mode lets the test
    register clients through its admin API without signing in)."""
    server = ServerProcess(tmp_path_factory.mktemp("issuer") / "issuer.db")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def verifier(issuer: ServerProcess, tmp_path: Path) -> Iterator[TestClient]:
    """The City OS under test, trusting the issuer, security on."""
    with secure_client(f"sqlite:///{tmp_path / 'cityos.db'}", oidc_issuers=issuer.url,
                       identity_key_file=str(tmp_path / "identity.key")) as client:
        yield client


def register_client(issuer: ServerProcess, **body: object) -> dict[str, object]:
    answer = httpx.post(f"{issuer.url}/admin/oidc/clients", json=body, timeout=10)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def service_token(issuer: ServerProcess, client_id: str, roles: list[str]) -> str:
    registered = register_client(issuer, clientId=client_id, roles=roles)
    answer = httpx.post(f"{issuer.url}/oidc/token", data={"grant_type": "client_credentials"},
                        auth=(client_id, str(registered["clientSecret"])), timeout=10)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def call(client: TestClient, token: str) -> httpx.Response:
    return client.get("/auth/whoami", headers={"Authorization": f"Bearer {token}"})


def test_a_token_of_the_configured_issuer_is_accepted(issuer: ServerProcess,
                                                      verifier: TestClient) -> None:
    token = service_token(issuer, "river-sensors", ["sensor-writer"])
    answer = call(verifier, token)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"subject": f"{issuer.url}#client:river-sensors",
                             "kind": "client", "roles": ["sensor-writer"], "mfa": False,
                             "clientId": "river-sensors", "issuer": issuer.url}


def test_tokens_of_unconfigured_issuers_are_refused(issuer: ServerProcess,
                                                    tmp_path: Path) -> None:
    token = service_token(issuer, "stranger", [])
    with secure_client(f"sqlite:///{tmp_path / 'other.db'}",
                       identity_key_file=str(tmp_path / "k")) as untrusting:
        answer = call(untrusting, token)
    assert answer.status_code == 401
    assert "not accepted" in answer.json()["detail"]


def test_tampered_expired_and_unsigned_tokens_are_refused(issuer: ServerProcess,
                                                          verifier: TestClient) -> None:
    token = service_token(issuer, "tamper-test", ["reader"])
    assert call(verifier, token).status_code == 200
    header, payload, signature = token.split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["roles"] = ["admin"]
    tampered = f"{header}.{b64(orjson.dumps(claims))}.{signature}"
    assert call(verifier, tampered).status_code == 401
    unsigned = f"{b64(orjson.dumps({'alg': 'none', 'typ': 'JWT'}))}.{payload}."
    assert call(verifier, unsigned).status_code == 401
    hmac_forged = f"{b64(orjson.dumps({'alg': 'HS256', 'typ': 'JWT'}))}.{payload}.{signature}"
    assert call(verifier, hmac_forged).status_code == 401
    wrong_audience = dict(claims, aud="someone-else")
    assert call(verifier, f"{header}.{b64(orjson.dumps(wrong_audience))}.{signature}"
                ).status_code == 401
    identity_of(verifier).clock.offset += 3600  # the token expired an hour ago
    assert call(verifier, token).status_code == 401


def test_keys_rotated_at_the_issuer_are_fetched_again(issuer: ServerProcess,
                                                      verifier: TestClient) -> None:
    before = service_token(issuer, "rotation-test", [])
    assert call(verifier, before).status_code == 200
    rotated = httpx.post(f"{issuer.url}/admin/oidc/keys/rotate", json={}, timeout=10)
    assert rotated.status_code == 200
    after = httpx.post(f"{issuer.url}/oidc/token", data={"grant_type": "client_credentials"},
                       auth=("rotation-test", "x"), timeout=10)
    assert after.status_code == 401  # wrong secret: clients are checked
    token = service_token(issuer, "rotation-test-2", [])
    header = orjson.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == rotated.json()["kid"]
    identity_of(verifier).clock.offset += 11  # past the refetch guard
    assert call(verifier, token).status_code == 200
    assert call(verifier, before).status_code == 200  # old key still published


def browser_login(http: httpx.Client, username: str, password: str, next_path: str) -> None:
    page = http.get("/auth/login", params={"next": next_path})
    answer = http.post("/auth/login", data={"csrf_token": _CSRF.findall(page.text)[0],
                                            "username": username, "password": password,
                                            "next": next_path})
    assert answer.status_code == 303, answer.text
    page = http.get(answer.headers["location"])
    secret = _SECRET.findall(page.text)[0].replace(" ", "")
    answer = http.post("/auth/totp", data={"csrf_token": _CSRF.findall(page.text)[0],
                                           "code": pyotp.TOTP(secret).now(),
                                           "next": next_path})
    assert answer.status_code == 200 and 'class="codes"' in answer.text, answer.text
    # A one-time password: choose a new one before the session counts.
    page = http.get("/auth/password", params={"next": next_path})
    answer = http.post("/auth/password", data={
        "csrf_token": _CSRF.findall(page.text)[0], "current": password,
        "new": "my own password 2026", "again": "my own password 2026", "next": next_path})
    assert answer.status_code == 303 and answer.headers["location"] == next_path


def test_authorization_code_with_pkce_over_http(issuer: ServerProcess,
                                                verifier: TestClient) -> None:
    register_client(issuer, clientId="city-portal", public=True, redirectUris=[REDIRECT])
    created = httpx.post(f"{issuer.url}/admin/operators",
                         json={"username": "yamada", "roles": ["staff"]}, timeout=10)
    assert created.status_code == 201
    code_verifier = secrets.token_urlsafe(48)
    challenge = b64(hashlib.sha256(code_verifier.encode()).digest())
    authorize = {"response_type": "code", "client_id": "city-portal", "redirect_uri": REDIRECT,
                 "scope": "openid", "state": "s-1", "code_challenge": challenge,
                 "code_challenge_method": "S256"}
    with httpx.Client(base_url=issuer.url, timeout=10) as browser:
        first = browser.get("/oidc/authorize", params=authorize)
        assert first.status_code == 303
        login_path = first.headers["location"]
        next_path = parse_qs(urlsplit(login_path).query)["next"][0]
        assert next_path.startswith("/oidc/authorize?")
        browser_login(browser, "yamada", str(created.json()["oneTimePassword"]), next_path)
        back = browser.get(next_path)
        assert back.status_code == 303
        location = urlsplit(back.headers["location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
        code = parse_qs(location.query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "client_id": "city-portal", "code_verifier": code_verifier}
    wrong = httpx.post(f"{issuer.url}/oidc/token",
                       data={**exchange, "code_verifier": secrets.token_urlsafe(48)},
                       timeout=10)
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # The wrong verifier burnt the code: the right one comes too late.
    assert httpx.post(f"{issuer.url}/oidc/token", data=exchange,
                      timeout=10).status_code == 400


def test_code_is_single_use_over_http(issuer: ServerProcess, verifier: TestClient) -> None:
    register_client(issuer, clientId="single-use", public=True, redirectUris=[REDIRECT])
    created = httpx.post(f"{issuer.url}/admin/operators",
                         json={"username": "suzuki", "roles": ["staff"]}, timeout=10)
    code_verifier = secrets.token_urlsafe(48)
    challenge = b64(hashlib.sha256(code_verifier.encode()).digest())
    params = {"response_type": "code", "client_id": "single-use", "redirect_uri": REDIRECT,
              "code_challenge": challenge, "code_challenge_method": "S256", "nonce": "n"}
    with httpx.Client(base_url=issuer.url, timeout=10) as browser:
        next_path = parse_qs(urlsplit(browser.get("/oidc/authorize", params=params)
                                      .headers["location"]).query)["next"][0]
        browser_login(browser, "suzuki", str(created.json()["oneTimePassword"]), next_path)
        code = parse_qs(urlsplit(browser.get(next_path).headers["location"]).query)["code"][0]
    exchange = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
                "client_id": "single-use", "code_verifier": code_verifier}
    first = httpx.post(f"{issuer.url}/oidc/token", data=exchange, timeout=10)
    assert first.status_code == 200, first.text
    second = httpx.post(f"{issuer.url}/oidc/token", data=exchange, timeout=10)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    # The person's access token is accepted by the City OS trusting this issuer.
    me = call(verifier, first.json()["access_token"])
    assert me.status_code == 200, me.text
    assert me.json()["kind"] == "user" and me.json()["mfa"] is True
    assert me.json()["subject"] == f"{issuer.url}#operator:suzuki"
    assert me.json()["roles"] == ["staff"]
