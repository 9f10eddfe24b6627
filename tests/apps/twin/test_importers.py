"""Importers of the public formats, on small hand-made files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cityos.apps.twin.hazard_import import HazardImportError, import_hazard
from cityos.apps.twin.population_import import (
    PopulationImportError,
    import_population,
    mesh_centre,
)
from cityos.apps.twin.roads_import import RoadImportError, import_roads

FIXTURES = Path(__file__).parent / "fixtures"


def test_osm_xml_keeps_walkable_ways_and_reports_broken_pieces() -> None:
    graph = import_roads(FIXTURES / "small.osm")
    # 1-2, 2-3 (residential) and 3-4 (footway); the motorway and the building are not
    # walkable, way 12 refers to a missing node
    assert graph.link_count == 3
    assert graph.node_count == 4
    assert sorted(graph.width_m.tolist()) == [2.5, 4.0, 4.0]
    # 0.001 degree of longitude at 36.3 N is about 89.6 m, of latitude about 111.2 m
    assert sorted(np.round(graph.length_m).tolist()) == [90.0, 90.0, 111.0]
    assert any("missing nodes" in note for note in graph.notes)
    assert any("invalid coordinates" in note for note in graph.notes)


def test_pbf_is_refused_with_the_conversion_command(tmp_path: Path) -> None:
    pbf = tmp_path / "kaga.osm.pbf"
    pbf.write_bytes(b"\x00")
    with pytest.raises(RoadImportError, match=r"osmium cat kaga\.osm\.pbf -o kaga\.osm"):
        import_roads(pbf)


def test_broken_xml_is_refused_clearly(tmp_path: Path) -> None:
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node id='1'", encoding="utf-8")
    with pytest.raises(RoadImportError, match="not well-formed"):
        import_roads(bad)


def test_geojson_links_join_at_shared_vertices_and_skip_broken_geometry() -> None:
    graph = import_roads(FIXTURES / "roads.geojson")
    assert graph.link_count == 3 and graph.node_count == 4
    assert 6.0 in graph.width_m.tolist()
    assert any("3 features with broken" in note for note in graph.notes)


def test_geojson_without_any_usable_line_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "none.geojson"
    empty.write_text('{"type": "FeatureCollection", "features": []}', encoding="utf-8")
    with pytest.raises(RoadImportError, match="no walkable road link"):
        import_roads(empty)


def test_mesh_centre_of_known_codes() -> None:
    # first mesh 5436: lat 36.0-36.667, lon 136-137
    assert mesh_centre("5436") == pytest.approx((136.5, 36.0 + 1 / 3))
    lon, lat = mesh_centre("543663111")
    # 2nd 6,3 -> +0.5 deg lat, +0.375 deg lon; 3rd 1,1 -> +30'', +45''; half 1 = SW
    assert lat == pytest.approx(36.5 + 30 / 3600 + 7.5 / 3600)
    assert lon == pytest.approx(136.375 + 45 / 3600 + 11.25 / 3600)
    with pytest.raises(ValueError):
        mesh_centre("5436631")


def test_estat_mesh_csv_with_totals_only_uses_assumed_shares() -> None:
    population = import_population(FIXTURES / "mesh.csv")
    assert population.total == pytest.approx(200)
    assert population.lon.size == 2
    assert any("1 rows skipped" in note for note in population.notes)


def test_town_csv_with_age_bands_splits_65_plus() -> None:
    towns = {"動橋町": (136.3859, 36.3246), "作見町": (136.3539, 36.3217)}
    population = import_population(FIXTURES / "towns.csv", towns)
    assert population.counts.tolist() == [[100, 500, 150, 250], [60, 340, 100, 100]]
    assert any("存在しない町" in note for note in population.notes)


def test_csv_without_place_column_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(PopulationImportError, match="KEY_CODE"):
        import_population(bad)


def test_flood_depth_ranks_become_depths_and_broken_polygons_are_skipped() -> None:
    hazards = import_hazard(FIXTURES / "flood.geojson", "flood")
    assert [z.depth_m for z in hazards.zones] == [0.5, 0.0, 3.2]
    assert any("1 features with broken" in note for note in hazards.notes)


def test_landslide_zones_have_no_depth() -> None:
    hazards = import_hazard(FIXTURES / "flood.geojson", "landslide")
    assert {z.kind for z in hazards.zones} == {"landslide"}
    assert all(z.depth_m is None for z in hazards.zones)


def test_hazard_file_that_is_not_geojson_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "x.geojson"
    bad.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(HazardImportError, match="FeatureCollection"):
        import_hazard(bad, "flood")
