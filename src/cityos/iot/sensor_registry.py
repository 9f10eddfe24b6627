"""The public sensor registry (センサー設置状況の公開, plan §7 ② iii): where every sensor is,
why it is there, what it collects, how long that is kept, who operates it and whether it
can capture personal data. Derived from the device records on every request, so it is
never out of date; served as a page (/sensors), CSV and GeoJSON (open data)."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from cityos.broker.temporal_retention import DEFAULT_VOCAB, RetentionPolicy
from cityos.iot.directory import DeviceDirectory
from cityos.iot.model import Device

CSV_COLUMNS = ("device_id", "entity_id", "entity_type", "longitude", "latitude", "purpose",
               "purpose_en", "data_items", "retention_days", "operator", "personal_data",
               "personal_data_note", "installed_on", "transport", "last_seen")


@dataclass(frozen=True)
class RegistryRow:
    device: Device
    retention_days: int  # 0: kept without limit
    last_seen: str | None

    @property
    def data_items(self) -> list[str]:
        return [a.name + (f" ({a.unit_code})" if a.unit_code else "")
                for a in self.device.attributes]

    def as_record(self) -> dict[str, Any]:
        d = self.device
        longitude, latitude = d.location if d.location else (None, None)
        return {"device_id": d.device_id, "entity_id": d.entity_id,
                "entity_type": d.entity_type, "longitude": longitude, "latitude": latitude,
                "purpose": d.registry.purpose, "purpose_en": d.registry.purpose_en,
                "data_items": self.data_items, "retention_days": self.retention_days,
                "operator": d.registry.operator, "personal_data": d.registry.personal_data,
                "personal_data_note": d.registry.personal_data_note,
                "installed_on": d.registry.installed_on, "transport": d.transport,
                "last_seen": self.last_seen}


def registry_rows(directory: DeviceDirectory, retention: RetentionPolicy) -> list[RegistryRow]:
    """Every device of every service, in device id order."""
    rows = []
    for device_id in sorted(directory.devices):
        device = directory.devices[device_id].device
        days = retention.by_type.get(DEFAULT_VOCAB + device.entity_type,
                                     retention.default_days)
        rows.append(RegistryRow(device, days, directory.last_seen.get(device_id)))
    return rows


def registry_csv(rows: list[RegistryRow]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        record = row.as_record()
        record["data_items"] = ";".join(record["data_items"])
        record["personal_data"] = "yes" if record["personal_data"] else "no"
        writer.writerow({k: "" if v is None else v for k, v in record.items()})
    return "\ufeff" + out.getvalue()  # BOM: spreadsheet software then reads UTF-8 Japanese


def registry_geojson(rows: list[RegistryRow]) -> dict[str, Any]:
    features = []
    for row in rows:
        record = row.as_record()
        location = row.device.location
        features.append({
            "type": "Feature", "id": row.device.device_id,
            "geometry": None if location is None else {"type": "Point",
                                                       "coordinates": list(location)},
            "properties": {k: v for k, v in record.items()
                           if k not in ("longitude", "latitude")}})
    return {"type": "FeatureCollection", "features": features}
