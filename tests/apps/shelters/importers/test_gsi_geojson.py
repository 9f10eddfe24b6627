"""The GSI GeoJSON files of Kaga: 62 designated shelters and 53 emergency evacuation sites,
32 of them the same facility (same address) → 83 shelters."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources

from cityos.apps.shelters.importers import read_shelter_file
from cityos.apps.shelters.importers.merge import merge_shelters
from cityos.apps.shelters.model import Shelter

DESIGNATED = "gsi_designated_shelters_172065.geojson"
EMERGENCY = "gsi_emergency_evacuation_sites_172065.geojson"


def _read(name: str) -> bytes:
    return resources.files("cityos.data.kaga").joinpath(name).read_bytes()


def _kaga() -> list[Shelter]:
    return [r.shelter for name in (DESIGNATED, EMERGENCY)
            for r in read_shelter_file(_read(name), name).records]


def test_every_kaga_feature_is_read() -> None:
    designated = read_shelter_file(_read(DESIGNATED), DESIGNATED)
    emergency = read_shelter_file(_read(EMERGENCY), EMERGENCY)
    assert (len(designated.records), len(emergency.records)) == (62, 53)
    assert not designated.rejections and not emergency.rejections
    assert {r.shelter.category for r in designated.records} == {"designatedShelter"}
    assert {r.shelter.category for r in emergency.records} == {"emergencyEvacuationSite"}
    assert all(r.shelter.capacity is None for r in designated.records)  # GSI has none


def test_one_shelter_per_facility() -> None:
    shelters = merge_shelters(_kaga())
    assert len(shelters) == 83
    assert Counter(s.category for s in shelters) == {"designatedShelter": 62,
                                                    "emergencyEvacuationSite": 21}
    kinmei = next(s for s in shelters if s.name == "加賀市立金明小学校")
    assert kinmei.emergency_site_id == "E1720600002201"  # its playground
    assert set(kinmei.hazards) >= {"flood", "earthquake", "tsunami"}
    assert kinmei.id == f"urn:ngsi-ld:EvacuationShelter:{kinmei.gsi_common_id}"


def test_merging_is_the_same_in_either_file_order() -> None:
    shelters = _kaga()
    emergency_first = [s for s in shelters if s.category != "designatedShelter"] + \
        [s for s in shelters if s.category == "designatedShelter"]
    by_id = {s.id: s for s in merge_shelters(shelters)}
    assert {s.id: s for s in merge_shelters(emergency_first)} == by_id


def test_an_emergency_site_joins_a_designated_shelter_already_stored() -> None:
    shelters = _kaga()
    stored = [s for s in shelters if s.category == "designatedShelter"]
    sites = [s for s in shelters if s.category != "designatedShelter"]
    merged = merge_shelters(sites, stored)
    assert len(merged) == 53  # 32 stored shelters gain their site, 21 new sites
    assert sum(1 for s in merged if s.emergency_site_id) == 32


def test_broken_features_are_reported_by_number() -> None:
    features = json.loads(_read(EMERGENCY))["features"][:3]
    features[1] = {**features[1], "geometry": {"type": "Point", "coordinates": ["a", 1]}}
    features.append({"type": "Feature", "properties": {"共通ID": "X"}, "geometry": None})
    data = json.dumps({"type": "FeatureCollection", "features": features}).encode()
    report = read_shelter_file(data, "gsi.geojson")
    assert len(report.records) == 2
    assert [(r.line, r.reason) for r in report.rejections] == [
        (2, "coordinates 1, 'a' are not numbers"), (4, "geometry is not a Point")]


def test_a_file_that_is_no_geojson() -> None:
    report = read_shelter_file(b"{not json", "x.geojson")
    assert report.rejections[0].line == 1
