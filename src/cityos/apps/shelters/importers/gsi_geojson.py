"""The GSI GeoJSON files (指定避難所 mergeFromCity_1, 指定緊急避難場所 mergeFromCity_2, as
split per municipality): one feature per facility, hazard flags "1" / ""."""

from __future__ import annotations

import json
from typing import Any

from cityos.apps.shelters.importers.report import ImportReport, Rejection, ShelterRecord
from cityos.apps.shelters.model import (
    GSI_SOURCE,
    HAZARDS,
    ID_PREFIX,
    Shelter,
    ShelterError,
    validate_location,
)


def read_gsi_geojson(data: bytes, source: str) -> ImportReport:
    """Features → records; a feature that is no shelter is a rejection (numbered from 1).
    The file is designated shelters when its features carry 指定緊急避難場所との住所同一,
    emergency evacuation sites otherwise."""
    report = ImportReport()
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        report.rejections.append(Rejection(source, 1, f"not a UTF-8 GeoJSON file: {error}"))
        return report
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        report.rejections.append(Rejection(source, 1, "no FeatureCollection"))
        return report
    report.notes.append(f"{source}: GSI GeoJSON, {len(features)} features")
    seen: set[str] = set()
    for number, feature in enumerate(features, 1):
        try:
            shelter = gsi_feature_shelter(feature)
        except ShelterError as error:
            report.rejections.append(Rejection(source, number, str(error)))
            continue
        if shelter.id in seen:
            report.rejections.append(Rejection(source, number, f"duplicate 共通ID {shelter.id}"))
            continue
        seen.add(shelter.id)
        report.records.append(ShelterRecord(shelter, source, number))
    return report


def gsi_feature_shelter(feature: Any) -> Shelter:
    if not isinstance(feature, dict) or not isinstance(feature.get("properties"), dict):
        raise ShelterError("not a GeoJSON Feature with properties")
    props = feature["properties"]
    geometry = feature.get("geometry") or {}
    coordinates = geometry.get("coordinates") if isinstance(geometry, dict) else None
    if not isinstance(coordinates, list) or len(coordinates) < 2 \
            or geometry.get("type") != "Point":
        raise ShelterError("geometry is not a Point")
    lon, lat = validate_location(coordinates[0], coordinates[1])
    common_id = str(props.get("共通ID") or "").strip()
    if not common_id:
        raise ShelterError("共通ID is missing")
    name = str(props.get("施設・場所名") or "").strip()
    if not name:
        raise ShelterError("施設・場所名 (name) is missing")
    designated = "指定緊急避難場所との住所同一" in props
    return Shelter(
        id=ID_PREFIX + common_id, name=name, lon=lon, lat=lat,
        category="designatedShelter" if designated else "emergencyEvacuationSite",
        street_address=str(props.get("住所") or "").strip() or None,
        hazards=tuple(code for label, code in HAZARDS.items() if props.get(label) == "1"),
        gsi_common_id=common_id, source=GSI_SOURCE)
