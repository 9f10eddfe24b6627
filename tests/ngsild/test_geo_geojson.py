"""GeoJSON representation of entities (ETSI GS CIM 009 §4.5.16, §4.5.17)."""

from __future__ import annotations

import copy
from typing import Any

from cityos.ngsild.geo import entities_to_feature_collection, entity_to_feature, feature_geometry

CTX = "https://example.org/kaga/context.jsonld"
HALL = {"type": "Point", "coordinates": [136.3147, 36.3028]}
SPACE = {"type": "Point", "coordinates": [136.3150, 36.3030]}

NORMALIZED: dict[str, Any] = {
    "id": "urn:ngsi-ld:Building:kaga-city-hall",
    "type": "Building",
    "name": {"type": "Property", "value": "加賀市役所"},
    "location": {"type": "GeoProperty", "value": HALL},
    "observationSpace": {"type": "GeoProperty", "value": SPACE},
    "@context": CTX,
}

KEY_VALUES: dict[str, Any] = {
    "id": "urn:ngsi-ld:Building:kaga-city-hall",
    "type": "Building",
    "name": "加賀市役所",
    "location": HALL,
    "observationSpace": SPACE,
}


def test_normalized_entity_as_feature() -> None:
    source = copy.deepcopy(NORMALIZED)
    feature = entity_to_feature(NORMALIZED, "location")
    assert feature == {
        "id": "urn:ngsi-ld:Building:kaga-city-hall",
        "type": "Feature",
        "geometry": HALL,
        "properties": {
            "type": "Building",
            "name": {"type": "Property", "value": "加賀市役所"},
            "location": {"type": "GeoProperty", "value": HALL},
            "observationSpace": {"type": "GeoProperty", "value": SPACE},
        },
        "@context": CTX,
    }
    assert source == NORMALIZED


def test_key_values_entity_with_another_geometry_property() -> None:
    feature = entity_to_feature(KEY_VALUES, "observationSpace", context=[CTX])
    assert feature["geometry"] == SPACE
    assert feature["properties"] == {"type": "Building", "name": "加賀市役所",
                                     "location": HALL, "observationSpace": SPACE}
    assert feature["@context"] == [CTX]
    assert "@context" not in entity_to_feature(KEY_VALUES)


def test_missing_or_non_geo_geometry_property_gives_null_geometry() -> None:
    assert entity_to_feature(NORMALIZED, "operationSpace")["geometry"] is None
    assert entity_to_feature(NORMALIZED, "name")["geometry"] is None
    assert entity_to_feature(KEY_VALUES, "name")["geometry"] is None


def test_concise_and_multi_instance_geoproperties() -> None:
    concise = {"id": "urn:x", "type": "Building", "location": {"value": HALL, "observedAt": "t"}}
    assert feature_geometry(concise) == HALL
    multi = {
        "id": "urn:x",
        "type": ["Building", "Landmark"],
        "location": [
            {"type": "GeoProperty", "value": SPACE, "datasetId": "urn:ngsi-ld:Dataset:gps"},
            {"type": "GeoProperty", "value": HALL},
        ],
    }
    feature = entity_to_feature(multi)
    assert feature["geometry"] == HALL
    assert feature["properties"]["type"] == ["Building", "Landmark"]
    only_datasets = {"id": "urn:x", "type": "B", "location": [multi["location"][0]]}
    assert feature_geometry(only_datasets) == SPACE


def test_feature_collection_puts_context_at_the_top_only() -> None:
    second = {**KEY_VALUES, "id": "urn:ngsi-ld:Building:kaga-station",
              "location": {"type": "Point", "coordinates": [136.3126, 36.3195]}}
    collection = entities_to_feature_collection([NORMALIZED, second], "location", context=CTX)
    assert collection["type"] == "FeatureCollection"
    assert collection["@context"] == CTX
    assert [f["id"] for f in collection["features"]] == [NORMALIZED["id"], second["id"]]
    assert all("@context" not in f for f in collection["features"])
    assert all("@context" not in f["properties"] for f in collection["features"])
    assert collection["features"][1]["geometry"] == second["location"]
    empty = entities_to_feature_collection([], "location")
    assert empty == {"type": "FeatureCollection", "features": []}


def test_key_values_dataset_map_uses_the_default_geometry() -> None:
    from cityos.ngsild.geo import entity_to_feature

    entity = {"id": "urn:ngsi-ld:Vehicle:1", "type": "Vehicle", "location": {"dataset": {
        "urn:ngsi-ld:Dataset:gps": {"type": "Point", "coordinates": [9.0, 9.0]},
        "@none": {"type": "Point", "coordinates": [3.0, 4.0]}}}}
    feature = entity_to_feature(entity, "location")
    assert feature["geometry"] == {"type": "Point", "coordinates": [3.0, 4.0]}
    assert list(feature["properties"]["location"]) == ["dataset"]
