"""Device and group records and how provisioning JSON becomes them (pure, no I/O).

The JSON shapes follow the FIWARE IoT Agent provisioning API (`device_id`, `entity_name`,
`entity_type`, `attributes` with `object_id`/`name`/`type`, `transport`, `apikey`) with
the City OS additions the sensor registry publishes (`location`, `purpose`, `operator`,
`personal_data`, `installed_on`) and per-attribute `unitCode` and `scale`/`offset`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cityos.ngsild.errors import BadRequestData

ValueType = Literal["Number", "Integer", "Text", "Boolean"]
Transport = Literal["MQTT", "HTTP"]
VALUE_TYPES: tuple[ValueType, ...] = ("Number", "Integer", "Text", "Boolean")
# What may appear in an MQTT topic level and a URL query without escaping.
TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,128}")
ATTRIBUTE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
RESERVED_NAMES = frozenset({"id", "type", "scope", "location", "observationSpace",
                            "operationSpace", "createdAt", "modifiedAt", "expiresAt"})
ENTITY_TYPE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")


@dataclass(frozen=True)
class AttributeMapping:
    """Measurement key `object_id` becomes NGSI-LD Property `name` (a term of the core
    @context), of `value_type`, scaled as value × scale + offset (numbers)."""

    object_id: str
    name: str
    value_type: ValueType = "Number"
    unit_code: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    description: str = ""

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"object_id": self.object_id, "name": self.name,
                                "type": self.value_type}
        if self.unit_code:
            body["unitCode"] = self.unit_code
        if self.scale != 1.0:
            body["scale"] = self.scale
        if self.offset != 0.0:
            body["offset"] = self.offset
        if self.description:
            body["description"] = self.description
        return body


@dataclass(frozen=True)
class RegistryInfo:
    """What the sensor registry publishes about why a sensor is there."""

    purpose: str = ""
    purpose_en: str = ""
    operator: str = ""
    personal_data: bool = False
    personal_data_note: str = ""
    installed_on: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"purpose": self.purpose, "purpose_en": self.purpose_en,
                "operator": self.operator, "personal_data": self.personal_data,
                "personal_data_note": self.personal_data_note,
                "installed_on": self.installed_on}

    def over(self, base: RegistryInfo) -> RegistryInfo:
        """These fields where set, `base`'s elsewhere (a device over its group)."""
        return RegistryInfo(**{name: mine or theirs for (name, mine), theirs in
                               zip(self.as_json().items(), base.as_json().values(),
                                   strict=True)})


@dataclass(frozen=True)
class Group:
    """A service group: devices sharing an entity type, a mapping, registry text and,
    optionally, an API key (FIWARE style)."""

    tenant: str
    name: str
    entity_type: str
    attributes: tuple[AttributeMapping, ...] = ()
    registry: RegistryInfo = field(default_factory=RegistryInfo)

    def as_json(self) -> dict[str, Any]:
        return {"service": self.tenant, "name": self.name, "entity_type": self.entity_type,
                "attributes": [a.as_json() for a in self.attributes],
                **self.registry.as_json()}


@dataclass(frozen=True)
class Device:
    tenant: str
    device_id: str
    entity_id: str
    entity_type: str
    attributes: tuple[AttributeMapping, ...]
    transport: Transport = "MQTT"
    group: str | None = None
    location: tuple[float, float] | None = None  # longitude, latitude
    registry: RegistryInfo = field(default_factory=RegistryInfo)
    signed: bool = False  # every payload must carry a valid HMAC signature
    created_at: str = ""

    def mapping(self, object_id: str) -> AttributeMapping | None:
        for attribute in self.attributes:
            if attribute.object_id == object_id:
                return attribute
        return None

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "device_id": self.device_id, "service": self.tenant,
            "entity_name": self.entity_id, "entity_type": self.entity_type,
            "transport": self.transport, "attributes": [a.as_json() for a in self.attributes],
            "signed": self.signed, "created_at": self.created_at, **self.registry.as_json()}
        if self.group is not None:
            body["group"] = self.group
        if self.location is not None:
            body["location"] = {"type": "Point", "coordinates": list(self.location)}
        return body


def _text(body: dict[str, Any], key: str, default: str = "", limit: int = 2000) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequestData(f"{key} must be a string of at most {limit} characters")
    return value


def _token(body: dict[str, Any], key: str, pattern: re.Pattern[str] = TOKEN) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise BadRequestData(f"{key} is required and must match {pattern.pattern}")
    return value


def _number(raw: dict[str, Any], key: str, default: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequestData(f"attribute {key} must be a number")
    return float(value)


def parse_attribute(raw: Any) -> AttributeMapping:
    if not isinstance(raw, dict):
        raise BadRequestData("each attribute mapping must be a JSON object")
    name = _token(raw, "name", ATTRIBUTE)
    if name in RESERVED_NAMES:
        raise BadRequestData(f"{name!r} is reserved by NGSI-LD; choose another name")
    object_id = raw.get("object_id", name)
    if not isinstance(object_id, str) or not TOKEN.fullmatch(object_id):
        raise BadRequestData("object_id must match " + TOKEN.pattern)
    value_type = raw.get("type", "Number")
    if value_type not in VALUE_TYPES:
        raise BadRequestData(f"attribute type must be one of {', '.join(VALUE_TYPES)}")
    unit = raw.get("unitCode")
    if unit is not None and (not isinstance(unit, str) or not TOKEN.fullmatch(unit)):
        raise BadRequestData("unitCode must be a UN/CEFACT common code such as CEL or MTR")
    return AttributeMapping(object_id, name, value_type, unit, _number(raw, "scale", 1.0),
                            _number(raw, "offset", 0.0), _text(raw, "description"))


def parse_attributes(raw: Any) -> tuple[AttributeMapping, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 100:
        raise BadRequestData("attributes must be a list of at most 100 mappings")
    mappings = tuple(parse_attribute(item) for item in raw)
    keys = [m.object_id for m in mappings]
    if len(set(keys)) != len(keys):
        raise BadRequestData("two attribute mappings share an object_id")
    return mappings


def parse_registry(raw: dict[str, Any]) -> RegistryInfo:
    personal = raw.get("personal_data", False)
    if not isinstance(personal, bool):
        raise BadRequestData("personal_data must be true or false")
    installed = _text(raw, "installed_on", limit=10)
    if installed and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", installed):
        raise BadRequestData("installed_on must be a date, YYYY-MM-DD")
    return RegistryInfo(_text(raw, "purpose"), _text(raw, "purpose_en"),
                        _text(raw, "operator", limit=200), personal,
                        _text(raw, "personal_data_note"), installed)


def parse_location(raw: Any) -> tuple[float, float] | None:
    """A GeoJSON Point, or {"longitude", "latitude"}; None when absent."""
    if raw is None:
        return None
    if isinstance(raw, dict) and raw.get("type") == "Point":
        coordinates = raw.get("coordinates")
    elif isinstance(raw, dict):
        coordinates = [raw.get("longitude"), raw.get("latitude")]
    else:
        coordinates = None
    if (not isinstance(coordinates, list) or len(coordinates) != 2
            or not all(isinstance(c, int | float) and not isinstance(c, bool)
                       for c in coordinates)):
        raise BadRequestData("location must be a GeoJSON Point [longitude, latitude]")
    longitude, latitude = float(coordinates[0]), float(coordinates[1])
    if not (-180 <= longitude <= 180 and -90 <= latitude <= 90):
        raise BadRequestData("location is outside longitude -180..180, latitude -90..90")
    return longitude, latitude


def parse_group(raw: Any, tenant: str) -> Group:
    if not isinstance(raw, dict):
        raise BadRequestData("a service group must be a JSON object")
    entity_type = _token(raw, "entity_type", ENTITY_TYPE)
    name = raw.get("name", raw.get("resource", entity_type))
    if not isinstance(name, str) or not TOKEN.fullmatch(name.strip("/").replace("/", "-")):
        raise BadRequestData("name must match " + TOKEN.pattern)
    return Group(tenant, name.strip("/").replace("/", "-"), entity_type,
                 parse_attributes(raw.get("attributes")), parse_registry(raw))


def parse_device(raw: Any, tenant: str, group: Group | None, now: str) -> Device:
    """A device from provisioning JSON; what it leaves out comes from its `group`."""
    if not isinstance(raw, dict):
        raise BadRequestData("a device must be a JSON object")
    device_id = _token(raw, "device_id")
    entity_type = raw.get("entity_type", group.entity_type if group else None)
    if not isinstance(entity_type, str) or not ENTITY_TYPE.fullmatch(entity_type):
        raise BadRequestData("entity_type is required (or a group that has one)")
    entity_id = raw.get("entity_name", f"urn:ngsi-ld:{entity_type}:{device_id}")
    if not isinstance(entity_id, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*:\S+",
                                                          entity_id):
        raise BadRequestData("entity_name must be a URI such as urn:ngsi-ld:Type:id")
    attributes = parse_attributes(raw.get("attributes")) or (group.attributes if group else ())
    if not attributes:
        raise BadRequestData("a device needs attribute mappings (its own or its group's)")
    transport = str(raw.get("transport", "MQTT")).upper()
    if transport not in ("MQTT", "HTTP"):
        raise BadRequestData("transport must be MQTT or HTTP")
    signed = raw.get("signed", False)
    if not isinstance(signed, bool):
        raise BadRequestData("signed must be true or false")
    registry = parse_registry(raw)
    if group is not None:
        registry = registry.over(group.registry)
    return Device(tenant, device_id, entity_id, entity_type, attributes,
                  "MQTT" if transport == "MQTT" else "HTTP",
                  group.name if group else None, parse_location(raw.get("location")),
                  registry, signed, now)


def device_from_json(doc: dict[str, Any]) -> Device:
    """A stored record back (its JSON as written by `Device.as_json`)."""
    device = parse_device(doc, str(doc.get("service", "")), None, str(doc.get("created_at")))
    return replace(device, group=doc.get("group"))


def group_from_json(doc: dict[str, Any]) -> Group:
    return parse_group(doc, str(doc.get("service", "")))
