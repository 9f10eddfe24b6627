"""A provisioned device as a Smart Data Models `Device` entity (dataModel.Device), in
NGSI-LD normalized form with the core @context (pure, no I/O).

Built from the device record only — never from its credentials: the API key hash and the
HMAC key are not part of `Device` (cityos.iot.model), so they cannot leak through here.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from cityos.iot.model import Device

DEVICE_TYPE = "Device"
# The attributes this module writes; on re-provisioning they are replaced as a whole.
DEVICE_ATTRIBUTES = ("name", "description", "category", "controlledProperty",
                     "controlledAsset", "supportedProtocol", "owner", "dateInstalled",
                     "location", "dateLastValueReported")


def device_entity_id(device_id: str) -> str:
    return f"urn:ngsi-ld:{DEVICE_TYPE}:{device_id}"


def shares_fed_entity(device: Device) -> bool:
    """True when the device feeds its measurements into its own Device entity (it was
    provisioned with entity type Device and the default entity name)."""
    return device.entity_id == device_entity_id(device.device_id)


def _property(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def _date_time(value: str) -> dict[str, Any]:
    return _property({"@type": "DateTime", "@value": value})


def device_entity(device: Device, last_seen: str | None = None) -> dict[str, Any]:
    """The Device entity of `device`; `last_seen` (an NGSI-LD DateTime) becomes
    dateLastValueReported."""
    registry = device.registry
    body: dict[str, Any] = {
        "id": device_entity_id(device.device_id), "type": DEVICE_TYPE,
        "name": _property(device.device_id),
        "category": _property(["sensor"]),
        "controlledProperty": _property(sorted({m.name for m in device.attributes})),
        "controlledAsset": {"type": "Relationship", "object": device.entity_id},
        "supportedProtocol": _property([device.transport.lower()]),
    }
    description = registry.purpose or registry.purpose_en
    if description:
        body["description"] = _property(description)
    if registry.operator:
        body["owner"] = _property([registry.operator])
    if _is_date(registry.installed_on):
        body["dateInstalled"] = _date_time(f"{registry.installed_on}T00:00:00Z")
    if device.location is not None:
        body["location"] = {"type": "GeoProperty", "value": {
            "type": "Point", "coordinates": list(device.location)}}
    if last_seen:
        body["dateLastValueReported"] = _date_time(last_seen)
    return body


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def last_value_fragment(device_id: str, last_seen: str) -> dict[str, Any]:
    """The update that moves a Device entity's dateLastValueReported."""
    return {"id": device_entity_id(device_id), "type": DEVICE_TYPE,
            "dateLastValueReported": _date_time(last_seen)}
