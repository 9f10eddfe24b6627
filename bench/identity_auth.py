"""What authentication costs per request: GET /auth/whoami in-process (httpx over ASGI,
no network), anonymous (the baseline), with a Bearer JWT of the built-in provider, and
with an operator's session cookie; and the time of one argon2id password check (the
main cost of a login).

Run: python -m bench.identity_auth  (about ten seconds; prints JSON)
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security import passwords

REQUESTS = 200
ROUNDS = 5  # interleaved rounds; the best of each kind is kept (shared, noisy machines)
PASSWORD = "benchmark password 1"


async def _per_second(call: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    for _ in range(REQUESTS):
        await call()
    return REQUESTS / (time.perf_counter() - started)


async def _requests_per_second() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        app = build_app(load_settings({"database_url": f"sqlite:///{Path(folder) / 'b.db'}"},
                                      environ={}))
        async with app.router.lifespan_context(app):
            identity = app.state.platform.identity
            await identity.operators.create("bench", PASSWORD, [])
            session = await identity.sessions.start("bench", "complete")
            _, secret = await identity.clients.create("bench-svc")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport,
                                         base_url="http://127.0.0.1:1026") as client:
                answer = await client.post("/oidc/token", auth=("bench-svc", secret),
                                           data={"grant_type": "client_credentials"})
                bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
                cookie = {"Cookie": f"cityos_session={session}"}
                kinds: dict[str, dict[str, str]] = {"anonymous": {}, "bearer_jwt": bearer,
                                                    "session_cookie": cookie}
                best = dict.fromkeys(kinds, 0.0)
                for _ in range(ROUNDS):
                    for kind, headers in kinds.items():
                        rate = await _per_second(
                            lambda h=headers: client.get("/auth/whoami", headers=h))
                        best[kind] = max(best[kind], rate)
                assert (await client.get("/auth/whoami", headers=cookie)).json()["mfa"]
                return best


def measure() -> dict[str, Any]:
    rates = asyncio.run(_requests_per_second())
    stored = passwords.hash_password(PASSWORD)
    started = time.perf_counter()
    for _ in range(5):
        passwords.verify_password(stored, PASSWORD)
    argon2_ms = (time.perf_counter() - started) / 5 * 1000
    anonymous = rates["anonymous"]
    return {
        "scenario": "identity_auth",
        "requests_per_second": {kind: round(rate) for kind, rate in rates.items()},
        "ratio_to_anonymous": {kind: round(rate / anonymous, 2)
                               for kind, rate in rates.items() if kind != "anonymous"},
        "argon2id_verify_ms": round(argon2_ms, 1),
        "argon2id_verify_in_anonymous_requests": round(argon2_ms / 1000 * anonymous, 1),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
