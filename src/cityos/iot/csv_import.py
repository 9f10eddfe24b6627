"""Bulk provisioning from CSV: one device per row (pure, no I/O).

Columns (header row required; only `device_id` and, without a group, `entity_type` and
`attributes` are mandatory): device_id, group, entity_type, entity_name, transport,
longitude, latitude, attributes, purpose, purpose_en, operator, personal_data,
personal_data_note, installed_on, signed, hmac, apikey.

`attributes` lists mappings separated by `;`, each `object_id:name:type[:unitCode[:scale]]`,
e.g. `c:peopleCount:Integer;l:waterLevel:Number:MTR:0.01`.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from cityos.ngsild.errors import BadRequestData

MAX_ROWS = 10_000
_TRUE = {"true", "yes", "1", "はい"}


def parse_attribute_list(text: str) -> list[dict[str, Any]]:
    mappings: list[dict[str, Any]] = []
    for item in (part.strip() for part in text.split(";") if part.strip()):
        fields = item.split(":")
        if not 3 <= len(fields) <= 5:
            raise BadRequestData(f"attribute {item!r} is not object_id:name:type[:unit[:scale]]")
        mapping: dict[str, Any] = {"object_id": fields[0], "name": fields[1],
                                   "type": fields[2]}
        if len(fields) > 3 and fields[3]:
            mapping["unitCode"] = fields[3]
        if len(fields) > 4 and fields[4]:
            try:
                mapping["scale"] = float(fields[4])
            except ValueError:
                raise BadRequestData(f"scale of {item!r} is not a number") from None
        mappings.append(mapping)
    return mappings


def row_to_device(row: dict[str, str]) -> dict[str, Any]:
    """A provisioning JSON object from one CSV row."""
    raw: dict[str, Any] = {key: value.strip() for key, value in row.items()
                           if key and value is not None and value.strip()}
    device: dict[str, Any] = {key: raw[key] for key in (
        "device_id", "group", "entity_type", "entity_name", "transport", "purpose",
        "purpose_en", "operator", "personal_data_note", "installed_on", "apikey")
        if key in raw}
    if "attributes" in raw:
        device["attributes"] = parse_attribute_list(raw["attributes"])
    for flag in ("personal_data", "signed", "hmac"):
        if flag in raw:
            device[flag] = raw[flag].lower() in _TRUE
    if "longitude" in raw or "latitude" in raw:
        try:
            device["location"] = {"type": "Point", "coordinates": [
                float(raw.get("longitude", "")), float(raw.get("latitude", ""))]}
        except ValueError:
            raise BadRequestData("longitude and latitude must both be numbers") from None
    return device


def read_devices(text: str) -> list[tuple[int, dict[str, Any] | BadRequestData]]:
    """(line number, device JSON or the reason the row is refused) for every row."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    if not reader.fieldnames or "device_id" not in reader.fieldnames:
        raise BadRequestData("the CSV needs a header row with at least device_id")
    rows: list[tuple[int, dict[str, Any] | BadRequestData]] = []
    for number, row in enumerate(reader, start=2):
        if number - 1 > MAX_ROWS:
            raise BadRequestData(f"more than {MAX_ROWS} rows; split the file")
        try:
            rows.append((number, row_to_device(row)))
        except BadRequestData as error:
            rows.append((number, error))
    return rows
