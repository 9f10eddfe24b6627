"""Authentication: turns each request's credentials into a `Principal`.

Authenticators are tried in order; the first that recognises the request's credentials
decides. An authenticator returns None when the request carries no credentials of its kind
and raises `Unauthenticated` when it carries credentials of its kind that are not valid —
an invalid credential never falls back to anonymous. A request no authenticator recognises
is anonymous, or the developer in development mode."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, Protocol

import orjson

from cityos.ngsild.errors import Unauthenticated
from cityos.security.principal import ANONYMOUS, DEVELOPER, PRINCIPAL_KEY, Principal

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Authenticator(Protocol):
    async def authenticate(self, scope: Scope) -> Principal | None:
        """The caller, if the request carries credentials of this kind and they are valid;
        None if it carries none of this kind; raises Unauthenticated if they are invalid."""
        ...


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (lower-case name), decoded as Latin-1 as HTTP defines."""
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def bearer_token(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None or not value.lower().startswith("bearer "):
        return None
    return value[7:].strip() or None


async def _refuse(send: Send, error: Unauthenticated) -> None:
    body = orjson.dumps(error.problem())
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"www-authenticate", b'Bearer realm="cityos"')]})
    await send({"type": "http.response.body", "body": body})


class AuthenticationMiddleware:
    """Puts the caller's Principal in the ASGI scope (see principal_of)."""

    def __init__(self, app: ASGIApp, authenticators: Sequence[Authenticator], *,
                 dev: bool, on_failure: Callable[[Scope, Unauthenticated], Awaitable[None]]
                 | None = None) -> None:
        self.app = app
        self.authenticators = list(authenticators)
        self.dev = dev
        self.on_failure = on_failure

    async def identify(self, scope: Scope) -> Principal:
        for authenticator in self.authenticators:
            principal = await authenticator.authenticate(scope)
            if principal is not None:
                return principal
        return DEVELOPER if self.dev else ANONYMOUS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        try:
            scope[PRINCIPAL_KEY] = await self.identify(scope)
        except Unauthenticated as error:
            if self.on_failure is not None:
                await self.on_failure(scope, error)
            await _refuse(send, error)
            return
        await self.app(scope, receive, send)
