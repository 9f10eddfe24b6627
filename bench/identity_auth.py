"""What authentication costs per request: GET /auth/whoami in-process, anonymous
(baseline), with a Bearer JWT of the built-in provider, and with an operator session
cookie; and the time of one argon2id password check (a login's main cost).

Run: python -m bench.identity_auth  (a few seconds; prints JSON)
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyotp
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security import passwords

REQUESTS = 400
PASSWORD = "benchmark password 1"


def _per_second(call: Callable[[], Any], count: int = REQUESTS) -> float:
    call()  # warm-up
    started = time.perf_counter()
    for _ in range(count):
        call()
    return count / (time.perf_counter() - started)


def _session_client(client: TestClient) -> None:
    """Sign in as an enrolled operator through the real pages."""
    identity = client.app.state.platform.identity  # type: ignore[attr-defined]
    client.portal.call(identity.operators.create, "bench", PASSWORD, [])  # type: ignore[union-attr]
    import re
    csrf = re.compile(r'name="csrf_token" value="([^"]+)"')
    page = client.get("/auth/login")
    client.post("/auth/login", data={"csrf_token": csrf.findall(page.text)[0],
                                     "username": "bench", "password": PASSWORD})
    page = client.get("/auth/totp")
    secret = re.findall(r'<code class="secret">([^<]+)</code>', page.text)[0].replace(" ", "")
    client.post("/auth/totp", data={"csrf_token": csrf.findall(page.text)[0],
                                    "code": pyotp.TOTP(secret).now()})


def measure() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        settings = load_settings({"database_url": f"sqlite:///{Path(folder) / 'b.db'}"},
                                 environ={})
        with TestClient(build_app(settings), base_url="http://127.0.0.1:1026",
                        follow_redirects=False) as client:
            anonymous = _per_second(lambda: client.get("/auth/whoami"))
            identity = client.app.state.platform.identity  # type: ignore[attr-defined]
            _, secret = client.portal.call(  # type: ignore[union-attr]
                lambda: identity.clients.create("bench-svc"))
            token = client.post("/oidc/token", data={"grant_type": "client_credentials"},
                                auth=("bench-svc", secret)).json()["access_token"]
            bearer = _per_second(lambda: client.get(
                "/auth/whoami", headers={"Authorization": f"Bearer {token}"}))
            _session_client(client)
            session = _per_second(lambda: client.get("/auth/whoami"))
    stored = passwords.hash_password(PASSWORD)
    started = time.perf_counter()
    for _ in range(5):
        passwords.verify_password(stored, PASSWORD)
    argon2_ms = (time.perf_counter() - started) / 5 * 1000
    return {
        "scenario": "identity_auth",
        "requests_per_second": {"anonymous": round(anonymous), "bearer_jwt": round(bearer),
                                "session_cookie": round(session)},
        "ratio_to_anonymous": {"bearer_jwt": round(bearer / anonymous, 2),
                               "session_cookie": round(session / anonymous, 2)},
        "argon2id_verify_ms": round(argon2_ms, 1),
        "argon2id_verify_in_anonymous_requests": round(argon2_ms / 1000 * anonymous, 1),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
