"""Geo-query parsing and evaluation (ETSI GS CIM 009 §4.10, §5.2.13)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.geo import (
    DEFAULT_GEOPROPERTY_IRI,
    GeoQuery,
    distance_m,
    matches,
    matches_any,
    parse_geo_query,
    parse_geo_query_object,
    search_bbox,
)
from cityos.ngsild.geo.geodesy import geodesic_m, haversine_m

NS = "https://example.org/kaga/"
HALL = (136.3147, 36.3028)  # Kaga City Hall (加賀市役所), lon/lat


def expand(term: str) -> str:
    return term if ":" in term else NS + term


def q(georel: str, geometry: str, coordinates: Any, geoproperty: str | None = None) -> GeoQuery:
    parsed = parse_geo_query(georel, geometry, coordinates, geoproperty, expand)
    assert parsed is not None
    return parsed


def pt(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


def offset(lon: float, lat: float, east_m: float, north_m: float) -> tuple[float, float]:
    """Move by metres east/north using the WGS 84 radii of curvature at `lat` (test oracle)."""
    a, f = 6378137.0, 1 / 298.257223563
    e2 = f * (2 - f)
    s = math.sin(math.radians(lat))
    n = a / math.sqrt(1 - e2 * s * s)
    m = a * (1 - e2) / (1 - e2 * s * s) ** 1.5
    return (lon + math.degrees(east_m / (n * math.cos(math.radians(lat)))),
            lat + math.degrees(north_m / m))


# A polygon around the centre of Daishōji (Kaga City Hall inside it), roughly 1.6 × 1.2 km.
CENTRE = [[[136.306, 36.297], [136.324, 36.297], [136.324, 36.308], [136.306, 36.308],
           [136.306, 36.297]]]


# --------------------------------------------------------------------------- parsing


def test_no_geo_query_gives_none() -> None:
    assert parse_geo_query(None, None, None, None, expand) is None
    assert parse_geo_query("", "", "", "", expand) is None
    assert parse_geo_query(None, None, None, "location", expand) is None


@pytest.mark.parametrize(
    ("georel", "relation", "op", "distance"),
    [
        ("near;maxDistance==1000", "near", "maxDistance", 1000.0),
        ("near;minDistance==10", "near", "minDistance", 10.0),
        ("near;maxDistance==0.5", "near", "maxDistance", 0.5),
        ("near;maxDistance==1e3", "near", "maxDistance", 1000.0),
        ("near;maxDistance==2.5E+2", "near", "maxDistance", 250.0),
        ("within", "within", None, None),
        ("contains", "contains", None, None),
        ("intersects", "intersects", None, None),
        ("disjoint", "disjoint", None, None),
        ("equals", "equals", None, None),
        ("overlaps", "overlaps", None, None),
    ],
)
def test_georel_forms(georel: str, relation: str, op: str | None, distance: float | None) -> None:
    parsed = q(georel, "Point", "[8.0,40.0]")
    assert (parsed.georel, parsed.distance_op, parsed.distance_m) == (relation, op, distance)
    assert parsed.geometry == {"type": "Point", "coordinates": [8.0, 40.0]}
    assert parsed.geoproperty_iri == DEFAULT_GEOPROPERTY_IRI


BAD_GEORELS = [
    "invalid", "touches", "Near;maxDistance==1", "near", "near;", "near;maxDistance",
    "near;maxDistance==", "near;maxDistance==0", "near;maxDistance==0.0", "near;maxDistance==-100",
    "near;maxDistance==+5", "near;maxDistance==inf", "near;maxDistance==Infinity",
    "near;maxDistance==NaN", "near;maxDistance==1e400", "near;maxDistance==1,000",
    "near;maxDistance==01", "near;maxDistance== 10", "near;maxDistance:1000",
    "near;maxdistance==1000", "near;distance==1000", "near;maxDistance==5;minDistance==1",
    "within;maxDistance==10", "within;", "equals;x",
]


@pytest.mark.parametrize("georel", BAD_GEORELS)
def test_bad_georel_is_bad_request_data(georel: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geo_query(georel, "Point", "[8,40]", None, expand)
    assert info.value.status == 400
    assert info.value.detail.startswith("Invalid geo-query")


@pytest.mark.parametrize(
    ("georel", "geometry", "coordinates", "message"),
    [
        (None, "Point", "[8,40]", "missing 'georel'"),
        ("within", None, "[8,40]", "missing 'geometry'"),
        ("within", "Point", None, "missing 'coordinates'"),
        ("within", None, None, "missing 'geometry', 'coordinates'"),
        (None, None, "[8,40]", "missing 'georel', 'geometry'"),
        ("within", "Circle", "[8,40]", "'geometry' must be one of"),
        ("within", "point", "[8,40]", "'geometry' must be one of"),
        ("within", "GeometryCollection", "[8,40]", "'geometry' must be one of"),
        ("within", "Point", "[8,40", "not a JSON array"),
        ("within", "Point", "8,40", "not a JSON array"),
        ("within", "Point", "[NaN,40]", "not a JSON array"),
        ("within", "Point", "[1e400,40]", "not a JSON array"),
        ("within", "Point", '{"lon": 8}', "must be a JSON array"),
        ("within", "Point", 8, "must be a JSON array"),
        ("within", "Point", "[8,40,1,2]", "2 or 3 numbers"),
        ("within", "Point", "[40,95]", "latitude 95"),
        ("within", "Point", '["8",40]', "expected a number"),
        ("within", "Polygon", "[8,40]", "coordinates[0]: expected an array of positions"),
        ("within", "Polygon", "[[[0,0],[1,0],[1,1],[0,1]]]", "must be closed"),
        ("within", "LineString", "[[8,40]]", "at least 2 positions"),
    ],
)
def test_malformed_geo_queries(georel: Any, geometry: Any, coordinates: Any, message: str) -> None:
    with pytest.raises(BadRequestData) as info:
        parse_geo_query(georel, geometry, coordinates, None, expand)
    assert message in info.value.detail


def test_every_query_geometry_type_parses() -> None:
    cases = {
        "Point": "[136.3147,36.3028]",
        "MultiPoint": "[[136.3147,36.3028],[136.32,36.31]]",
        "LineString": "[[136.3147,36.3028],[136.32,36.31]]",
        "MultiLineString": "[[[136.3147,36.3028],[136.32,36.31]]]",
        "Polygon": "[[[0,0],[1,0],[1,1],[0,0]]]",
        "MultiPolygon": "[[[[0,0],[1,0],[1,1],[0,0]]],[[[5,5],[6,5],[6,6],[5,5]]]]",
    }
    for geometry, coordinates in cases.items():
        assert q("intersects", geometry, coordinates).geometry["type"] == geometry


def test_geoproperty_is_expanded_and_defaults_to_core_location() -> None:
    calls: list[str] = []

    def recording(term: str) -> str:
        calls.append(term)
        return expand(term)

    default = parse_geo_query("within", "Point", "[8,40]", None, recording)
    assert default is not None and default.geoproperty_iri == DEFAULT_GEOPROPERTY_IRI
    assert calls == []
    custom = parse_geo_query("within", "Point", "[8,40]", "observationSpace", recording)
    assert custom is not None and custom.geoproperty_iri == NS + "observationSpace"
    assert calls == ["observationSpace"]
    with pytest.raises(BadRequestData, match="geoproperty"):
        parse_geo_query("within", "Point", "[8,40]", 7, expand)


def test_geo_query_objects_from_bodies_and_subscriptions() -> None:
    geoq = {"georel": "near;maxDistance==2000", "geometry": "Point",
            "coordinates": [-8.52, 41.2], "geoproperty": "location"}
    parsed = parse_geo_query_object(geoq, expand)
    assert parsed.distance_m == 2000.0 and parsed.geoproperty_iri == NS + "location"
    as_string = parse_geo_query_object({**geoq, "coordinates": "[-8.52, 41.2]"}, expand)
    assert as_string == parsed
    no_prop = parse_geo_query_object({k: v for k, v in geoq.items() if k != "geoproperty"},
                                     expand)
    assert no_prop.geoproperty_iri == DEFAULT_GEOPROPERTY_IRI
    for missing in ("georel", "geometry", "coordinates"):
        with pytest.raises(BadRequestData, match=f"needs '{missing}'"):
            parse_geo_query_object({k: v for k, v in geoq.items() if k != missing}, expand)
    with pytest.raises(BadRequestData, match="JSON object"):
        parse_geo_query_object([geoq], expand)


def test_wire_forms() -> None:
    near = q("near;maxDistance==1000", "Point", "[136.3147,36.3028]")
    assert near.georel_text == "near;maxDistance==1000"
    assert q("near;minDistance==12.5", "Point", "[0,0]").georel_text == "near;minDistance==12.5"
    assert q("within", "Point", "[0,0]").georel_text == "within"
    assert near.to_geoq("location") == {"georel": "near;maxDistance==1000", "geometry": "Point",
                                        "coordinates": [136.3147, 36.3028],
                                        "geoproperty": "location"}
    assert hash(near) == hash(q("near;maxDistance==1000", "Point", [136.3147, 36.3028]))


# --------------------------------------------------------------------------- distances


def test_vincenty_reference_value() -> None:
    # Flinders Peak → Buninyong, the classic test line of Vincenty (1975): 54 972.271 m.
    lat1 = -(37 + 57 / 60 + 3.72030 / 3600)
    lon1 = 144 + 25 / 60 + 29.52440 / 3600
    lat2 = -(37 + 39 / 60 + 10.15610 / 3600)
    lon2 = 143 + 55 / 60 + 35.38390 / 3600
    assert geodesic_m(lon1, lat1, lon2, lat2) == pytest.approx(54972.271, abs=0.01)
    assert geodesic_m(0, 0, 180, 0) == pytest.approx(20003931.4586, rel=1e-3)  # fallback path
    assert haversine_m(*HALL, *HALL) == 0.0


def test_kaga_points_500m_and_2km() -> None:
    north_500 = offset(*HALL, 0, 500)
    east_2k = offset(*HALL, 2000, 0)
    near_1k = q("near;maxDistance==1000", "Point", list(HALL))
    assert distance_m(near_1k, pt(*north_500)) == pytest.approx(500, rel=1e-4)
    assert distance_m(near_1k, pt(*east_2k)) == pytest.approx(2000, rel=1e-4)
    assert matches(near_1k, pt(*north_500))
    assert not matches(near_1k, pt(*east_2k))
    far_1k = q("near;minDistance==1000", "Point", list(HALL))
    assert not matches(far_1k, pt(*north_500))
    assert matches(far_1k, pt(*east_2k))


@pytest.mark.parametrize("bearing", range(0, 360, 45))
def test_max_distance_boundary_within_one_percent(bearing: int) -> None:
    near_1k = q("near;maxDistance==1000", "Point", list(HALL))
    theta = math.radians(bearing)
    for metres, expected in ((990.0, True), (1010.0, False)):
        lon, lat = offset(*HALL, metres * math.sin(theta), metres * math.cos(theta))
        assert matches(near_1k, pt(lon, lat)) is expected
        assert distance_m(near_1k, pt(lon, lat)) == pytest.approx(metres, rel=1e-3)


def test_near_measures_to_the_closest_point_of_extended_geometries() -> None:
    square = {"type": "Polygon", "coordinates": CENTRE}
    east_edge = 136.324
    beyond = offset(east_edge, 36.3025, 300, 0)
    near_q = q("near;maxDistance==400", "Point", list(beyond))
    assert distance_m(near_q, square) == pytest.approx(300, rel=1e-3)
    assert matches(near_q, square)
    assert not matches(q("near;maxDistance==250", "Point", list(beyond)), square)
    inside = q("near;minDistance==1", "Point", list(HALL))
    assert distance_m(inside, square) == 0.0 and not matches(inside, square)


def test_conformance_scenario_near_extended_reference_and_high_latitude() -> None:
    # Mirrors the 019_30 probes: a 2 km buffer around a LineString reference and a metric
    # (not planar lon/lat) choice of the closest point at latitude 85.
    probe = pt(10.0, 60.009)
    assert matches(q("near;maxDistance==2000", "LineString", "[[0,60],[10,60]]"), probe)
    assert not matches(q("near;maxDistance==2000", "LineString", "[[0,61],[10,61]]"), probe)
    line = {"type": "LineString", "coordinates": [[0.0, 85.6], [1.0, 85.0]]}
    assert matches(q("near;maxDistance==20000", "Point", "[0,85]"), line)
    assert not matches(q("near;maxDistance==5000", "Point", "[0,85]"), line)
    assert 9000 < distance_m(q("near;maxDistance==5000", "Point", "[0,85]"), line) < 9800


def test_near_across_the_antimeridian() -> None:
    west = q("near;maxDistance==30000", "Point", "[179.9,0]")
    assert matches(west, pt(-179.9, 0))
    assert matches(west, {"type": "LineString", "coordinates": [[-179.9, -1], [-179.9, 1]]})
    # 30 km ≤ 0.2713° along a meridian, plus the 1 % margin.
    box = search_bbox(west)
    assert box is not None and (box[0], box[2]) == (-180.0, 180.0)
    assert (box[1], box[3]) == pytest.approx((-0.274, 0.274), abs=1e-3)


@settings(max_examples=150, deadline=None)
@given(
    st.floats(-20000, 20000), st.floats(-20000, 20000),
    st.floats(-20000, 20000), st.floats(-20000, 20000),
    st.floats(-20000, 20000), st.floats(-20000, 20000),
)
def test_line_distance_agrees_with_dense_sampling(
    ax: float, ay: float, bx: float, by: float, px: float, py: float
) -> None:
    a, b, p = offset(*HALL, ax, ay), offset(*HALL, bx, by), offset(*HALL, px, py)
    line = {"type": "LineString", "coordinates": [list(a), list(b)]}
    query = q("near;maxDistance==1000", "Point", list(p))
    steps = 2000
    sampled = min(
        geodesic_m(p[0], p[1], a[0] + (b[0] - a[0]) * i / steps, a[1] + (b[1] - a[1]) * i / steps)
        for i in range(steps + 1)
    )
    step_m = geodesic_m(*a, *b) / steps
    got = distance_m(query, line)
    # The closest pair is chosen in a local metric frame: never more than 0.1 % off here.
    assert got <= sampled * 1.001 + 1e-6
    assert got >= sampled * 0.999 - step_m


# --------------------------------------------------------------------------- DE-9IM relations


def test_relations_around_kaga_city_centre() -> None:
    hall = pt(*HALL)
    outside = pt(*offset(*HALL, 0, 3000))
    centre = {"type": "Polygon", "coordinates": CENTRE}
    half = {"type": "Polygon", "coordinates": [[[136.315, 36.29], [136.33, 36.29],
                                                [136.33, 36.31], [136.315, 36.31],
                                                [136.315, 36.29]]]}
    within = q("within", "Polygon", CENTRE)
    assert matches(within, hall) and not matches(within, outside)
    assert not matches(within, half)
    contains_hall = q("contains", "Point", list(HALL))
    assert matches(contains_hall, centre) and not matches(contains_hall, outside)
    assert matches(contains_hall, hall)
    intersects = q("intersects", "Polygon", CENTRE)
    assert matches(intersects, half) and matches(intersects, hall)
    assert not matches(intersects, outside)
    disjoint = q("disjoint", "Polygon", CENTRE)
    assert matches(disjoint, outside) and not matches(disjoint, hall)
    overlaps = q("overlaps", "Polygon", CENTRE)
    assert matches(overlaps, half) and not matches(overlaps, hall)
    assert not matches(overlaps, centre)
    equals = q("equals", "Polygon", CENTRE)
    assert matches(equals, centre) and not matches(equals, half)
    rotated = {"type": "Polygon", "coordinates": [CENTRE[0][2:] + CENTRE[0][1:3]]}
    assert matches(equals, rotated)
    assert matches(q("equals", "Point", list(HALL)), hall)
    assert matches_any(within, [outside, hall]) and not matches_any(within, [outside])
    assert not matches_any(disjoint, [])


def test_within_a_polygon_hole_excludes_the_point() -> None:
    holed = "[[[0,0],[10,0],[10,10],[0,10],[0,0]],[[4,4],[6,4],[6,6],[4,6],[4,4]]]"
    within = q("within", "Polygon", holed)
    assert matches(within, pt(2, 2)) and not matches(within, pt(5, 5))


# Entities and queries of the ETSI conformance tests 019_10 and 019_11 (Berlin).
POINTS = [pt(13.3986, 52.5547), pt(13.509818, 52.363457), pt(13.215983, 52.470441)]
POLYGONS = [
    {"type": "Polygon", "coordinates": [[[13.2865906, 52.5648645], [13.2879639, 52.5648645],
                                         [13.2797241, 52.4988679], [13.477478, 52.4712703],
                                         [13.5049438, 52.5373084], [13.2865906, 52.5648645]]]},
    {"type": "Polygon", "coordinates": [[[13.315773, 52.4757209], [13.339119, 52.4443421],
                                         [13.3892441, 52.4669371], [13.315773, 52.4757209]]]},
]
BERLIN = ("[[[13.1616211,52.5438124],[13.597641,52.4840224],[13.5948944,52.3402782],"
          "[13.142395,52.386428],[13.1616211,52.5438124]]]")
SMALL = ("[[[13.1369019,52.5198225],[13.1365585,52.5200314],[13.131752,52.4980907],"
         "[13.1832504,52.5026887],[13.1369019,52.5198225]]]")
CROSSING = ("[[[13.3456421,52.4794848],[13.3641815,52.4428773],[13.4177399,52.4730023],"
            "[13.3459854,52.479903],[13.3456421,52.4794848]]]")


@pytest.mark.parametrize(
    ("entities", "georel", "geometry", "coordinates", "expected"),
    [
        (POINTS, "equals", "Point", "[13.3986, 52.5547]", 1),
        (POINTS, "near;maxDistance==15000", "Point", "[13.388930, 52.534473]", 2),
        (POINTS, "near;minDistance==15000", "Point", "[13.388930, 52.534473]", 1),
        (POINTS, "within", "Polygon", BERLIN, 2),
        (POINTS, "disjoint", "Polygon", BERLIN, 1),
        (POINTS, "disjoint", "Point", "[13.3986, 52.5547]", 2),
        (POINTS, "contains", "Point", "[13.3986, 52.5547]", 1),
        (POINTS, "intersects", "Point", "[13.3986, 52.5547]", 1),
        (POLYGONS, "equals", "Polygon",
         "[[[13.2865906,52.5648645],[13.2879639,52.5648645],[13.2797241,52.4988679],"
         "[13.477478,52.4712703],[13.5049438,52.5373084],[13.2865906,52.5648645]]]", 1),
        (POLYGONS, "intersects", "Polygon", CROSSING, 1),
        (POLYGONS, "contains", "Polygon",
         "[[[13.3844376,52.5356966],[13.3844376,52.5356966],[13.381691,52.5123012],"
         "[13.4235764,52.5100027],[13.4331894,52.5273425],[13.3844376,52.5356966]]]", 1),
        (POLYGONS, "contains", "Polygon", SMALL, 0),
        (POLYGONS, "disjoint", "Polygon", SMALL, 2),
        (POLYGONS, "within", "Polygon",
         "[[[13.3023834,52.4903066],[13.3027267,52.4905156],[13.2745743,52.465632],"
         "[13.3343124,52.4185447],[13.4311295,52.47107],[13.3023834,52.4903066]]]", 1),
        (POLYGONS, "overlaps", "Polygon", CROSSING, 1),
        (POLYGONS, "contains", "Point", "[13.3442688,52.4650045]", 1),
    ],
)
def test_conformance_scenarios(
    entities: list[dict[str, Any]], georel: str, geometry: str, coordinates: str, expected: int
) -> None:
    query = q(georel, geometry, coordinates)
    assert sum(matches(query, e) for e in entities) == expected


# --------------------------------------------------------------------------- search boxes


def test_search_bbox_per_relation() -> None:
    assert search_bbox(q("disjoint", "Point", list(HALL))) is None
    assert search_bbox(q("near;minDistance==10", "Point", list(HALL))) is None
    box = (136.306, 36.297, 136.324, 36.308)
    for georel in ("within", "contains", "intersects", "equals", "overlaps"):
        assert search_bbox(q(georel, "Polygon", CENTRE)) == box
    near_box = search_bbox(q("near;maxDistance==1000", "Point", list(HALL)))
    assert near_box is not None
    min_x, min_y, max_x, max_y = near_box
    assert 0.009 < HALL[1] - min_y < 0.0092 and 0.009 < max_y - HALL[1] < 0.0092
    # Longitude degrees are shorter at 36° N: the box is wider in longitude than in latitude.
    assert (max_x - min_x) / (max_y - min_y) == pytest.approx(1 / math.cos(math.radians(36.3)),
                                                              rel=0.01)


def test_search_bbox_reaching_a_pole_spans_all_longitudes() -> None:
    box = search_bbox(q("near;maxDistance==50000", "Point", "[10,89.9]"))
    assert box is not None and box[0] == -180.0 and box[2] == 180.0 and box[3] == 90.0


@settings(max_examples=200, deadline=None)
@given(
    st.floats(-179.9, 179.9), st.floats(-85, 85), st.floats(1, 200_000),
    st.floats(0, 360), st.floats(0, 1),
)
def test_near_search_bbox_holds_every_match(
    lon: float, lat: float, distance: float, bearing: float, fraction: float
) -> None:
    query = q(f"near;maxDistance=={distance!r}", "Point", [lon, lat])
    box = search_bbox(query)
    assert box is not None
    theta = math.radians(bearing)
    d = distance * fraction
    plon, plat = offset(lon, lat, d * math.sin(theta), d * math.cos(theta))
    if not (-180 <= plon <= 180 and -90 <= plat <= 90):
        return
    if geodesic_m(lon, lat, plon, plat) <= distance:
        assert box[0] <= plon <= box[2] and box[1] <= plat <= box[3]
