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
    """Finds the caller of a request, or None. An authenticator may also have an
    attribute `credential_headers` (lower-case header names): it is then asked only
    when the request carries one of them."""

    async def authenticate(self, scope: Scope) -> Principal | None:
        """The caller, if the request carries credentials of this kind and they are valid;
        None if it carries none of this kind; raises Unauthenticated if they are invalid."""
        ...


_HEADERS_KEY = "cityos.headers"


def header_map(scope: Scope) -> dict[bytes, str]:
    """The request headers by lower-case name (the first of repeated ones), decoded as
    Latin-1 as HTTP defines. Built once per request and kept in the scope, so the layers
    that read headers (audit, authenticators, body limit) do not each scan them."""
    raw = scope.get("headers", ())
    cached = scope.get(_HEADERS_KEY)
    if cached is not None and cached[0] is raw:
        found: dict[bytes, str] = cached[1]
        return found
    found = {}
    for key, value in raw:
        name = bytes(key).lower()
        if name not in found:
            found[name] = bytes(value).decode("latin-1")
    scope[_HEADERS_KEY] = (raw, found)
    return found


def header(scope: Scope, name: bytes) -> str | None:
    """One request header (lower-case name), decoded as Latin-1 as HTTP defines."""
    return header_map(scope).get(name)


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
        headers = header_map(scope)
        for authenticator in self.authenticators:
            # An authenticator that names the headers its credential comes in is asked
            # only when one of them is there (most requests carry none or one).
            needs = getattr(authenticator, "credential_headers", None)
            if needs is not None and not any(name in headers for name in needs):
                continue
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
