"""Readings → NGSI-LD Property values of the device's entity, through its attribute
mappings (pure, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cityos.iot.model import AttributeMapping, Device
from cityos.iot.payloads import MalformedPayload, Reading, Scalar
from cityos.ngsild.model.names import format_timestamp

FUTURE_TOLERANCE = timedelta(minutes=5)
_TRUE = {"true", "1", "on", "yes"}
_FALSE = {"false", "0", "off", "no"}


@dataclass(frozen=True)
class Measurement:
    """One NGSI-LD Property value for `entity_id`'s attribute `name`."""

    tenant: str
    entity_id: str
    entity_type: str
    name: str
    value: Scalar
    observed_at: str
    unit_code: str | None

    def property_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"type": "Property", "value": self.value,
                                "observedAt": self.observed_at}
        if self.unit_code:
            body["unitCode"] = self.unit_code
        return body


def convert(mapping: AttributeMapping, raw: Scalar) -> Scalar:
    """The reading as the mapping's value type, numbers scaled; MalformedPayload if it is
    not one."""
    kind = mapping.value_type
    if kind == "Text":
        return raw if isinstance(raw, str) else str(raw).lower() if isinstance(raw, bool) \
            else str(raw)
    if kind == "Boolean":
        text = str(raw).lower()
        if text in _TRUE or text in _FALSE:
            return text in _TRUE
        raise MalformedPayload(f"{mapping.object_id}: {str(raw)[:40]!r} is not a boolean")
    number = _number(mapping.object_id, raw) * mapping.scale + mapping.offset
    if not math.isfinite(number):
        raise MalformedPayload(f"{mapping.object_id}: value out of range")
    if kind == "Integer":
        return round(number)
    return number


def _number(key: str, raw: Scalar) -> float:
    if isinstance(raw, bool):
        raise MalformedPayload(f"{key}: a boolean is not a number")
    try:
        number = float(raw)
    except (TypeError, ValueError):
        raise MalformedPayload(f"{key}: {str(raw)[:40]!r} is not a number") from None
    if not math.isfinite(number):
        raise MalformedPayload(f"{key}: {str(raw)[:40]!r} is not a finite number")
    return number


def measurements(device: Device, readings: list[Reading],
                 received: datetime) -> tuple[list[Measurement], int, str]:
    """The measurements of `readings`, how many readings had no mapping (those are not
    stored: a device records only the data items it was provisioned and registered for),
    and the time received as an NGSI-LD DateTime."""
    found: list[Measurement] = []
    unmapped = 0
    received_text = format_timestamp(received)
    for reading in readings:
        mapping = device.mapping(reading.key)
        if mapping is None:
            unmapped += 1
            continue
        observed = received_text
        if reading.observed_at is not None:
            if reading.observed_at - received > FUTURE_TOLERANCE:
                raise MalformedPayload(f"{reading.key}: observed time is in the future")
            observed = format_timestamp(reading.observed_at)
        found.append(Measurement(device.tenant, device.entity_id, device.entity_type,
                                 mapping.name, convert(mapping, reading.value),
                                 observed, mapping.unit_code))
    if not found:
        raise MalformedPayload("none of the payload's keys is a provisioned measurement")
    return found, unmapped, received_text
