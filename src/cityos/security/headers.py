"""Security headers on every response that does not set its own: a strict
Content-Security-Policy (scripts from this origin only, no framing), no MIME sniffing, no
referrer across origins, no powerful browser features, and HSTS when the request came
over TLS (directly, or through a proxy that says so in X-Forwarded-Proto). A page that
sets its own (stricter) policy keeps it, with `frame-ancestors 'none'` added when missing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import Any

from cityos.security.authentication import header_map

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{images}; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'")
CONTENT_SECURITY_POLICY = _POLICY.format(images="")


def content_security_policy(image_origins: Sequence[str] = ()) -> str:
    """The strict policy, with images also allowed from `image_origins` (a map page's
    tile server, e.g. https://cyberjapandata.gsi.go.jp)."""
    extra = "".join(f" {origin}" for origin in image_origins if origin)
    return _POLICY.format(images=extra)


def origin_of(url_template: str) -> str:
    """scheme://host[:port] of a URL or tile URL template; empty for a relative one."""
    scheme, _, rest = url_template.partition("://")
    if not rest:
        return ""
    return f"{scheme}://{rest.split('/', 1)[0]}"
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
    (b"x-frame-options", b"DENY"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(self), payment=()"),
)
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")


def _over_tls(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    return header_map(scope).get(b"x-forwarded-proto") == "https"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = SECURITY_HEADERS + ((HSTS,) if _over_tls(scope) else ())

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": _with_security_headers(
                    message.get("headers", ()), extra)}
            await send(message)

        await self.app(scope, receive, with_headers)


def _with_security_headers(given: Iterable[tuple[bytes, bytes]],
                           extra: tuple[tuple[bytes, bytes], ...]) -> list[tuple[bytes, bytes]]:
    """The response's headers, each of `extra` added unless the response set its own; a
    page's own Content-Security-Policy still forbids framing. One pass over the headers."""
    headers = []
    present = set()
    for name, value in given:
        lowered = bytes(name).lower()
        present.add(lowered)
        if lowered == b"content-security-policy" and b"frame-ancestors" not in value:
            value = bytes(value) + b"; frame-ancestors 'none'"
        headers.append((name, value))
    headers += [(n, v) for n, v in extra if n not in present]
    return headers
