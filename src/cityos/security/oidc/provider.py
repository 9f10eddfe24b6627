"""HTTP endpoints of the built-in OpenID Connect provider:

GET  /.well-known/openid-configuration   discovery (OpenID Connect Discovery 1.0)
GET  /oidc/jwks                          the public signing keys (RFC 7517)
GET  /oidc/authorize                     authorization code flow, PKCE S256 required
POST /oidc/token                         grant types client_credentials and
                                         authorization_code (RFC 6749, RFC 7636)

People authorizing are operators signed in with both factors; there is no consent page
(the clients are the city's own, registered by an administrator). Errors of the token
endpoint are OAuth JSON errors (RFC 6749 §5.2), which OAuth clients expect."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import unquote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.ngsild.errors import BadRequestData
from cityos.security.csrf import read_form
from cityos.security.identity import Identity
from cityos.security.oidc.clients import OidcClient
from cityos.security.principal import principal_of

AUTHORIZATION_CODE = "oidc-code"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    headers = dict(_NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="cityos"'
    return JSONResponse({"error": error, "error_description": description},
                        status_code=status, headers=headers)


def _code_key(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(value[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    client_id, _, secret = decoded.partition(":")
    return unquote(client_id), unquote(secret)


class OidcProvider:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity

    def routes(self) -> list[BaseRoute]:
        return [Route("/.well-known/openid-configuration", self.discovery, methods=["GET"]),
                Route("/oidc/jwks", self.jwks, methods=["GET"]),
                Route("/oidc/authorize", self.authorize, methods=["GET"]),
                Route("/oidc/token", self.token, methods=["POST"])]

    async def discovery(self, request: Request) -> Response:
        issuer = self.identity.issuer
        return JSONResponse({
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/oidc/authorize",
            "token_endpoint": f"{issuer}/oidc/token",
            "jwks_uri": f"{issuer}/oidc/jwks",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["ES256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic",
                                                      "client_secret_post", "none"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "roles", "client_id",
                                 "amr", "preferred_username", "nonce"],
        })

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(await self.identity.keys.jwks(),
                            headers={"Cache-Control": "public, max-age=60"})

    # -- authorization code -----------------------------------------------------------------
    async def authorize(self, request: Request) -> Response:
        params = request.query_params
        client = await self.identity.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            # Never redirect to an unregistered URI (RFC 6749 §4.1.2.1).
            return _oauth_error("invalid_request", "unknown client or redirect_uri")
        state = params.get("state")

        def back(**values: str) -> Response:
            if state is not None:
                values["state"] = state
            return RedirectResponse(f"{redirect_uri}?{urlencode(values)}", status_code=303)

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
            return back(error="invalid_request",
                        error_description="PKCE with code_challenge_method=S256 is required")
        principal = principal_of(request.scope)
        if principal.kind != "operator" or not principal.mfa:
            target = f"{request.url.path}?{request.url.query}"
            return RedirectResponse(f"/auth/login?{urlencode({'next': target})}",
                                    status_code=303)
        code = secrets.token_urlsafe(32)
        now = self.identity.clock.now()
        lifetime = self.identity.settings.authorization_code_lifetime
        await self.identity.records.put_record(AUTHORIZATION_CODE, _code_key(code), {
            "client_id": client.client_id, "redirect_uri": redirect_uri,
            "challenge": challenge, "subject": principal.subject,
            "username": principal.display_name, "roles": sorted(principal.roles),
            "nonce": params.get("nonce"), "scope": params.get("scope", "openid"),
            "expires_at": now + lifetime}, expires_at=now + lifetime)
        return back(code=code)

    # -- token endpoint ---------------------------------------------------------------------
    async def _client(self, request: Request, form: dict[str, str]) -> OidcClient | None:
        basic = _basic_credentials(request)
        client_id, secret = basic if basic else (form.get("client_id", ""),
                                                 form.get("client_secret") or None)
        return await self.identity.clients.authenticate(client_id, secret)

    async def token(self, request: Request) -> Response:
        try:
            form = await read_form(request)
        except BadRequestData:
            return _oauth_error("invalid_request", "the body must be a urlencoded form")
        client = await self._client(request, form)
        if client is None:
            self.identity.counters.inc("cityos_auth_failures_total",
                                       "Failed operator logins and token checks, by stage.",
                                       stage="oidc_client")
            return _oauth_error("invalid_client", "client authentication failed", 401)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            return await self._client_credentials(client, form)
        if grant == "authorization_code":
            return await self._authorization_code(client, form)
        return _oauth_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")

    def _tokens(self, access: str, extra: dict[str, Any] | None = None) -> Response:
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer",
                                "expires_in": int(self.identity.settings.access_token_lifetime)}
        body.update(extra or {})
        return JSONResponse(body, headers=_NO_STORE)

    async def _client_credentials(self, client: OidcClient, form: dict[str, str]) -> Response:
        if client.public:
            return _oauth_error("unauthorized_client",
                                "a public client cannot use client credentials")
        access = await self.identity.issue_access_token(
            f"client:{client.client_id}", roles=client.roles, client_id=client.client_id,
            scope=form.get("scope", ""))
        return self._tokens(access)

    async def _authorization_code(self, client: OidcClient, form: dict[str, str]) -> Response:
        # Taken (deleted) first: a code works once, whatever happens next.
        grant = await self.identity.records.take_record(AUTHORIZATION_CODE,
                                                        _code_key(form.get("code", "")))
        if grant is None or float(grant["expires_at"]) < self.identity.clock.now():
            return _oauth_error("invalid_grant", "the code is unknown, used or expired")
        if grant["client_id"] != client.client_id or \
                grant["redirect_uri"] != form.get("redirect_uri"):
            return _oauth_error("invalid_grant", "the code was issued to another client")
        verifier = form.get("code_verifier", "")
        if not 43 <= len(verifier) <= 128 or not hmac.compare_digest(
                pkce_challenge(verifier), str(grant["challenge"])):
            return _oauth_error("invalid_grant", "the code_verifier does not match")
        subject, username = str(grant["subject"]), str(grant["username"])
        access = await self.identity.issue_access_token(
            subject, roles=list(grant["roles"]), client_id=client.client_id,
            scope=str(grant["scope"]), amr=["pwd", "otp"])
        id_token = await self.identity.issue_id_token(
            subject, client_id=client.client_id, nonce=grant.get("nonce"), name=username)
        return self._tokens(access, {"id_token": id_token, "scope": grant["scope"]})
