"""The operator login pages: GET/POST /auth/login (password), GET/POST /auth/totp (second
factor, or first-time enrolment with a QR code and recovery codes), POST /auth/logout,
GET/POST /auth/password (replace a one-time password, or change one's own), GET
/auth/account (who is signed in), GET /auth/whoami (the caller's principal as JSON).

Other pages send people to `/auth/login?next=<path>`; after both factors the browser goes
to `next` if it is a path on this server, to /auth/account otherwise (no open redirect)."""

from __future__ import annotations

from importlib import resources
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.ngsild.errors import Forbidden
from cityos.security import login_flow
from cityos.security.csrf import (
    check_csrf,
    csrf_token,
    is_https,
    read_form,
    remember_csrf_cookie,
)
from cityos.security.identity import Identity
from cityos.security.login_texts import language, texts
from cityos.security.operators import Operator
from cityos.security.passwords import MIN_PASSWORD_LENGTH
from cityos.security.principal import principal_of
from cityos.security.sessions import COOKIE, Session, Stage, cookie_value
from cityos.security.totp import provisioning_uri, qr_svg

DEFAULT_NEXT = "/auth/account"
_ENV = Environment(loader=PackageLoader("cityos.security", "templates"),
                   autoescape=select_autoescape(["html"]))


def safe_next(value: str | None) -> str:
    """`value` if it is a path on this server, else DEFAULT_NEXT: refuses absolute and
    scheme-relative URLs (//evil.example, /\\evil.example), schemes and control
    characters, so a login link can never send someone to another site."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    if any(ord(ch) < 0x20 or ch == "\\" for ch in value):
        return DEFAULT_NEXT
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    return value


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class LoginPages:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def routes(self) -> list[BaseRoute]:
        return [Route("/auth/login", self.login_page, methods=["GET"]),
                Route("/auth/login", self.login_submit, methods=["POST"]),
                Route("/auth/totp", self.totp_page, methods=["GET"]),
                Route("/auth/totp", self.totp_submit, methods=["POST"]),
                Route("/auth/password", self.password_page, methods=["GET"]),
                Route("/auth/password", self.password_submit, methods=["POST"]),
                Route("/auth/logout", self.logout, methods=["POST"]),
                Route("/auth/account", self.account, methods=["GET"]),
                Route("/auth/whoami", whoami, methods=["GET"]),
                Route("/auth/identity.css", stylesheet, methods=["GET"])]

    # -- rendering ------------------------------------------------------------------------
    def render(self, request: Request, template: str, lang: str, title_key: str,
               status: int = 200, **values: Any) -> Response:
        t = texts(lang)
        other = "en" if lang == "ja" else "ja"
        query = dict(request.query_params)
        query["lang"] = other
        html = _ENV.get_template(template).render(
            lang=lang, t=t, title=t[title_key], other_lang=other,
            other_lang_url=f"{request.url.path}?{urlencode(query)}",
            csrf=csrf_token(request), **values)
        response = HTMLResponse(html, status_code=status,
                                headers={"Cache-Control": "no-store"})
        remember_csrf_cookie(request, response)
        return response

    def _redirect(self, request: Request, url: str, token: str | None = None) -> Response:
        response = RedirectResponse(url, status_code=303, headers={"Cache-Control": "no-store"})
        if token is not None:
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                                secure=is_https(request), path="/")
        return response

    async def _form(self, request: Request) -> tuple[dict[str, str], str | None]:
        """The posted form, and the CSRF failure reason if any."""
        form = await read_form(request)
        try:
            check_csrf(request, form)
        except Forbidden:
            return form, "csrf"
        return form, None

    async def _session(self, request: Request) -> tuple[Session, Operator] | None:
        token = cookie_value(request.scope, COOKIE)
        session = None if token is None else await self.identity.sessions.find(token)
        if session is None:
            return None
        operator = await self.identity.operators.get(session.username)
        if operator is None or operator.disabled:
            return None
        return session, operator

    # -- password -------------------------------------------------------------------------
    async def login_page(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        return self.render(request, "login.html", lang, "login_title",
                           next=safe_next(request.query_params.get("next")), username="",
                           error=None)

    async def login_submit(self, request: Request) -> Response:
        form, refused = await self._form(request)
        lang, next_path = language(form.get("lang")), safe_next(form.get("next"))
        username = form.get("username", "").strip().lower()
        if refused:
            return self.render(request, "login.html", lang, "login_title", status=403,
                               next=next_path, username=username, error=texts(lang)["csrf"])
        outcome = await login_flow.check_password(self.identity, username,
                                                  form.get("password", ""), _client(request))
        if not outcome.ok:
            return self.render(request, "login.html", lang, "login_title",
                               status=429 if outcome.reason == "locked" else 401,
                               next=next_path, username=username,
                               error=self._reason(lang, outcome))
        token = await self.identity.sessions.start(username, "password")
        query = urlencode({"next": next_path, "lang": lang})
        return self._redirect(request, f"/auth/totp?{query}", token)

    def _reason(self, lang: str, outcome: login_flow.Outcome) -> str:
        return texts(lang)[outcome.reason].format(seconds=int(outcome.locked_seconds) + 1)

    # -- second factor --------------------------------------------------------------------
    async def totp_page(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        next_path = safe_next(request.query_params.get("next"))
        found = await self._session(request)
        if found is None:
            return self._to_login(next_path, lang)
        session, operator = found
        if session.stage != "password":
            return self._after_second_factor(request, session, next_path, lang)
        return await self._totp_form(request, operator, lang, next_path, None)

    def _after_second_factor(self, request: Request, session: Session, next_path: str,
                             lang: str) -> Response:
        if session.stage == "change":
            query = urlencode({"next": next_path, "lang": lang})
            return self._redirect(request, f"/auth/password?{query}")
        return self._redirect(request, next_path)

    async def _totp_form(self, request: Request, operator: Operator, lang: str,
                         next_path: str, error: str | None, status: int = 200) -> Response:
        if operator.enrolled:
            return self.render(request, "totp.html", lang, "totp_title", status=status,
                               enrolling=False, next=next_path, error=error)
        secret = await login_flow.pending_secret(self.identity, operator.username)
        groups = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
        return self.render(request, "totp.html", lang, "enrol_title", status=status,
                           enrolling=True, next=next_path, error=error, secret_groups=groups,
                           qr_svg=qr_svg(provisioning_uri(secret, operator.username)))

    def _to_login(self, next_path: str, lang: str) -> Response:
        query = urlencode({"next": next_path, "lang": lang})
        return RedirectResponse(f"/auth/login?{query}", status_code=303)

    async def totp_submit(self, request: Request) -> Response:
        form, refused = await self._form(request)
        lang, next_path = language(form.get("lang")), safe_next(form.get("next"))
        found = await self._session(request)
        if found is None:
            return self._to_login(next_path, lang)
        session, operator = found
        if session.stage != "password":
            return self._after_second_factor(request, session, next_path, lang)
        if refused:
            return await self._totp_form(request, operator, lang, next_path,
                                         texts(lang)["csrf"], status=403)
        code, client = form.get("code", ""), _client(request)
        if operator.enrolled:
            outcome = await login_flow.check_second_factor(self.identity, operator, code,
                                                           client)
            codes: list[str] = []
        else:
            outcome, codes = await login_flow.confirm_enrolment(self.identity, operator,
                                                                code, client)
        if not outcome.ok:
            return await self._totp_form(request, operator, lang, next_path,
                                         self._reason(lang, outcome),
                                         status=429 if outcome.reason == "locked" else 401)
        stage: Stage = "change" if operator.must_change_password else "complete"
        token = await self.identity.sessions.advance(
            str(cookie_value(request.scope, COOKIE)), stage)
        after = next_path if stage == "complete" else \
            f"/auth/password?{urlencode({'next': next_path, 'lang': lang})}"
        if not codes:
            return self._redirect(request, after, token)
        response = self.render(request, "recovery.html", lang, "recovery_title", codes=codes,
                               next=after, error=None)
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict",
                            secure=is_https(request), path="/")
        return response

    # -- password change ------------------------------------------------------------------
    async def password_page(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        next_path = safe_next(request.query_params.get("next"))
        found = await self._session(request)
        if found is None or found[0].stage == "password":
            return self._to_login(next_path, lang)
        return self._password_form(request, lang, next_path, found[1], None)

    def _password_form(self, request: Request, lang: str, next_path: str, operator: Operator,
                       error: str | None, status: int = 200) -> Response:
        return self.render(request, "password.html", lang, "password_title", status=status,
                           next=next_path, error=error, forced=operator.must_change_password,
                           min_length=MIN_PASSWORD_LENGTH)

    async def password_submit(self, request: Request) -> Response:
        form, refused = await self._form(request)
        lang, next_path = language(form.get("lang")), safe_next(form.get("next"))
        found = await self._session(request)
        if found is None or found[0].stage == "password":
            return self._to_login(next_path, lang)
        operator = found[1]
        problem = "csrf" if refused else await login_flow.check_new_password(
            self.identity, operator, form.get("current", ""), form.get("new", ""),
            form.get("again", ""), _client(request))
        if problem:
            return self._password_form(request, lang, next_path, operator,
                                       texts(lang)[problem].format(n=MIN_PASSWORD_LENGTH),
                                       status=403 if problem == "csrf" else 400)
        await self.identity.operators.set_password(operator.username, form["new"])
        token = await self.identity.sessions.advance(
            str(cookie_value(request.scope, COOKIE)), "complete")
        return self._redirect(request, next_path, token)

    # -- signed in ------------------------------------------------------------------------
    async def logout(self, request: Request) -> Response:
        form, refused = await self._form(request)
        if refused:
            raise Forbidden("the form's CSRF token is missing or wrong")
        token = cookie_value(request.scope, COOKIE)
        if token is not None:
            await self.identity.sessions.end(token)
        response = self._to_login(DEFAULT_NEXT, language(form.get("lang")))
        response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict",
                               secure=is_https(request))
        return response

    async def account(self, request: Request) -> Response:
        lang = language(request.query_params.get("lang"))
        found = await self._session(request)
        if found is None or found[0].stage != "complete":
            return self._to_login(DEFAULT_NEXT, lang)
        operator = found[1]
        return self.render(request, "account.html", lang, "account_title",
                           username=operator.username, roles=", ".join(operator.roles),
                           mfa=True, error=None)


async def whoami(request: Request) -> Response:
    principal = principal_of(request.scope)
    return JSONResponse({"subject": principal.subject, "kind": principal.kind,
                         "roles": sorted(principal.roles), "mfa": principal.mfa,
                         "clientId": principal.client_id, "issuer": principal.issuer},
                        headers={"Cache-Control": "no-store"})


async def stylesheet(request: Request) -> Response:
    css = resources.files("cityos.security").joinpath("templates/identity.css").read_text(
        encoding="utf-8")
    return Response(css, media_type="text/css",
                    headers={"Cache-Control": "public, max-age=3600"})
