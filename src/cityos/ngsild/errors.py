"""The NGSI-LD error family (ETSI GS CIM 009 §5.5.2, Table 5.5.2-1).

Every error the platform reports to a client is one of these. Each carries the ETSI error
type URI and the HTTP status the spec assigns to it; the API layer renders them as
RFC 7807 ProblemDetails.
"""

from __future__ import annotations

from typing import Any, ClassVar

ERROR_BASE = "https://uri.etsi.org/ngsi-ld/errors/"


class NgsiLdError(Exception):
    """Base of the sealed error family. Subclasses fix `error_type` and `status`."""

    error_type: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type_uri(self) -> str:
        return ERROR_BASE + self.error_type

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 7807 ProblemDetails body for this error."""
        body: dict[str, Any] = {"type": self.type_uri, "title": self.title, "status": self.status,
                                "detail": self.detail}
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class InvalidRequest(NgsiLdError):
    """The request is syntactically wrong (bad JSON, bad parameters)."""

    error_type = "InvalidRequest"
    status = 400
    title = "Invalid request"


class BadRequestData(NgsiLdError):
    """The request is well formed but its content is not valid NGSI-LD."""

    error_type = "BadRequestData"
    status = 400
    title = "Bad request data"


class AlreadyExists(NgsiLdError):
    error_type = "AlreadyExists"
    status = 409
    title = "Already exists"


class OperationNotSupported(NgsiLdError):
    error_type = "OperationNotSupported"
    status = 422
    title = "Operation not supported"


class MethodNotAllowed(NgsiLdError):
    """The resource exists but not with this HTTP method (HTTP 405, with an Allow header)."""

    error_type = "OperationNotSupported"
    status = 405
    title = "Method not allowed"


class ResourceNotFound(NgsiLdError):
    error_type = "ResourceNotFound"
    status = 404
    title = "Resource not found"


class NonexistentTenant(NgsiLdError):
    """§4.14: a read names a tenant that does not exist."""

    error_type = "NonexistentTenant"
    status = 404
    title = "Nonexistent tenant"


class TooComplexQuery(NgsiLdError):
    error_type = "TooComplexQuery"
    status = 403
    title = "Too complex query"


class TooManyResults(NgsiLdError):
    error_type = "TooManyResults"
    status = 403
    title = "Too many results"


class LdContextNotAvailable(NgsiLdError):
    error_type = "LdContextNotAvailable"
    status = 504  # Gateway Timeout, as the ETSI conformance suite expects
    title = "JSON-LD @context not available"


class NotAcceptable(NgsiLdError):
    """Accept header names no media type the operation can produce (HTTP 406)."""

    error_type = "NotAcceptable"
    status = 406
    title = "Not acceptable"


class UnsupportedMediaType(NgsiLdError):
    """Content-Type is not one the operation accepts (HTTP 415)."""

    error_type = "UnsupportedMediaType"
    status = 415
    title = "Unsupported media type"


class PayloadTooLarge(NgsiLdError):
    error_type = "PayloadTooLarge"
    status = 413
    title = "Payload too large"


class Conflict(NgsiLdError):
    error_type = "Conflict"
    status = 409
    title = "Conflict"


class InternalError(NgsiLdError):
    error_type = "InternalError"
    status = 500
    title = "Internal error"


class _PlatformError(NgsiLdError):
    """Errors the NGSI-LD specification leaves to the platform (it defines no error type for
    authentication or authorization); their type URIs are the City OS's own."""

    @property
    def type_uri(self) -> str:
        return "https://kaga-city-os.github.io/errors/" + self.error_type


class Unauthenticated(_PlatformError):
    """No valid credentials: missing where they are required, or invalid (HTTP 401)."""

    error_type = "Unauthenticated"
    status = 401
    title = "Authentication required"


class Forbidden(_PlatformError):
    """The authenticated caller is not allowed this operation (HTTP 403)."""

    error_type = "Forbidden"
    status = 403
    title = "Forbidden"


class TooManyRequests(_PlatformError):
    """The caller sent more requests than its rate limit allows (HTTP 429)."""

    error_type = "TooManyRequests"
    status = 429
    title = "Too many requests"
