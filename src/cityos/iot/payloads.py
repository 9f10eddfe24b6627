"""Measurement payloads: JSON and UltraLight 2.0, as the FIWARE IoT Agents accept them
(pure, no I/O). Every limit is checked before work proportional to the input is done.

- JSON: an object of measurement key → scalar, or a list of such objects; a `TimeInstant`
  (or `observedAt`) member gives the time of that object's measurements.
- UltraLight 2.0: `key|value|key|value`, measure groups separated by `#`; a group with an
  odd number of fields starts with its timestamp (`2026-11-26T09:00:00Z|c|12`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import orjson

MAX_PAYLOAD_BYTES = 65_536
MAX_MEASUREMENTS = 1_000
MAX_TEXT = 1_024
TIME_KEYS = ("TimeInstant", "observedAt")
PayloadFormat = Literal["json", "ul", "auto"]
Scalar = str | int | float | bool


class MalformedPayload(ValueError):
    """The payload cannot be read as measurements; the message says why."""


@dataclass(frozen=True)
class Reading:
    """One measured value as the device sent it, with its own time if it gave one."""

    key: str
    value: Scalar
    observed_at: datetime | None = None


def decode(payload: bytes, payload_format: PayloadFormat = "auto") -> list[Reading]:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise MalformedPayload(f"payload larger than {MAX_PAYLOAD_BYTES} bytes")
    if payload_format == "auto":
        payload_format = "json" if payload.lstrip()[:1] in (b"{", b"[") else "ul"
    readings = decode_json(payload) if payload_format == "json" else decode_ultralight(payload)
    if not readings:
        raise MalformedPayload("no measurements in the payload")
    if len(readings) > MAX_MEASUREMENTS:
        raise MalformedPayload(f"more than {MAX_MEASUREMENTS} measurements in one payload")
    return readings


def decode_json(payload: bytes) -> list[Reading]:
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise MalformedPayload(f"not JSON: {error}") from None
    groups = document if isinstance(document, list) else [document]
    if len(groups) > MAX_MEASUREMENTS:
        raise MalformedPayload(f"more than {MAX_MEASUREMENTS} measure groups")
    readings: list[Reading] = []
    for group in groups:
        if not isinstance(group, dict):
            raise MalformedPayload("a JSON payload is an object (or a list of objects) of "
                                   "measurement key → value")
        observed = _json_time(group)
        for key, value in group.items():
            if key in TIME_KEYS:
                continue
            readings.append(Reading(_key(key), _scalar(key, value), observed))
    return readings


def _json_time(group: dict[str, object]) -> datetime | None:
    for key in TIME_KEYS:
        if key in group:
            raw = group[key]
            if not isinstance(raw, str):
                raise MalformedPayload(f"{key} must be an ISO 8601 date-time string")
            return parse_time(raw)
    return None


def _scalar(key: str, value: object) -> Scalar:
    if isinstance(value, bool | int | float | str):
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise MalformedPayload(f"value of {key!r} is longer than {MAX_TEXT} characters")
        return value
    raise MalformedPayload(f"value of {key!r} must be a number, string or boolean")


def _key(key: str) -> str:
    if not key or len(key) > 128 or any(c in key for c in "|#\x00/+"):
        raise MalformedPayload(f"measurement key {key[:40]!r} is not valid")
    return key


def decode_ultralight(payload: bytes) -> list[Reading]:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload("UltraLight payload is not UTF-8") from None
    readings: list[Reading] = []
    for group in text.strip().split("#"):
        fields = group.strip().split("|")
        if fields == [""]:
            continue
        observed = None
        if len(fields) % 2 == 1:
            observed = parse_time(fields[0].strip())
            fields = fields[1:]
        for index in range(0, len(fields), 2):
            key, value = fields[index].strip(), fields[index + 1].strip()
            if len(value) > MAX_TEXT:
                raise MalformedPayload(f"value of {key[:40]!r} is too long")
            readings.append(Reading(_key(key), value, observed))
        if len(readings) > MAX_MEASUREMENTS:
            raise MalformedPayload(f"more than {MAX_MEASUREMENTS} measurements")
    return readings


def parse_time(raw: str) -> datetime:
    """An ISO 8601 date-time with a zone (Z or ±hh:mm), as UTC."""
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedPayload(f"{raw[:40]!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise MalformedPayload(f"{raw[:40]!r} has no time zone (add Z)")
    return moment.astimezone(UTC)
