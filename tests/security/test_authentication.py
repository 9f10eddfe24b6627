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


class EveryRequest:
    """Recognises every request as bob (no header needed), noting each call."""

    def __init__(self, headers: tuple[bytes, ...] | None) -> None:
        self.calls = 0
        if headers is not None:
            self.credential_headers = headers

    async def authenticate(self, scope: Scope) -> Principal | None:
        self.calls += 1
        return Principal(subject="bob", kind="apikey")


def test_an_authenticator_is_asked_only_when_its_credential_headers_are_there() -> None:
    declared, undeclared = EveryRequest((b"x-api-key",)), EveryRequest(None)
    for authenticator in (declared, undeclared):
        app = Starlette(routes=[Route("/whoami", whoami)])
        app.add_middleware(AuthenticationMiddleware,  # type: ignore[arg-type]
                           authenticators=[authenticator], dev=False)
        with TestClient(app) as test_client:
            assert test_client.get("/whoami").json()["subject"] == (
                "anonymous" if authenticator is declared else "bob")
            assert test_client.get("/whoami", headers={"X-API-Key": "k"}).json()[
                "subject"] == "bob"
    assert (declared.calls, undeclared.calls) == (1, 2)
