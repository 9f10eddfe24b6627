"""The identity admin API, as an administrator signed in with both factors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.identity_support import (
    add_operator,
    enrol,
    identity_of,
    secure_client,
    submit_password,
)

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[TestClient]:
    with secure_client(f"sqlite:///{tmp_path / 'cityos.db'}",
                       identity_key_file=str(tmp_path / "identity.key")) as client:
        add_operator(client, "root", ["admin"])
        enrol(client, "root")
        yield client


def test_create_list_disable_and_enable_operators(admin: TestClient) -> None:
    created = admin.post("/admin/operators", json={"username": "sato", "roles": ["staff"]})
    assert created.status_code == 201
    body = created.json()
    assert body["username"] == "sato" and body["enrolled"] is False
    assert len(body["oneTimePassword"]) >= 20
    assert "password_hash" not in str(admin.get("/admin/operators").json())
    duplicate = admin.post("/admin/operators", json={"username": "sato"})
    assert duplicate.status_code == 409
    bad = admin.post("/admin/operators", json={"username": "Not Valid!"})
    assert bad.status_code == 400
    # The one-time password works for the new operator.
    other = TestClient(admin.app, base_url=str(admin.base_url), follow_redirects=False)
    assert submit_password(other, "sato", body["oneTimePassword"]).status_code == 303
    assert admin.post("/admin/operators/sato/disable", json={}).json()["disabled"] is True
    assert other.get("/auth/whoami").json()["kind"] == "anonymous"  # session ended
    assert submit_password(other, "sato", body["oneTimePassword"]).status_code == 401
    assert admin.post("/admin/operators/sato/enable", json={}).json()["disabled"] is False
    assert submit_password(other, "sato", body["oneTimePassword"]).status_code == 303
    assert admin.post("/admin/operators/nobody/disable", json={}).status_code == 404


def test_reset_totp_makes_the_operator_enrol_again(admin: TestClient) -> None:
    add_operator(admin, "kato", [])
    other = TestClient(admin.app, base_url=str(admin.base_url), follow_redirects=False)
    enrol(other, "kato")
    answer = admin.post("/admin/operators/kato/reset-totp", json={})
    assert answer.status_code == 200 and answer.json()["enrolled"] is False
    assert other.get("/auth/whoami").json()["kind"] == "anonymous"
    identity_of(admin).clock.offset += 30
    secret, codes = enrol(other, "kato")  # the QR enrolment again
    assert secret and len(codes) == 10


def test_oidc_clients_secret_shown_once(admin: TestClient) -> None:
    created = admin.post("/admin/oidc/clients",
                         json={"clientId": "shelter-app", "roles": ["shelter-writer"]})
    assert created.status_code == 201
    secret = created.json()["clientSecret"]
    listed = admin.get("/admin/oidc/clients").json()
    assert listed[0]["clientId"] == "shelter-app" and "clientSecret" not in listed[0]
    assert secret not in str(listed)
    token = admin.post("/oidc/token", data={"grant_type": "client_credentials"},
                       auth=("shelter-app", secret))
    assert token.status_code == 200
    bad_uri = admin.post("/admin/oidc/clients", json={
        "clientId": "web", "public": True, "redirectUris": ["http://evil.example/cb"]})
    assert bad_uri.status_code == 400
    assert admin.delete("/admin/oidc/clients/shelter-app").status_code == 204
    assert admin.delete("/admin/oidc/clients/shelter-app").status_code == 404


def test_rotate_keys(admin: TestClient) -> None:
    before = [k["kid"] for k in admin.get("/oidc/jwks").json()["keys"]]
    kid = admin.post("/admin/oidc/keys/rotate", json={}).json()["kid"]
    after = [k["kid"] for k in admin.get("/oidc/jwks").json()["keys"]]
    assert kid not in before and sorted(after) == sorted([*before, kid])


def test_admin_posts_must_be_json(admin: TestClient) -> None:
    # A cross-site HTML form can only send form encodings: refused.
    answer = admin.post("/admin/oidc/keys/rotate", data={"a": "b"})
    assert answer.status_code == 415
    malformed = admin.post("/admin/operators", content=b"{", headers=JSON)
    assert malformed.status_code == 400


def test_everything_under_admin_is_closed_to_anonymous_callers(tmp_path: Path) -> None:
    with secure_client(f"sqlite:///{tmp_path / 'x.db'}",
                       identity_key_file=str(tmp_path / "k")) as client:
        for method, path in [("GET", "/admin/operators"), ("POST", "/admin/operators"),
                             ("POST", "/admin/operators/a/disable"),
                             ("GET", "/admin/oidc/clients"), ("POST", "/admin/oidc/clients"),
                             ("DELETE", "/admin/oidc/clients/x"),
                             ("POST", "/admin/oidc/keys/rotate")]:
            answer = client.request(method, path, headers=JSON, content=b"{}")
            assert answer.status_code == 401, path
            assert answer.json()["type"].endswith("Unauthenticated") or answer.json()["title"]


def test_reset_password_gives_a_new_one_time_password(admin: TestClient) -> None:
    add_operator(admin, "ito", ["staff"])
    other = TestClient(admin.app, base_url=str(admin.base_url), follow_redirects=False)
    enrol(other, "ito")
    answer = admin.post("/admin/operators/ito/reset-password", json={})
    assert answer.status_code == 200 and answer.json()["mustChangePassword"] is True
    assert other.get("/auth/whoami").json()["kind"] == "anonymous"  # sessions ended
    assert submit_password(other, "ito").status_code == 401  # the old password is gone
    assert submit_password(other, "ito", answer.json()["oneTimePassword"]).status_code == 303
