"""Crowding levels, thresholds and staff updates (pure rules)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cityos.apps.shelters.model import (
    CrowdingThresholds,
    Shelter,
    ShelterError,
    apply_update,
    derive_crowding,
    parse_staff_update,
    people_count,
    validate_location,
)

DEFAULT = CrowdingThresholds()


@pytest.mark.parametrize(("occupancy", "level"), [
    (0, "vacant"), (29, "vacant"), (30, "slightlyCrowded"), (59, "slightlyCrowded"),
    (60, "crowded"), (79, "crowded"), (80, "full"), (85, "full"), (120, "full")])
def test_levels_follow_the_default_thresholds(occupancy: int, level: str) -> None:
    assert derive_crowding(occupancy, 100, DEFAULT) == level


def test_unknown_capacity_gives_no_level() -> None:
    assert derive_crowding(50, None, DEFAULT) is None
    assert derive_crowding(50, 0, DEFAULT) is None
    assert derive_crowding(None, 100, DEFAULT) is None


def test_thresholds_are_configurable() -> None:
    strict = CrowdingThresholds.parse("10/20/50")
    assert derive_crowding(50, 100, strict) == "full"
    assert derive_crowding(15, 100, strict) == "slightlyCrowded"


@pytest.mark.parametrize("text", ["30/60", "60/30/80", "a/b/c", "30/60/120", "0/10/20"])
def test_bad_thresholds_are_refused(text: str) -> None:
    with pytest.raises(ShelterError):
        CrowdingThresholds.parse(text)


@given(st.integers(0, 1000), st.integers(0, 1000), st.integers(1, 1000))
def test_more_evacuees_never_lower_the_level(a: int, b: int, capacity: int) -> None:
    order = ["vacant", "slightlyCrowded", "crowded", "full"]
    low, high = sorted((a, b))
    assert order.index(str(derive_crowding(low, capacity))) <= \
        order.index(str(derive_crowding(high, capacity)))


def _shelter(**values: object) -> Shelter:
    return Shelter(id="urn:ngsi-ld:EvacuationShelter:T", name="t", lon=136.3, lat=36.3,
                   **values)  # type: ignore[arg-type]


def test_staff_update_derives_full_at_85_of_100() -> None:
    update = parse_staff_update({"status": "open", "capacity": 100, "occupancy": 85})
    after = apply_update(_shelter(), update, DEFAULT, "operator:alice")
    assert (after.status, after.crowding_level, after.crowding_source, after.updated_by) == \
        ("open", "full", "derived", "operator:alice")


def test_a_staff_level_stays_until_auto() -> None:
    start = apply_update(_shelter(capacity=100), parse_staff_update(
        {"status": "open", "crowding": "crowded"}), DEFAULT, "developer")
    counted = apply_update(start, parse_staff_update({"occupancy": 5}), DEFAULT, "developer")
    assert (counted.crowding_level, counted.crowding_source) == ("crowded", "staff")
    auto = apply_update(counted, parse_staff_update({"crowding": "auto"}), DEFAULT, "developer")
    assert (auto.crowding_level, auto.crowding_source) == ("vacant", "derived")


def test_closed_shelters_show_no_crowding() -> None:
    shelter = _shelter(status="closed", crowding_level="full")
    assert shelter.shown_crowding is None


@pytest.mark.parametrize("body", [
    {"status": "half-open"}, {"occupancy": -1}, {"occupancy": "many"}, {"occupancy": 1.5},
    {"occupancy": True}, {"capacity": 10**9}, {"crowding": "packed"}, {"notes": "x" * 501},
    {"petsAllowed": "yes"}, {"colour": "red"}, [1, 2]])
def test_bad_staff_updates_are_refused(body: object) -> None:
    with pytest.raises(ShelterError):
        parse_staff_update(body)


def test_people_counts_accept_digits_with_separators() -> None:
    assert people_count(" 1,200 ", "capacity") == 1200


@pytest.mark.parametrize(("lon", "lat"), [("x", "36"), (200, 36), (136, 95), (0, 0), (None, 1)])
def test_bad_coordinates_are_refused(lon: object, lat: object) -> None:
    with pytest.raises(ShelterError):
        validate_location(lon, lat)
