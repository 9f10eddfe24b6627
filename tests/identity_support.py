"""Helpers for identity tests: a City OS with security on (not development mode), and a
test client playing an operator's browser through the login pages."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pyotp
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security.identity import Identity

BASE_URL = "http://127.0.0.1:1026"
PASSWORD = "correct horse battery staple"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'<code class="secret">([^<]+)</code>')
_CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


@contextmanager
def secure_client(database_url: str, **settings: Any) -> Iterator[TestClient]:
    """An in-process City OS with security on, on its own database."""
    values = {"database_url": database_url, "dev": False, **settings}
    app = build_app(load_settings(values, environ={}))
    with TestClient(app, base_url=BASE_URL, follow_redirects=False) as client:
        yield client


def identity_of(client: TestClient) -> Identity:
    identity = client.app.state.platform.identity  # type: ignore[attr-defined]
    assert isinstance(identity, Identity)
    return identity


def add_operator(client: TestClient, username: str, roles: list[str],
                 password: str = PASSWORD, one_time: bool = False) -> None:
    identity = identity_of(client)
    client.portal.call(  # type: ignore[union-attr]
        lambda: identity.operators.create(username, password, roles, one_time=one_time))


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF token"
    return match.group(1)


def enrolment_secret(html: str) -> str:
    match = _SECRET.search(html)
    assert match, "the page shows no TOTP key"
    return match.group(1).replace(" ", "")


def recovery_codes(html: str) -> list[str]:
    return _CODES.findall(html)


def totp_now(client: TestClient, secret: str) -> str:
    return pyotp.TOTP(secret).at(identity_of(client).clock.now())


def submit_password(client: TestClient, username: str, password: str = PASSWORD,
                    next_path: str = "/auth/account") -> Any:
    page = client.get("/auth/login", params={"next": next_path})
    return client.post("/auth/login", data={
        "csrf_token": csrf_of(page.text), "username": username, "password": password,
        "next": next_path, "lang": "ja"})


def submit_code(client: TestClient, code: str, next_path: str = "/auth/account") -> Any:
    page = client.get("/auth/totp", params={"next": next_path})
    return client.post("/auth/totp", data={"csrf_token": csrf_of(page.text), "code": code,
                                           "next": next_path, "lang": "ja"})


def enrol(client: TestClient, username: str, password: str = PASSWORD) -> tuple[str, list[str]]:
    """First login of an operator: password, QR enrolment; returns the TOTP secret and
    the recovery codes shown."""
    assert submit_password(client, username, password).status_code == 303
    page = client.get("/auth/totp", params={"next": "/auth/account"})
    secret = enrolment_secret(page.text)
    answer = client.post("/auth/totp", data={
        "csrf_token": csrf_of(page.text), "code": totp_now(client, secret),
        "next": "/auth/account", "lang": "ja"})
    assert answer.status_code == 200, answer.text
    return secret, recovery_codes(answer.text)


def login(client: TestClient, username: str, secret: str, password: str = PASSWORD) -> None:
    """A later login (password + TOTP of the next time step, so never a reused code)."""
    identity_of(client).clock.offset += 30
    assert submit_password(client, username, password).status_code == 303
    answer = submit_code(client, totp_now(client, secret))
    assert answer.status_code == 303, answer.text
