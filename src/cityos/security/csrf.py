"""CSRF protection for HTML form posts, for any page of the City OS.

Double-submit token: a random token in a SameSite=Strict, HttpOnly cookie and the same
token in a hidden form field; a post is accepted only if both are present and equal, and
if its Origin (when the browser sends one) is this server. Use:

    token = csrf_token(request)                  # put in the form as CSRF_FIELD
    response = templates.TemplateResponse(...)
    remember_csrf_cookie(request, response)      # sets the cookie if it was new

    form = await read_form(request)
    check_csrf(request, form)                    # raises Forbidden on failure
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import Request
from starlette.responses import Response

from cityos.ngsild.errors import BadRequestData, Forbidden

CSRF_COOKIE = "cityos_csrf"
CSRF_FIELD = "csrf_token"
MAX_FORM_BYTES = 16_384
_STATE_KEY = "cityos_new_csrf_token"


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def csrf_token(request: Request) -> str:
    """The request's CSRF token: the cookie's, or a new one (set by remember_csrf_cookie)."""
    existing = request.cookies.get(CSRF_COOKIE)
    if existing and 20 <= len(existing) <= 100:
        return existing
    new = getattr(request.state, _STATE_KEY, None)
    if new is None:
        new = secrets.token_urlsafe(32)
        setattr(request.state, _STATE_KEY, new)
    return str(new)


def remember_csrf_cookie(request: Request, response: Response) -> None:
    new = getattr(request.state, _STATE_KEY, None)
    if new is not None:
        response.set_cookie(CSRF_COOKIE, new, httponly=True, samesite="strict",
                            secure=is_https(request), path="/")


async def read_form(request: Request) -> dict[str, str]:
    """An application/x-www-form-urlencoded body as a dict (first value of each name)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise BadRequestData("forms are posted as application/x-www-form-urlencoded")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise BadRequestData("the form is too large")
    form: dict[str, str] = {}
    for key, value in parse_qsl(body.decode("utf-8", errors="replace"),
                                keep_blank_values=True):
        form.setdefault(key, value)
    return form


def check_csrf(request: Request, form: dict[str, str]) -> None:
    """Raise Forbidden unless the form's token matches the cookie's and the post comes
    from this server's own pages."""
    origin = request.headers.get("origin")
    if origin and origin != "null":
        parts = urlsplit(origin)
        if parts.netloc != request.headers.get("host", request.url.netloc):
            raise Forbidden("the form was posted from another site")
    cookie = request.cookies.get(CSRF_COOKIE, "")
    sent = form.get(CSRF_FIELD, "")
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise Forbidden("the form's CSRF token is missing or wrong; reload the page and "
                        "try again")
