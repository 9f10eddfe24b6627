"""The identity part of the OpenAPI document: login pages, the built-in OpenID Connect
provider and the identity admin API (docs/security.md)."""

from __future__ import annotations

from cityos.api.openapi import (
    ARRAY,
    JSON,
    NO_CONTENT,
    OBJECT,
    STR,
    Schema,
    _obj,
    _ok,
    _op,
    _ref,
    _s,
)

LOGIN, OIDC, ADMIN = "Identity: login", "Identity: OpenID Connect", "Identity: admin"
HTML, FORM = "text/html", "application/x-www-form-urlencoded"
_PROBLEM = {"content": {JSON: {"schema": _s("ProblemDetails")}}}
_ADMIN_ERRORS = {"401": {"description": "No credentials: Unauthenticated.", **_PROBLEM},
                 "403": {"description": "Not an admin operator with both factors: "
                                        "Forbidden.", **_PROBLEM}}
_REDIRECT = {"303": {"description": "Redirect (Location header)."}}
_PAGE = _ok("HTML page.", STR, HTML)
_OAUTH_ERROR = {"400": _ok("OAuth error (RFC 6749 §5.2).", OBJECT, JSON),
                "401": _ok("invalid_client.", OBJECT, JSON)}


def identity_parameters() -> dict[str, Schema]:
    return {
        "operatorUsername": {"name": "username", "in": "path", "required": True,
                             "schema": STR, "description": "An operator's username."},
        "operatorAction": {"name": "action", "in": "path", "required": True,
                           "schema": {"type": "string",
                                      "enum": ["disable", "enable", "reset-totp",
                                               "reset-password"]},
                           "description": "What to do with the operator."},
        "oidcClientId": {"name": "client_id", "in": "path", "required": True,
                         "schema": STR, "description": "An OIDC client's id."},
    }


def _form(*fields: str) -> Schema:
    return _obj({name: STR for name in fields})


def _login_paths() -> dict[str, Schema]:
    return {
        "/auth/login": {
            "get": _op(LOGIN, "Operator sign-in page (?next=PATH&lang=ja|en)", [],
                       {"200": _PAGE}),
            "post": _op(LOGIN, "Check username and password", [],
                        {**_REDIRECT, "401": _PAGE, "403": _PAGE, "429": _PAGE},
                        _form("csrf_token", "username", "password", "next", "lang"), (FORM,)),
        },
        "/auth/totp": {
            "get": _op(LOGIN, "Second factor page, or TOTP enrolment with a QR code", [],
                       {"200": _PAGE, **_REDIRECT}),
            "post": _op(LOGIN, "Check a TOTP or recovery code", [],
                        {"200": _ok("Recovery codes after enrolment.", STR, HTML),
                         **_REDIRECT, "401": _PAGE, "403": _PAGE, "429": _PAGE},
                        _form("csrf_token", "code", "next", "lang"), (FORM,)),
        },
        "/auth/password": {
            "get": _op(LOGIN, "Password change page (forced after a one-time password)", [],
                       {"200": _PAGE, **_REDIRECT}),
            "post": _op(LOGIN, "Change the password", [],
                        {**_REDIRECT, "400": _PAGE, "403": _PAGE},
                        _form("csrf_token", "current", "new", "again", "next", "lang"),
                        (FORM,)),
        },
        "/auth/logout": {"post": _op(LOGIN, "End the session", [], dict(_REDIRECT),
                                     _form("csrf_token", "lang"), (FORM,))},
        "/auth/account": {"get": _op(LOGIN, "Who is signed in (page)", [],
                                     {"200": _PAGE, **_REDIRECT})},
        "/auth/whoami": {"get": _op(LOGIN, "The caller's principal", [], {"200": _ok(
            "subject, kind, roles, mfa, clientId, issuer.", OBJECT, JSON)})},
        "/auth/identity.css": {"get": _op(LOGIN, "Stylesheet of the login pages", [],
                                          {"200": _ok("CSS.", STR, "text/css")})},
    }


def _oidc_paths() -> dict[str, Schema]:
    return {
        "/.well-known/openid-configuration": {"get": _op(
            OIDC, "OpenID Connect discovery document", [],
            {"200": _ok("Provider metadata.", OBJECT, JSON)})},
        "/oidc/jwks": {"get": _op(OIDC, "Public signing keys (JWKS)", [],
                                  {"200": _ok("JSON Web Key Set.", OBJECT, JSON)})},
        "/oidc/authorize": {"get": _op(
            OIDC, "Authorization code flow (PKCE S256 required)", [],
            {**_REDIRECT, "400": _ok("Unknown client or redirect URI.", OBJECT, JSON)},
            description="Query: response_type=code, client_id, redirect_uri, "
                        "code_challenge, code_challenge_method=S256, state, nonce, scope.")},
        "/oidc/token": {"post": _op(
            OIDC, "Token endpoint (client_credentials, authorization_code)", [],
            {"200": _ok("access_token (and id_token for a code).", OBJECT, JSON),
             **_OAUTH_ERROR},
            _form("grant_type", "client_id", "client_secret", "code", "redirect_uri",
                  "code_verifier", "scope"), (FORM,))},
    }


def _admin_paths() -> dict[str, Schema]:
    operator = _ok("Operator.", OBJECT, JSON)
    return {
        "/admin/operators": {
            "get": _op(ADMIN, "List operators", [],
                       {"200": _ok("Operators.", ARRAY, JSON), **_ADMIN_ERRORS}),
            "post": _op(ADMIN, "Create an operator (answers a one-time password)", [],
                        {"201": operator, **_ADMIN_ERRORS},
                        _obj({"username": STR, "roles": ARRAY}, "username"), (JSON,)),
        },
        "/admin/operators/{username}/{action}": {"post": _op(
            ADMIN, "disable, enable, reset-totp or reset-password an operator",
            [_ref("parameters", "operatorUsername"), _ref("parameters", "operatorAction")],
            {"200": operator, "404": {"description": "No such operator.", **_PROBLEM},
             **_ADMIN_ERRORS}, OBJECT, (JSON,))},
        "/admin/oidc/clients": {
            "get": _op(ADMIN, "List OIDC clients", [],
                       {"200": _ok("Clients.", ARRAY, JSON), **_ADMIN_ERRORS}),
            "post": _op(ADMIN, "Register an OIDC client (answers its secret once)", [],
                        {"201": _ok("Client.", OBJECT, JSON), **_ADMIN_ERRORS},
                        _obj({"clientId": STR, "name": STR, "roles": ARRAY,
                              "redirectUris": ARRAY, "public": {"type": "boolean"}},
                             "clientId"), (JSON,)),
        },
        "/admin/oidc/clients/{client_id}": {"delete": _op(
            ADMIN, "Delete an OIDC client", [_ref("parameters", "oidcClientId")],
            {**NO_CONTENT, **_ADMIN_ERRORS})},
        "/admin/oidc/keys/rotate": {"post": _op(
            ADMIN, "Rotate the provider's signing key", [],
            {"200": _ok("The new kid.", OBJECT, JSON), **_ADMIN_ERRORS}, OBJECT, (JSON,))},
    }


def identity_paths() -> dict[str, Schema]:
    return {**_login_paths(), **_oidc_paths(), **_admin_paths()}


IDENTITY_TAGS = (LOGIN, OIDC, ADMIN)
