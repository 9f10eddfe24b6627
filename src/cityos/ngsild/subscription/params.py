"""NotificationParams and Endpoint of a Subscription (ETSI GS CIM 009 V1.8.1 §5.2.14,
§5.2.15), parsed into the stored, context-free form: attribute names as expanded IRIs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.model.names import is_uri, require_attribute_name
from cityos.ngsild.model.terms import TermMapper
from cityos.ngsild.types import JsonObject

ENDPOINT_SCHEMES = frozenset({"http", "https", "mqtt", "mqtts"})
ACCEPT_TYPES = ("application/json", "application/ld+json", "application/geo+json")
# §5.2.14: "simplified" is a synonym of keyValues; the stored form keeps what the client
# sent so that it is rendered back unchanged.
FORMATS = frozenset({"normalized", "keyValues", "simplified", "concise"})
ENTITY_MEMBERS = frozenset({"id", "type", "scope"})
JOIN_KINDS = frozenset({"flat", "inline"})
MAX_JOIN_LEVEL = 8


def bad(detail: str) -> BadRequestData:
    return BadRequestData(detail[:400])


def require_bool(value: Any, what: str) -> bool:
    if not isinstance(value, bool):
        raise bad(f"{what} must be true or false")
    return value


def require_text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise bad(f"{what} must be a non-empty string")
    return value


def attribute_list(value: Any, what: str, expand: Callable[[str], str],
                   members: bool = False) -> list[str]:
    """A non-empty array of attribute names, expanded; with `members`, the entity members
    id, type and scope may be named too (§4.21 pick/omit) and are kept as they are."""
    if not isinstance(value, list) or not value:
        raise bad(f"{what} must be a non-empty array of attribute names")
    names: list[str] = []
    for name in value:
        if members and name in ENTITY_MEMBERS:
            names.append(name)
            continue
        if not isinstance(name, str):
            raise bad(f"{what} must list attribute names, got {name!r}")
        names.append(expand(require_attribute_name(name)))
    return list(dict.fromkeys(names))


def parse_key_values(value: Any, what: str) -> list[JsonObject]:
    """§5.2.22 KeyValuePair arrays (receiverInfo, notifierInfo): string keys and values."""
    if not isinstance(value, list):
        raise bad(f"{what} must be an array of {{key, value}} objects")
    pairs: list[JsonObject] = []
    for item in value:
        if not isinstance(item, dict) or set(item) != {"key", "value"}:
            raise bad(f"each {what} entry must be an object with exactly 'key' and 'value'")
        key, text = item["key"], item["value"]
        if not isinstance(key, str) or not key or not isinstance(text, str):
            raise bad(f"{what} keys must be non-empty strings and values strings")
        if any(ch in key + text for ch in "\r\n"):
            raise bad(f"{what} keys and values must not contain line breaks")
        pairs.append({"key": key, "value": text})
    return pairs


def parse_endpoint(value: Any) -> JsonObject:
    """§5.2.15 Endpoint: `uri` (http, https, mqtt or mqtts), `accept`, receiverInfo,
    notifierInfo."""
    if not isinstance(value, dict):
        raise bad("notification.endpoint must be an object with a 'uri'")
    uri = value.get("uri")
    if not is_uri(uri):
        raise bad(f"notification.endpoint.uri must be an absolute URI, got {uri!r}")
    assert isinstance(uri, str)
    parts = urlsplit(uri)
    if parts.scheme.lower() not in ENDPOINT_SCHEMES or not parts.hostname:
        raise bad(f"notification.endpoint.uri {uri!r} must be an http, https, mqtt or mqtts "
                  "URL with a host")
    endpoint: JsonObject = {"uri": uri}
    if "accept" in value and value["accept"] is not None:
        if value["accept"] not in ACCEPT_TYPES:
            raise bad(f"notification.endpoint.accept must be one of {', '.join(ACCEPT_TYPES)}")
        endpoint["accept"] = value["accept"]
    for name in ("receiverInfo", "notifierInfo"):
        if value.get(name) is not None:
            endpoint[name] = parse_key_values(value[name], f"notification.endpoint.{name}")
    return endpoint


def parse_notification(value: Any, ctx: TermMapper) -> JsonObject:
    """§5.2.14 NotificationParams (the client-settable members; status members are
    output only and ignored)."""
    if not isinstance(value, dict):
        raise bad("notification must be an object")
    if value.get("endpoint") is None:
        raise bad("notification.endpoint is mandatory")
    out: JsonObject = {"endpoint": parse_endpoint(value["endpoint"])}
    expand = ctx.expand_term
    for name in ("attributes", "pick", "omit"):
        if value.get(name) is not None:
            out[name] = attribute_list(value[name], f"notification.{name}", expand,
                                       members=name != "attributes")
    _check_projection(out)
    if value.get("format") is not None:
        if value["format"] not in FORMATS:
            raise bad(f"notification.format must be one of {', '.join(sorted(FORMATS))}")
        out["format"] = value["format"]
    for name in ("showChanges", "sysAttrs"):
        if value.get(name) is not None:
            out[name] = require_bool(value[name], f"notification.{name}")
    if out.get("showChanges") and out.get("format") in ("keyValues", "simplified"):
        raise bad("notification.showChanges cannot be used with the keyValues format: "
                  "previous values have nowhere to go")
    _parse_join(value, out)
    return out


def _check_projection(out: JsonObject) -> None:
    """§5.2.14 with §4.21: attributes excludes pick and omit; a member cannot be both
    picked and omitted."""
    if "attributes" in out and ("pick" in out or "omit" in out):
        raise bad("notification.attributes cannot be combined with pick or omit")
    both = set(out.get("pick", ())) & set(out.get("omit", ()))
    if both:
        raise bad("a member cannot be both picked and omitted: " + ", ".join(sorted(both)))


def _parse_join(value: JsonObject, out: JsonObject) -> None:
    """§4.5.23 Linked Entity retrieval in notifications: join and joinLevel."""
    if value.get("join") is not None:
        if value["join"] not in JOIN_KINDS:
            raise bad("notification.join must be flat or inline")
        out["join"] = value["join"]
    if value.get("joinLevel") is not None:
        level = value["joinLevel"]
        if isinstance(level, bool) or not isinstance(level, int) \
                or not 1 <= level <= MAX_JOIN_LEVEL:
            raise bad(f"notification.joinLevel must be an integer from 1 to {MAX_JOIN_LEVEL}")
        out["joinLevel"] = level
