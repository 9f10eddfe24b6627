"""Shelters out: GeoJSON (the public feed), CSV in the 自治体標準オープンデータセット column
names (newer style) and NGSI-LD. Staff-only fields (notes, responsible staff, who updated)
are never in the public GeoJSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from cityos.apps.shelters.entities import shelter_body
from cityos.apps.shelters.model import HAZARDS, Shelter

PUBLIC_FIELDS = ("name", "alternateName", "address", "category", "shelterKind",
                 "peopleCapacity", "peopleOccupancy", "status", "crowdingLevel",
                 "crowdingLevelSource", "hazardTypes", "accessibility", "petsAllowed",
                 "modifiedAt", "source")
CSV_COLUMNS = ("全国地方公共団体コード", "ID", "地方公共団体名", "名称", "名称_カナ",
               "所在地_連結表記", "緯度", "経度",
               *(f"災害種別_{label}" for label in HAZARDS),
               "想定収容人数", "開設状況", "避難者数", "混雑状況", "最終更新日時", "備考")
KAGA_CODE = "172065"


def public_properties(shelter: Shelter) -> dict[str, Any]:
    """The public view of one shelter (GeoJSON properties)."""
    values: dict[str, Any] = {
        "id": shelter.id, "name": shelter.name, "alternateName": shelter.kana,
        "address": shelter.street_address, "category": shelter.category,
        "shelterKind": shelter.shelter_kind, "peopleCapacity": shelter.capacity,
        "peopleOccupancy": shelter.occupancy if shelter.status == "open" else None,
        "status": shelter.status, "crowdingLevel": shelter.shown_crowding,
        "crowdingLevelSource": shelter.crowding_source if shelter.shown_crowding else None,
        "hazardTypes": list(shelter.hazards), "accessibility": shelter.accessibility,
        "petsAllowed": shelter.pets_allowed, "modifiedAt": shelter.modified_at,
        "source": shelter.source}
    return {name: value for name, value in values.items() if value is not None}


def feature(shelter: Shelter) -> dict[str, Any]:
    return {"type": "Feature", "id": shelter.id,
            "geometry": {"type": "Point", "coordinates": [shelter.lon, shelter.lat]},
            "properties": public_properties(shelter)}


def feature_collection(shelters: Iterable[Shelter]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [feature(s) for s in shelters]}


def geojson_bytes(shelters: Iterable[Shelter]) -> bytes:
    return json.dumps(feature_collection(shelters), ensure_ascii=False,
                      separators=(",", ":")).encode()


def csv_text(shelters: Iterable[Shelter]) -> str:
    """UTF-8 CSV (the caller adds a BOM for spreadsheet programs) in the standard's
    column names, plus the live columns 開設状況 / 避難者数 / 混雑状況 / 最終更新日時."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for shelter in shelters:
        writer.writerow([
            KAGA_CODE, shelter.id.rsplit(":", 1)[-1], "加賀市", shelter.name, shelter.kana or "",
            shelter.street_address or "", shelter.lat, shelter.lon,
            *("1" if code in shelter.hazards else "" for code in HAZARDS.values()),
            "" if shelter.capacity is None else shelter.capacity,
            "開設" if shelter.status == "open" else "閉鎖",
            "" if shelter.occupancy is None or shelter.status != "open" else shelter.occupancy,
            shelter.shown_crowding or "", shelter.modified_at or "", ""])
    return out.getvalue()


def ngsi_ld_entities(shelters: Iterable[Shelter], context_url: str) -> list[dict[str, Any]]:
    """Normalized NGSI-LD entities (staff notes excluded), each with the app's @context."""
    entities = []
    for shelter in shelters:
        body = shelter_body(shelter)
        for private in ("notes", "responsibleStaff"):
            body.pop(private, None)
        body["@context"] = [context_url]
        entities.append(body)
    return entities
