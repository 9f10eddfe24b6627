"""Syntax checks for identifiers, names and timestamps (ETSI GS CIM 009 §4.6.2, §4.6.3)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

from cityos.ngsild.errors import BadRequestData

# RFC 3986 scheme followed by a non-empty, whitespace-free remainder.
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`]+$")
# §4.6.2: attribute names are terms or IRIs; these characters are never allowed in them.
_FORBIDDEN_NAME_CHARS = re.compile(r"[<>\"'=;()\s\\]")

ENTITY_MEMBERS = frozenset({"id", "type", "scope", "@context", "createdAt", "modifiedAt",
                            "deletedAt", "expiresAt", "@id", "@type"})
RESERVED_ATTRIBUTE_NAMES = frozenset({"id", "type", "scope", "@context", "createdAt",
                                      "modifiedAt", "deletedAt", "expiresAt", "@id",
                                      "@type", "value", "object", "observedAt",
                                      "unitCode", "datasetId",
                                      "languageMap", "vocab", "json", "valueList",
                                      "objectList", "instanceId"})
MAX_NAME_LENGTH = 1024


# Characters that render as nothing or reorder text: an id holding them looks like another
# id (spoofing), so they are refused (§4.6.2 asks for valid URIs; RFC 3987 excludes these).
_INVISIBLE = re.compile("[\u00ad\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e"
                        "\u2060-\u206f\u2800\u3164\ufe00-\ufe0f\ufeff\uffa0"
                        "\ufdd0-\ufdef\ufff0-\uffff\U000e0000-\U000e0fff"
                        "\ud800-\udfff]")


def _has_noncharacter(value: str) -> bool:
    return any((ord(ch) & 0xFFFE) == 0xFFFE for ch in value if ord(ch) > 0xFFFF)


def is_uri(value: object) -> bool:
    return isinstance(value, str) and len(value) <= 4096 and _is_uri_text(value)


@lru_cache(maxsize=65536)  # the same ids and IRIs come back request after request
def _is_uri_text(value: str) -> bool:
    return (_URI.match(value) is not None and _INVISIBLE.search(value) is None
            and not _has_noncharacter(value))


def require_uri(value: object, what: str) -> str:
    """Return `value` if it is an absolute URI, else raise BadRequestData naming `what`.
    The NGSI-LD Null URI (§4.6.5) is never a valid identifier."""
    if not is_uri(value) or value == "urn:ngsi-ld:null":
        raise BadRequestData(f"{what} must be an absolute URI, got {value!r}"[:300])
    assert isinstance(value, str)
    return value


def _require_name(name: object, what: str) -> str:
    if not isinstance(name, str) or not name or len(name) > MAX_NAME_LENGTH:
        raise BadRequestData(f"invalid {what} {name!r}"[:300])
    if _FORBIDDEN_NAME_CHARS.search(name) or _INVISIBLE.search(name):
        raise BadRequestData(f"{what} {name!r} contains a forbidden character"[:300])
    if name in RESERVED_ATTRIBUTE_NAMES or name.startswith("@"):
        raise BadRequestData(f"{name!r} is a reserved NGSI-LD term and cannot be "
                             f"used as {what}"[:300])
    return name


def require_attribute_name(name: object) -> str:
    """§4.6.2: an attribute name is a non-empty term or IRI without forbidden characters,
    and not one of the core terms the information model itself uses (§4.5)."""
    return _require_name(name, "attribute name")


def require_type_name(name: object) -> str:
    """§4.6.2 applies to entity type names as to attribute names."""
    return _require_name(name, "entity type")


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
    """§4.6.3 / §4.8: DateTime values sent by clients are UTC, written with a trailing Z."""
    parse_datetime(value, what)
    assert isinstance(value, str)
    if not value.endswith("Z"):
        raise BadRequestData(f"{what} must be a UTC DateTime ending in Z, got {value!r}"[:200])
    return value


def format_timestamp(moment: datetime) -> str:
    """System timestamps (createdAt, modifiedAt): UTC, microseconds, trailing Z."""
    # isoformat is several times faster than strftime; same text: …T04:01:05.123456Z
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def now_timestamp() -> str:
    return format_timestamp(datetime.now(UTC))
