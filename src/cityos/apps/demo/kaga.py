"""Kaga demo data: the city's designated shelters and emergency evacuation sites (GSI data,
shipped in cityos/data/kaga with its attribution) loaded as NGSI-LD entities.

This is the demo loader of the broker; the shelter service (its own app) owns the full
EvacuationShelter model, importers and the map.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from cityos.broker.entities import EntityService
from cityos.ngsild.context import core_context
from cityos.ngsild.errors import AlreadyExists
from cityos.ngsild.model import parse_entity
from cityos.ngsild.types import JsonObject

log = logging.getLogger(__name__)
DEMO_TENANT = ""
SHELTER_TYPE = "EvacuationShelter"
SOURCE = "出典：国土地理院 指定緊急避難場所・指定避難所データ"
HAZARDS = {"洪水": "flood", "崖崩れ、土石流及び地滑り": "landslide", "高潮": "stormSurge",
           "地震": "earthquake", "津波": "tsunami", "大規模な火事": "largeFire",
           "内水氾濫": "inlandFlooding", "火山現象": "volcano"}
FILES = {"designatedShelter": "gsi_designated_shelters_172065.geojson",
         "emergencyEvacuationSite": "gsi_emergency_evacuation_sites_172065.geojson"}


def _features(filename: str) -> list[JsonObject]:
    text = resources.files("cityos.data.kaga").joinpath(filename).read_text(encoding="utf-8")
    features: list[JsonObject] = json.loads(text)["features"]
    return features


def shelter_entity(feature: JsonObject, category: str) -> JsonObject:
    """One GSI feature as an NGSI-LD entity (normalized form, terms of the core context)."""
    props = feature["properties"]
    hazards = [code for label, code in HAZARDS.items() if props.get(label) == "1"]
    body: dict[str, Any] = {
        "id": f"urn:ngsi-ld:EvacuationShelter:{props['共通ID']}:{category}",
        "type": SHELTER_TYPE,
        "name": {"type": "Property", "value": props["施設・場所名"]},
        "address": {
            "type": "Property", "value": {"addressLocality": "加賀市",
                                          "addressRegion": "石川県",
                                          "streetAddress": props["住所"]}},
        "location": {"type": "GeoProperty", "value": feature["geometry"]},
        "category": {"type": "Property", "value": category},
        "gsiCommonId": {"type": "Property", "value": props["共通ID"]},
        "source": {"type": "Property", "value": SOURCE},
    }
    if hazards:
        body["hazardTypes"] = {"type": "Property", "value": hazards}
    return body


def demo_entities() -> list[JsonObject]:
    ctx = core_context()
    entities = []
    for category, filename in FILES.items():
        for feature in _features(filename):
            entities.append(parse_entity(shelter_entity(feature, category), ctx))
    return entities


async def load_demo_data(service: EntityService) -> int:
    """Create the demo shelters that are missing; entities already there (perhaps updated
    by staff since) are left as they are, so this is safe at every start."""
    outcome = await service.batch_create(DEMO_TENANT, demo_entities())
    kept = [entity_id for entity_id, error in outcome.errors if isinstance(error, AlreadyExists)]
    for entity_id, error in outcome.errors:
        if not isinstance(error, AlreadyExists):
            log.error("demo entity %s rejected: %s", entity_id, error.detail)
    log.info("Kaga demo data: %d shelters created, %d already present",
             len(outcome.success), len(kept))
    return len(outcome.success)
