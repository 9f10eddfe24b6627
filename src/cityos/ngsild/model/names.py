"""Syntax checks for identifiers, names and timestamps (ETSI GS CIM 009 §4.6.2, §4.6.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from cityos.ngsild.errors import BadRequestData

# RFC 3986 scheme followed by a non-empty, whitespace-free remainder.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
# §4.6.2: attribute names are terms or IRIs; these characters are never allowed in them.
_FORBIDDEN_NAME_CHARS = re.compile(r"[<>\"'=;()\s\\]")

ENTITY_MEMBERS = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt",
                            "deletedAt", "@id", "@type"})
RESERVED_ATTRIBUTE_NAMES = frozenset({"id", "type", "scope", "@context", "createdAt",
                                      "modifiedAt", "deletedAt", "@id", "@type", "value",
                                      "object", "observedAt", "unitCode", "datasetId",
                                      "languageMap", "vocab", "json", "valueList",
                                      "objectList", "instanceId"})
MAX_NAME_LENGTH = 1024


def is_uri(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 4096 and _URI.match(value) is not None


def require_uri(value: object, what: str) -> str:
    """Return `value` if it is an absolute URI, else raise BadRequestData naming `what`."""
    if not is_uri(value):
        raise BadRequestData(f"{what} must be an absolute URI, got {value!r}"[:300])
    assert isinstance(value, str)
    return value


def require_attribute_name(name: object) -> str:
    """§4.6.2: an attribute name is a non-empty term or IRI without forbidden characters."""
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"invalid attribute name {name!r}"[:300])
    if _FORBIDDEN_NAME_CHARS.search(name):
        raise BadRequestData(f"attribute name {name!r} contains a forbidden character"[:300])
    return name


def require_type_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"invalid entity type {name!r}"[:300])
    if _FORBIDDEN_NAME_CHARS.search(name):
        raise BadRequestData(f"entity type {name!r} contains a forbidden character"[:300])
    return name


def parse_datetime(value: object, what: str) -> datetime:
    """§4.6.3: DateTime values are ISO 8601 strings; a missing offset means UTC."""
    if not isinstance(value, str) or len(value) > 64:
        raise BadRequestData(f"{what} must be an ISO 8601 DateTime string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadRequestData(f"{what} is not a valid ISO 8601 DateTime: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def require_datetime(value: object, what: str) -> str:
    parse_datetime(value, what)
    assert isinstance(value, str)
    return value


def format_timestamp(moment: datetime) -> str:
    """System timestamps (createdAt, modifiedAt): UTC, microseconds, trailing Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))
