"""JSON Web Tokens: issuing the built-in provider's tokens and checking any issuer's.

Checks (RFC 7519, RFC 8725): the algorithm is one of ACCEPTED_ALGORITHMS (never "none",
never an HMAC one a public key could be abused as the secret of), the signature verifies
with a key of the issuer's JWKS chosen by `kid`, `iss` is the expected issuer, `aud`
holds the expected audience, `exp` is in the future and `nbf`/`iat` not too far in it."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from cityos.ngsild.errors import Unauthenticated

ACCEPTED_ALGORITHMS = ("ES256", "ES384", "RS256", "RS384", "RS512", "PS256", "EdDSA")
LEEWAY = 30.0  # seconds of clock skew tolerated between issuer and here


def looks_like_jwt(token: str) -> bool:
    parts = token.split(".")
    return len(parts) == 3 and all(parts[:2])


def _segment(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    try:
        value = orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, orjson.JSONDecodeError) as error:
        raise Unauthenticated("the bearer token is not a well-formed JWT") from error
    if not isinstance(value, dict):
        raise Unauthenticated("the bearer token is not a well-formed JWT")
    return value


def unverified_issuer(token: str) -> str:
    """The `iss` a token claims, read only to choose which issuer's keys check it."""
    issuer = _segment(token, 1).get("iss")
    if not isinstance(issuer, str):
        raise Unauthenticated("the bearer token names no issuer")
    return issuer


def unverified_kid(token: str) -> str | None:
    kid = _segment(token, 0).get("kid")
    return kid if isinstance(kid, str) else None


def sign(claims: dict[str, Any], kid: str, key: ECKey) -> str:
    return jwt.encode({"alg": "ES256", "kid": kid, "typ": "JWT"}, claims, key)


def new_claims(*, issuer: str, subject: str, audience: str, lifetime: float, now: float,
               **extra: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"iss": issuer, "sub": subject, "aud": audience,
                              "iat": int(now), "nbf": int(now), "exp": int(now + lifetime),
                              "jti": secrets.token_urlsafe(16)}
    claims.update({k: v for k, v in extra.items() if v is not None})
    return claims


def verify(token: str, keys: KeySet, *, issuer: str, audience: str,
           now: float) -> dict[str, Any]:
    """The token's claims if every check passes; Unauthenticated saying which failed."""
    algorithm = _segment(token, 0).get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise Unauthenticated(f"token algorithm {algorithm!r} is not accepted")
    try:
        claims = dict(jwt.decode(token, keys, algorithms=list(ACCEPTED_ALGORITHMS)).claims)
    except (JoseError, ValueError) as error:
        raise Unauthenticated(f"the bearer token's signature is not valid ({error})") \
            from error
    _check_claims(claims, issuer=issuer, audience=audience, now=now)
    return claims


def _check_claims(claims: dict[str, Any], *, issuer: str, audience: str, now: float) -> None:
    if claims.get("iss") != issuer:
        raise Unauthenticated("the bearer token's issuer does not match")
    audiences = claims.get("aud")
    listed = audiences if isinstance(audiences, list) else [audiences]
    if audience not in listed:
        raise Unauthenticated(f"the bearer token is not meant for audience {audience!r}")
    expiry = claims.get("exp")
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        raise Unauthenticated("the bearer token has no expiry")
    if expiry + LEEWAY < now:
        raise Unauthenticated("the bearer token has expired")
    for name in ("nbf", "iat"):
        stamp = claims.get(name)
        if isinstance(stamp, int | float) and stamp - LEEWAY > now:
            raise Unauthenticated(f"the bearer token's {name} is in the future")
