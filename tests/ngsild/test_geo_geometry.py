"""GeoJSON geometry validation, bounding boxes and shapes (ETSI GS CIM 009 §4.7, RFC 7946)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import cityos
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.geo import bbox, geoproperty_values, to_shape, validate_geometry
from cityos.ngsild.geo.geometry import MAX_POSITIONS, iter_positions

KAGA_CITY_HALL = [136.3147, 36.3028]
KAGA_DATA = Path(cityos.__file__).parent / "data" / "kaga"

SQUARE = [[[136.30, 36.29], [136.33, 36.29], [136.33, 36.31], [136.30, 36.31], [136.30, 36.29]]]
HOLE = [[136.31, 36.30], [136.32, 36.30], [136.32, 36.305], [136.31, 36.305], [136.31, 36.30]]

VALID: list[dict[str, Any]] = [
    {"type": "Point", "coordinates": KAGA_CITY_HALL},
    {"type": "Point", "coordinates": [136.3147, 36.3028, 12.5]},
    {"type": "Point", "coordinates": [180, -90]},
    {"type": "Point", "coordinates": [-180, 90]},
    {"type": "MultiPoint", "coordinates": [KAGA_CITY_HALL, [136.32, 36.31]]},
    {"type": "LineString", "coordinates": [KAGA_CITY_HALL, [136.32, 36.31]]},
    {"type": "MultiLineString", "coordinates": [[KAGA_CITY_HALL, [136.32, 36.31]],
                                                [[0, 0], [1, 1], [2, 0]]]},
    {"type": "Polygon", "coordinates": SQUARE},
    {"type": "Polygon", "coordinates": [SQUARE[0], HOLE]},
    {"type": "MultiPolygon", "coordinates": [SQUARE, [[[0, 0], [1, 0], [1, 1], [0, 0]]]]},
    {"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": KAGA_CITY_HALL},
        {"type": "Polygon", "coordinates": SQUARE},
    ]},
    # RFC 7946 §3.1.6: clockwise rings must not be rejected; repeated positions are fine.
    {"type": "Polygon", "coordinates": [[[0, 0], [0, 1], [1, 1], [1, 0], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [0, 0], [1, 0], [1, 1], [0, 0]]]},
]


@pytest.mark.parametrize("geometry", VALID, ids=lambda g: g["type"])
def test_valid_geometries_round_trip(geometry: dict[str, Any]) -> None:
    assert validate_geometry(geometry) == geometry


def test_foreign_members_are_dropped_and_input_not_aliased() -> None:
    source = {"type": "Point", "coordinates": [1, 2], "bbox": [1, 2, 1, 2], "x": 1}
    out = validate_geometry(source)
    assert out == {"type": "Point", "coordinates": [1, 2]}
    out["coordinates"][0] = 99
    assert source["coordinates"] == [1, 2]


INVALID: list[tuple[Any, str]] = [
    ("not an object", "expected an object"),
    ({"coordinates": [1, 2]}, "type"),
    ({"type": "Feature", "coordinates": [1, 2]}, "'Feature' is not one of"),
    ({"type": "point", "coordinates": [1, 2]}, "'point' is not one of"),
    ({"type": "Point"}, "needs a 'coordinates' member"),
    ({"type": "Point", "coordinates": [1]}, "2 or 3 numbers"),
    ({"type": "Point", "coordinates": [1, 2, 3, 4]}, "2 or 3 numbers"),
    ({"type": "Point", "coordinates": "[1, 2]"}, "coordinates: a position must be an array"),
    ({"type": "Point", "coordinates": [True, 2]}, "coordinates[0]: expected a number, got bool"),
    ({"type": "Point", "coordinates": ["1", 2]}, "coordinates[0]: expected a number, got str"),
    ({"type": "Point", "coordinates": [None, 2]}, "coordinates[0]: expected a number"),
    ({"type": "Point", "coordinates": [1, math.nan]}, "coordinates[1]: expected a finite"),
    ({"type": "Point", "coordinates": [math.inf, 1]}, "coordinates[0]: expected a finite"),
    ({"type": "Point", "coordinates": [1, 2, math.inf]}, "coordinates[2]: expected a finite"),
    ({"type": "Point", "coordinates": [1, 2, 10**30]}, "coordinates[2]: number 1000"),
    ({"type": "Point", "coordinates": [180.5, 2]}, "longitude 180.5 is outside [-180, 180]"),
    ({"type": "Point", "coordinates": [36.3, 136.3]}, "latitude 136.3 is outside [-90, 90]"),
    ({"type": "MultiPoint", "coordinates": []}, "at least 1 positions"),
    ({"type": "MultiPoint", "coordinates": [[1, 2], [1, 95]]}, "coordinates[1]: latitude 95"),
    ({"type": "LineString", "coordinates": [[1, 2]]}, "at least 2 positions"),
    ({"type": "LineString", "coordinates": [1, 2]}, "coordinates[0]: a position must be"),
    ({"type": "MultiLineString", "coordinates": [[[1, 2], [3, 4]], [[1, 2]]]},
     "coordinates[1]: expected at least 2 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
    ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}, "must be closed"),
    ({"type": "Polygon", "coordinates": []}, "at least 1 linear rings"),
    ({"type": "Polygon", "coordinates": [SQUARE[0], [[0, 0], [1, 0], [1, 1], [0, 200]]]},
     "coordinates[1][3]: latitude 200"),
    ({"type": "MultiPolygon", "coordinates": [SQUARE, [[[0, 0], [1, 0], [1, 1], [0, 1]]]]},
     "coordinates[1][0]: a linear ring must be closed"),
    ({"type": "GeometryCollection", "geometries": []}, "at least 1 geometries"),
    ({"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 99]}]},
     "geometries[0].coordinates: latitude 99"),
    ({"type": "GeometryCollection", "geometries": [
        {"type": "GeometryCollection", "geometries": [{"type": "Point", "coordinates": [1, 2]}]}
    ]}, "nested GeometryCollection"),
]


@pytest.mark.parametrize(("geometry", "message"), INVALID, ids=[m for _, m in INVALID])
def test_invalid_geometries_are_bad_request_data(geometry: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as info:
        validate_geometry(geometry)
    assert message in info.value.detail
    assert info.value.status == 400
    assert info.value.error_type == "BadRequestData"


def test_position_budget_is_enforced() -> None:
    line = [[0.0, 0.0], [1.0, 1.0]] * (MAX_POSITIONS // 2)
    validate_geometry({"type": "LineString", "coordinates": line})
    with pytest.raises(BadRequestData, match="more than 100000 positions"):
        validate_geometry({"type": "LineString", "coordinates": [*line, [2.0, 2.0]]})
    many = [[[[0, 0], [1, 0], [1, 1], [0, 0]]]] * (MAX_POSITIONS // 4 + 1)
    with pytest.raises(BadRequestData, match="more than"):
        validate_geometry({"type": "MultiPolygon", "coordinates": many})


def test_bbox_of_each_type() -> None:
    assert bbox({"type": "Point", "coordinates": KAGA_CITY_HALL}) == (
        136.3147, 36.3028, 136.3147, 36.3028)
    assert bbox({"type": "Polygon", "coordinates": [SQUARE[0], HOLE]}) == (
        136.30, 36.29, 136.33, 36.31)
    collection = {"type": "GeometryCollection", "geometries": [
        {"type": "Point", "coordinates": [-10, 5]},
        {"type": "LineString", "coordinates": [[3, -7], [4, 8, 100]]},
    ]}
    assert bbox(collection) == (-10.0, -7.0, 4.0, 8.0)
    assert len(list(iter_positions(collection))) == 3


def test_to_shape_is_cached_and_repairs_invalid_rings() -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
    shape = to_shape(validate_geometry(bowtie))
    assert shape.is_valid
    assert shape.area == pytest.approx(2.0)
    assert to_shape({"type": "Polygon", "coordinates": bowtie["coordinates"]}) is shape
    square = to_shape({"type": "Polygon", "coordinates": SQUARE})
    assert square.geom_type == "Polygon" and square.is_valid


def test_geoproperty_values_collects_every_instance() -> None:
    point = {"type": "Point", "coordinates": KAGA_CITY_HALL}
    entity = {
        "id": "urn:ngsi-ld:Building:kaga-city-hall",
        "type": "Building",
        "location": {"type": "GeoProperty", "value": point},
        "https://uri.etsi.org/ngsi-ld/observationSpace": [
            {"@type": ["https://uri.etsi.org/ngsi-ld/GeoProperty"],
             "https://uri.etsi.org/ngsi-ld/hasValue": [{"@value": json.dumps(point)}]},
            {"type": "GeoProperty", "datasetId": "urn:d:2",
             "value": {"type": "Polygon", "coordinates": SQUARE}},
        ],
        "name": {"type": "Property", "value": {"type": "Point", "coordinates": [0, 0]}},
        "broken": {"type": "GeoProperty", "value": "not json"},
    }
    found = geoproperty_values(entity)
    assert found == {
        "location": [point],
        "https://uri.etsi.org/ngsi-ld/observationSpace": [
            point, {"type": "Polygon", "coordinates": SQUARE}],
    }


def test_real_kaga_open_data_geometries_validate() -> None:
    for name in ("gsi_designated_shelters_172065.geojson",
                 "gsi_emergency_evacuation_sites_172065.geojson",
                 "n03_boundary_172065.geojson"):
        collection = json.loads((KAGA_DATA / name).read_text(encoding="utf-8"))
        for feature in collection["features"]:
            validate_geometry(feature["geometry"])
    boundary = json.loads((KAGA_DATA / "n03_boundary_172065.geojson").read_text("utf-8"))
    from shapely.geometry import Point

    hall = Point(*KAGA_CITY_HALL)
    assert any(to_shape(f["geometry"]).contains(hall) for f in boundary["features"])


_POINTS = [[136.3, 36.2], [136, 36], [-180, -90], [180.0, 90.0], [180.5, 0], [0, 90.01],
           [float("nan"), 0], [0, float("inf")], [True, 0], [1, 2, 3], [1], "1,2", None,
           [1, "2"], [10**20, 0]]


@pytest.mark.parametrize("coordinates", _POINTS, ids=repr)
def test_plain_point_fast_path_agrees_with_the_general_validation(
        coordinates: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from cityos.ngsild.geo import geometry

    def outcome() -> object:
        try:
            return geometry.validate_geometry({"type": "Point", "coordinates": coordinates,
                                               "bbox": [0, 0, 1, 1]})
        except BadRequestData as error:
            return str(error)
    fast = outcome()
    monkeypatch.setattr(geometry, "_plain_point", lambda obj: None)
    assert repr(fast) == repr(outcome())
