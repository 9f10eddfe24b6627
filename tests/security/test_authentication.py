"""The authentication middleware: first authenticator that recognises the credentials
decides; invalid credentials get 401 and never fall back to anonymous."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from cityos.ngsild.errors import Unauthenticated
from cityos.security.authentication import (
    AuthenticationMiddleware,
    Scope,
    bearer_token,
)
from cityos.security.principal import Principal, principal_of


class TokenTable:
    """Bearer tokens from a fixed table: enough to exercise the middleware's rules."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self.tokens = tokens

    async def authenticate(self, scope: Scope) -> Principal | None:
        token = bearer_token(scope)
        if token is None:
            return None
        if token not in self.tokens:
            raise Unauthenticated("the bearer token is not valid")
        return self.tokens[token]


async def whoami(request: Request) -> Response:
    principal = principal_of(request.scope)
    return JSONResponse({"subject": principal.subject, "kind": principal.kind})


def client(dev: bool) -> TestClient:
    alice = Principal(subject="operator:alice", kind="operator", roles=frozenset({"admin"}))
    app = Starlette(routes=[Route("/whoami", whoami)])
    app.add_middleware(AuthenticationMiddleware,  # type: ignore[arg-type]
                       authenticators=[TokenTable({"good": alice})], dev=dev)
    return TestClient(app)


def test_valid_credentials_identify_the_caller() -> None:
    answer = client(dev=False).get("/whoami", headers={"Authorization": "Bearer good"})
    assert answer.json() == {"subject": "operator:alice", "kind": "operator"}


def test_no_credentials_is_anonymous_or_developer_in_dev_mode() -> None:
    assert client(dev=False).get("/whoami").json()["kind"] == "anonymous"
    assert client(dev=True).get("/whoami").json()["kind"] == "developer"


def test_invalid_credentials_get_401_even_in_dev_mode() -> None:
    for dev in (False, True):
        answer = client(dev=dev).get("/whoami", headers={"Authorization": "Bearer forged"})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert answer.json()["type"].endswith("/Unauthenticated")
