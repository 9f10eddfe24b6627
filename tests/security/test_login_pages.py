"""Operator login over HTTP: password, TOTP enrolment by QR code, recovery codes,
sessions, CSRF, open redirects, lockout; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.identity_support import (
    PASSWORD,
    add_operator,
    csrf_of,
    enrol,
    enrolment_secret,
    identity_of,
    login,
    secure_client,
    submit_code,
    submit_password,
    totp_now,
)
from tests.postgres_support import fresh_schema

from cityos.security.events import ADMIN_TENANT
from cityos.storage.base import EntityQuery


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    settings = {"identity_key_file": str(tmp_path / "identity.key"),
                "login_lockout_threshold": 3}
    if request.param == "sqlite":
        with secure_client(f"sqlite:///{tmp_path / 'cityos.db'}", **settings) as found:
            yield found
        return
    with fresh_schema() as url, secure_client(url, **settings) as found:
        yield found


def test_first_login_enrols_totp_and_shows_recovery_codes(client: TestClient) -> None:
    add_operator(client, "alice", ["admin"])
    answer = submit_password(client, "alice")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/auth/totp?")
    page = client.get("/auth/totp")
    assert "<svg" in page.text and "QR" in page.text  # enrolment shows the QR code
    secret, codes = enrol(client, "alice")
    assert len(codes) == 10 and len(set(codes)) == 10
    me = client.get("/auth/whoami").json()
    assert me == {"subject": "operator:alice", "kind": "operator", "roles": ["admin"],
                  "mfa": True, "clientId": None, "issuer": None}
    stored = client.portal.call(identity_of(client).records.get_record,  # type: ignore[union-attr]
                                "operator", "alice")
    assert secret not in str(stored)  # the TOTP secret is stored sealed


def test_session_cookie_flags(client: TestClient) -> None:
    add_operator(client, "alice", [])
    answer = submit_password(client, "alice")
    cookie = answer.headers["set-cookie"].lower()
    assert "cityos_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http here; over https the cookie is Secure


def test_password_only_session_cannot_reach_admin_endpoints(client: TestClient) -> None:
    add_operator(client, "alice", ["admin"])
    assert submit_password(client, "alice").status_code == 303
    me = client.get("/auth/whoami").json()
    assert me["kind"] == "operator" and me["mfa"] is False and me["roles"] == []
    for method, path in [("GET", "/admin/operators"), ("GET", "/admin/oidc/clients"),
                         ("POST", "/admin/oidc/keys/rotate")]:
        answer = client.request(method, path, headers={"Content-Type": "application/json"})
        assert answer.status_code == 403, (path, answer.text)
        assert answer.json()["type"].endswith("Forbidden") or "title" in answer.json()


def test_anonymous_gets_401_and_admin_with_both_factors_gets_through(
        client: TestClient) -> None:
    assert client.get("/admin/operators").status_code == 401
    add_operator(client, "alice", ["admin"])
    enrol(client, "alice")
    listed = client.get("/admin/operators")
    assert listed.status_code == 200
    assert listed.json()[0]["username"] == "alice" and listed.json()[0]["enrolled"] is True


def test_operator_without_admin_role_is_forbidden(client: TestClient) -> None:
    add_operator(client, "bob", ["staff"])
    enrol(client, "bob")
    assert client.get("/admin/operators").status_code == 403


def test_wrong_totp_is_refused_and_the_same_code_is_not_accepted_twice(
        client: TestClient) -> None:
    add_operator(client, "alice", [])
    secret, _ = enrol(client, "alice")
    client.post("/auth/logout", data={"csrf_token": csrf_of(client.get("/auth/account").text)})
    identity_of(client).clock.offset += 30
    assert submit_password(client, "alice").status_code == 303
    code = totp_now(client, secret)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert submit_code(client, wrong).status_code == 401
    assert submit_code(client, code).status_code == 303
    client.cookies.clear()
    assert submit_password(client, "alice").status_code == 303
    replay = submit_code(client, code)  # same step, same code: refused
    assert replay.status_code == 401
    assert client.get("/auth/whoami").json()["mfa"] is False


def test_recovery_code_works_once(client: TestClient) -> None:
    add_operator(client, "alice", ["admin"])
    _, codes = enrol(client, "alice")
    client.cookies.clear()
    assert submit_password(client, "alice").status_code == 303
    assert submit_code(client, codes[0].upper().replace("-", " ")).status_code == 303
    assert client.get("/auth/whoami").json()["mfa"] is True
    client.cookies.clear()
    assert submit_password(client, "alice").status_code == 303
    assert submit_code(client, codes[0]).status_code == 401


def test_logout_ends_the_session(client: TestClient) -> None:
    add_operator(client, "alice", [])
    enrol(client, "alice")
    page = client.get("/auth/account")
    assert page.status_code == 200 and "alice" in page.text
    answer = client.post("/auth/logout", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 303
    assert client.get("/auth/whoami").json()["kind"] == "anonymous"


def test_form_posts_without_or_with_a_wrong_csrf_token_are_refused(
        client: TestClient) -> None:
    add_operator(client, "alice", [])
    client.get("/auth/login")  # sets the CSRF cookie
    form = {"username": "alice", "password": PASSWORD, "next": "/auth/account"}
    assert client.post("/auth/login", data=form).status_code == 403
    assert client.post("/auth/login",
                       data={**form, "csrf_token": "x" * 43}).status_code == 403
    assert client.get("/auth/whoami").json()["kind"] == "anonymous"
    fresh = TestClient(client.app, base_url=str(client.base_url), follow_redirects=False)
    token = csrf_of(client.get("/auth/login").text)
    # The right token without its cookie (another browser) is refused too.
    assert fresh.post("/auth/login", data={**form, "csrf_token": token}).status_code == 403


def test_cross_site_origin_is_refused(client: TestClient) -> None:
    add_operator(client, "alice", [])
    token = csrf_of(client.get("/auth/login").text)
    answer = client.post("/auth/login", headers={"Origin": "https://evil.example"},
                         data={"username": "alice", "password": PASSWORD,
                               "csrf_token": token})
    assert answer.status_code == 403


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x",
                                    "/\\evil.example", "javascript:alert(1)",
                                    "http:/evil.example", "/\nLocation: x"])
def test_login_never_redirects_off_site(client: TestClient, target: str) -> None:
    add_operator(client, "alice", [])
    secret, _ = enrol(client, "alice")
    client.cookies.clear()
    identity_of(client).clock.offset += 30
    submit_password(client, "alice", next_path=target)
    answer = submit_code(client, totp_now(client, secret), next_path=target)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/auth/account"


def test_login_returns_to_a_local_next_path(client: TestClient) -> None:
    add_operator(client, "alice", [])
    secret, _ = enrol(client, "alice")
    client.cookies.clear()
    identity_of(client).clock.offset += 30
    submit_password(client, "alice", next_path="/shelters/map?ward=1")
    answer = submit_code(client, totp_now(client, secret), next_path="/shelters/map?ward=1")
    assert answer.headers["location"] == "/shelters/map?ward=1"


def test_lockout_after_repeated_failures_with_back_off_and_a_security_event(
        client: TestClient) -> None:
    add_operator(client, "alice", [])
    identity = identity_of(client)
    for _ in range(3):
        assert submit_password(client, "alice", "wrong password!!").status_code == 401
    locked = submit_password(client, "alice")  # right password, but locked
    assert locked.status_code == 429
    assert "30" in locked.text or "31" in locked.text
    identity.clock.offset += 31
    assert submit_password(client, "alice", "wrong again!!!!").status_code == 401
    # the 4th failure doubles the lock: 60 s
    identity.clock.offset += 31
    assert submit_password(client, "alice").status_code == 429
    identity.clock.offset += 30
    assert submit_password(client, "alice").status_code == 303
    metrics = client.get("/metrics").text
    assert 'cityos_auth_failures_total{stage="password"} 4' in metrics
    assert 'cityos_auth_failures_total{stage="locked"} 2' in metrics
    assert 'cityos_security_events_total{severity="high",sub_category="loginFailureBurst"} 1' \
        in metrics
    platform = client.app.state.platform  # type: ignore[attr-defined]
    page = client.portal.call(platform.entities.query, ADMIN_TENANT,  # type: ignore[union-attr]
                              EntityQuery(limit=10))
    alerts = [e for e in page.entities if str(e).find("loginFailureBurst") >= 0]
    assert len(alerts) == 1 and "operator:alice" in str(alerts[0])


def test_unknown_user_is_answered_like_a_wrong_password(client: TestClient) -> None:
    answer = submit_password(client, "nobody", "whatever password")
    assert answer.status_code == 401
    assert "ユーザー名またはパスワードが正しくありません" in answer.text


def test_idle_and_absolute_session_expiry(client: TestClient) -> None:
    add_operator(client, "alice", [])
    secret, _ = enrol(client, "alice")
    identity = identity_of(client)
    idle = identity.settings.session_idle_timeout
    identity.clock.offset += idle - 60
    assert client.get("/auth/whoami").json()["mfa"] is True  # activity keeps it alive
    identity.clock.offset += idle - 60
    assert client.get("/auth/whoami").json()["mfa"] is True
    identity.clock.offset += idle + 1
    assert client.get("/auth/whoami").json()["kind"] == "anonymous"  # idle expiry
    login(client, "alice", secret)
    absolute = identity.settings.session_absolute_timeout
    start = identity.clock.offset
    while identity.clock.offset - start < absolute - idle:
        identity.clock.offset += idle - 60
        assert client.get("/auth/whoami").json()["mfa"] is True
    identity.clock.offset += idle - 60
    assert client.get("/auth/whoami").json()["kind"] == "anonymous"  # absolute expiry


def test_pages_are_japanese_first_with_an_english_switch(client: TestClient) -> None:
    page = client.get("/auth/login", params={"next": "/x"})
    assert '<html lang="ja">' in page.text and "運用者ログイン" in page.text
    assert 'href="/auth/login?next=%2Fx&amp;lang=en"' in page.text
    english = client.get("/auth/login", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Operator sign-in" in english.text
    assert "<script" not in page.text and "style=" not in page.text


def test_a_one_time_password_must_be_replaced_before_the_session_counts(
        client: TestClient) -> None:
    add_operator(client, "sato", ["admin"], password="one-time password 1", one_time=True)
    assert submit_password(client, "sato", "one-time password 1").status_code == 303
    page = client.get("/auth/totp")
    secret = enrolment_secret(page.text)
    shown = client.post("/auth/totp", data={"csrf_token": csrf_of(page.text),
                                            "code": totp_now(client, secret),
                                            "next": "/auth/account"})
    assert 'href="/auth/password?next=%2Fauth%2Faccount&amp;lang=ja"' in shown.text
    # Both factors done, but the password is someone else's: no roles, no admin.
    assert client.get("/auth/whoami").json() == {
        "subject": "operator:sato", "kind": "operator", "roles": [], "mfa": False,
        "clientId": None, "issuer": None}
    assert client.get("/admin/operators").status_code == 403
    assert client.get("/auth/totp").headers["location"].startswith("/auth/password?")
    form = client.get("/auth/password", params={"next": "/auth/account"})
    assert "初回ログイン" in form.text
    token = csrf_of(form.text)
    change = {"csrf_token": token, "current": "one-time password 1", "next": "/auth/account"}
    for new, again in [("short", "short"), ("a new password 22", "a new password 23"),
                       ("one-time password 1", "one-time password 1")]:
        refused = client.post("/auth/password", data={**change, "new": new, "again": again})
        assert refused.status_code == 400
    wrong = client.post("/auth/password", data={**change, "current": "not it at all",
                                                "new": "a new password 22",
                                                "again": "a new password 22"})
    assert wrong.status_code == 400
    assert client.post("/auth/password", data={**change, "csrf_token": "",
                                               "new": "a new password 22",
                                               "again": "a new password 22"}
                       ).status_code == 403
    done = client.post("/auth/password", data={**change, "new": "a new password 22",
                                               "again": "a new password 22"})
    assert done.status_code == 303 and done.headers["location"] == "/auth/account"
    assert client.get("/auth/whoami").json()["roles"] == ["admin"]
    assert client.get("/admin/operators").json()[0]["mustChangePassword"] is False
    client.cookies.clear()
    assert submit_password(client, "sato", "one-time password 1").status_code == 401
    assert submit_password(client, "sato", "a new password 22").status_code == 303


def test_failures_spread_over_many_accounts_raise_one_burst_event(tmp_path: Path) -> None:
    settings = {"identity_key_file": str(tmp_path / "k"), "login_burst_threshold": 6,
                "login_burst_window": 60.0}
    with secure_client(f"sqlite:///{tmp_path / 'spray.db'}", **settings) as client:
        for n in range(8):  # two tries each on four accounts: no account locked
            assert submit_password(client, f"user{n % 4}", "Summer2026!!").status_code == 401
        metrics = client.get("/metrics").text
        assert 'cityos_security_events_total{severity="high",' \
               'sub_category="loginFailureBurst"} 1' in metrics
        identity_of(client).clock.offset += 61
        for n in range(6):
            submit_password(client, f"other{n}", "Winter2026!!")
        assert 'sub_category="loginFailureBurst"} 2' in client.get("/metrics").text
