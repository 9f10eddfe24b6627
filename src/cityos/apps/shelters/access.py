"""Who may use the staff app: development mode, or an operator who completed the second
factor and holds the role shelter-staff or admin. Admins (and development mode) act on
every shelter; shelter staff on those whose responsibleStaff lists them.

Cookie-authenticated writes are CSRF-safe: every staff API write must carry the header
`X-Requested-With: cityos` (a cross-site form cannot set it, and a cross-site fetch that
sets it needs a CORS preflight, which this server never grants), and a request whose
Origin (or Sec-Fetch-Site) says it comes from another site is refused."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from cityos.apps.shelters.model import Shelter
from cityos.ngsild.errors import Forbidden, Unauthenticated
from cityos.security.principal import Principal, principal_of

STAFF_ROLES = ("shelter-staff", "admin")
CSRF_HEADER = "x-requested-with"
CSRF_VALUE = "cityos"


def may_staff(principal: Principal) -> bool:
    if principal.kind == "developer":
        return True
    return principal.kind == "operator" and principal.mfa and any(
        principal.has_role(role) for role in STAFF_ROLES)


def sees_all(principal: Principal) -> bool:
    return principal.kind == "developer" or principal.has_role("admin")


def responsible_for(principal: Principal, shelter: Shelter) -> bool:
    return sees_all(principal) or principal.subject in shelter.responsible_staff


def login_redirect(request: Request) -> str | None:
    """Where an anonymous page request goes (the login page, then back), or None when
    the caller may see staff pages. A signed-in caller without the role gets 403."""
    principal = principal_of(request.scope)
    if may_staff(principal):
        return None
    if principal.is_anonymous:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return "/auth/login?next=" + quote(target, safe="/")
    raise Forbidden("the shelter staff app needs the role shelter-staff or admin "
                    "and a completed second factor")


def require_staff(request: Request, *, write: bool = False) -> Principal:
    """The staff principal of an API call, or 401/403 ProblemDetails."""
    principal = principal_of(request.scope)
    if principal.is_anonymous:
        raise Unauthenticated("sign in as shelter staff")
    if not may_staff(principal):
        raise Forbidden("the shelter staff API needs the role shelter-staff or admin "
                        "and a completed second factor")
    if write:
        _require_same_origin(request)
    return principal


def _require_same_origin(request: Request) -> None:
    if request.headers.get(CSRF_HEADER, "").lower() != CSRF_VALUE:
        raise Forbidden(f"staff writes need the header X-Requested-With: {CSRF_VALUE}")
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise Forbidden("cross-site staff writes are refused")
    origin = request.headers.get("origin")
    host = request.headers.get("host", "")
    if origin is not None and origin.split("://", 1)[-1] != host:
        raise Forbidden("cross-origin staff writes are refused")
