"""Readings become typed, scaled NGSI-LD values; what a device was not provisioned for is
not stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cityos.iot.mapping import convert, measurements
from cityos.iot.model import AttributeMapping, Device
from cityos.iot.payloads import MalformedPayload, Reading

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
DEVICE = Device("kaga", "gauge-1", "urn:ngsi-ld:WaterObserved:gauge-1", "WaterObserved", (
    AttributeMapping("l", "height", "Number", "MTR", scale=0.01),
    AttributeMapping("c", "peopleCount", "Integer", "C62"),
    AttributeMapping("s", "status", "Text"),
    AttributeMapping("ok", "operational", "Boolean")))


def test_values_are_typed_and_scaled() -> None:
    found, unmapped, received = measurements(DEVICE, [Reading("l", "123"), Reading("c", 4.6),
                                            Reading("s", 7), Reading("ok", "true"),
                                            Reading("x", 1)], NOW)
    assert [(m.name, m.value, m.unit_code) for m in found] == [
        ("height", 1.23, "MTR"), ("peopleCount", 5, "C62"), ("status", "7", None),
        ("operational", True, None)]
    assert unmapped == 1 and received == "2026-11-26T09:00:00.000000Z"
    assert found[0].observed_at == "2026-11-26T09:00:00.000000Z"
    assert found[0].property_json() == {"type": "Property", "value": 1.23,
                                        "observedAt": "2026-11-26T09:00:00.000000Z",
                                        "unitCode": "MTR"}


def test_device_time_is_kept() -> None:
    earlier = NOW - timedelta(minutes=3)
    [found], _, _ = measurements(DEVICE, [Reading("c", "1", earlier)], NOW)
    assert found.observed_at == "2026-11-26T08:57:00.000000Z"


@pytest.mark.parametrize("reading", [
    Reading("l", "abc"), Reading("l", "nan"), Reading("l", "inf"), Reading("l", True),
    Reading("ok", "maybe"), Reading("l", "1e400"),
    Reading("c", "1", NOW + timedelta(hours=1)),
])
def test_bad_values_refuse_the_payload(reading: Reading) -> None:
    with pytest.raises(MalformedPayload):
        measurements(DEVICE, [Reading("c", "1"), reading], NOW)


def test_a_payload_with_nothing_provisioned_is_refused() -> None:
    with pytest.raises(MalformedPayload, match="provisioned"):
        measurements(DEVICE, [Reading("x", 1)], NOW)


def test_integer_scaling_rounds() -> None:
    assert convert(AttributeMapping("c", "n", "Integer", scale=0.5), "5") == 2
    assert convert(AttributeMapping("c", "n", "Number", offset=-10), 12) == 2.0
