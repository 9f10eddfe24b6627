"""Live shelter entities and the scenario's shelter policy -> simulation shelters."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from cityos.apps.twin.scenario import ScenarioError, parse_scenario
from cityos.apps.twin.shelters import shelters_from_entities
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity
from cityos.ngsild.types import JsonObject


def shelter(ident: str, **attrs: Any) -> JsonObject:
    body: dict[str, Any] = {"id": f"urn:ngsi-ld:EvacuationShelter:{ident}",
                            "type": "EvacuationShelter",
                            "name": {"type": "Property", "value": f"避難所{ident}"},
                            "location": {"type": "GeoProperty", "value": {
                                "type": "Point", "coordinates": [136.3, 36.3]}}}
    for key, value in attrs.items():
        body[key] = {"type": "Property", "value": value}
    return parse_entity(body, core_context())


def test_live_status_capacity_and_occupancy_decide_the_room_left() -> None:
    entities = [shelter("a", status="open", peopleCapacity=100, peopleOccupancy=30,
                        hazardTypes=["flood"]),
                shelter("b", status="closed", peopleCapacity=50, hazardTypes=["flood"]),
                shelter("c", status="open", hazardTypes=["landslide"])]
    result = shelters_from_entities(entities, parse_scenario({}).policy, "flood")
    assert result.capacity.tolist()[:2] == [70.0, 50.0]
    assert np.isinf(result.capacity[2])
    assert result.open.tolist() == [True, False, True]
    assert result.eligible.tolist() == [True, True, False]
    assert any("no peopleCapacity" in note for note in result.notes)


def test_scenario_overrides_opens_all_and_adds_temporary_ryokan() -> None:
    spec = parse_scenario({"shelters": {
        "open": "all", "capacity_unknown": 250,
        "override": [{"id": "urn:ngsi-ld:EvacuationShelter:a", "capacity": 10}],
        "temporary": [{"name": "旅館", "lon": 136.36, "lat": 36.29, "capacity": 800}]}})
    entities = [shelter("a", status="closed"), shelter("b")]
    result = shelters_from_entities(entities, spec.policy, "flood")
    assert result.open.all()
    assert result.capacity.tolist() == [10.0, 250.0, 800.0]
    assert result.categories[-1] == "temporaryShelter"
    assert any("no hazardTypes" in note for note in result.notes)


def test_unknown_hazard_designation_can_be_excluded() -> None:
    spec = parse_scenario({"shelters": {"hazard_unknown": "exclude"}})
    result = shelters_from_entities([shelter("a")], spec.policy, "flood")
    assert result.eligible.tolist() == [False]


@pytest.mark.parametrize(("data", "message"), [
    ({"hazzard": "flood"}, "unknown key"),
    ({"hazard": "meteor"}, "hazard must be one of"),
    ({"departure": {"kind": "linear"}}, "rayleigh or sigmoid"),
    ({"departure": {"participation": 1.5}}, "share between 0 and 1"),
    ({"seeds": []}, "non-empty list"),
    ({"shelters": {"temporary": [{"name": "x"}]}}, "needs lon"),
    ({"horizon_min": -5}, "horizon_min must be a number"),
])
def test_bad_scenarios_are_refused_with_the_key_named(data: dict[str, Any],
                                                      message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(data)


def test_every_builtin_scenario_parses() -> None:
    from cityos.apps.twin.web import builtin_scenarios
    scenarios = builtin_scenarios()
    assert set(scenarios) == {"flood-baseline", "flood-late-departure", "flood-ryokan",
                              "landslide-night"}
    assert scenarios["flood-ryokan"].policy.temporary[0].kind == "ryokan"
