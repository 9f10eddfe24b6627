"""How admitted measurements are grouped for writing: the internal form equals what the
NGSI-LD parser makes of the same Properties, and a second value of one attribute waits for
the next round (so temporal history keeps both)."""

from __future__ import annotations

from cityos.iot.ingest import _rounds
from cityos.iot.mapping import Measurement
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity

T1, T2 = "2026-11-26T09:00:00.000000Z", "2026-11-26T09:00:01.000000Z"


def m(entity: str, name: str, value: object, at: str, tenant: str = "") -> Measurement:
    return Measurement(tenant, f"urn:ngsi-ld:WaterObserved:{entity}", "WaterObserved", name,
                       value, at, "MTR" if name == "height" else None)  # type: ignore[arg-type]


def test_internal_form_matches_the_parser() -> None:
    [[entities]] = _rounds([m("g1", "height", 1.5, T1), m("g1", "count", 3, T1)]).values()
    expected = parse_entity({
        "id": "urn:ngsi-ld:WaterObserved:g1", "type": "WaterObserved",
        "height": {"type": "Property", "value": 1.5, "observedAt": T1, "unitCode": "MTR"},
        "count": {"type": "Property", "value": 3, "observedAt": T1}}, core_context())
    assert entities["urn:ngsi-ld:WaterObserved:g1"] == expected


def test_repeated_attributes_go_to_later_rounds_and_tenants_apart() -> None:
    grouped = _rounds([m("g1", "height", 1.0, T1), m("g2", "height", 2.0, T1),
                       m("g1", "height", 1.1, T2), m("g1", "count", 4, T2),
                       m("g1", "height", 9.0, T1, tenant="other")])
    first, second = grouped[""]
    assert set(first) == {"urn:ngsi-ld:WaterObserved:g1", "urn:ngsi-ld:WaterObserved:g2"}
    height = "https://uri.etsi.org/ngsi-ld/default-context/height"
    assert first["urn:ngsi-ld:WaterObserved:g1"]["attrs"][height][0]["value"] == 1.0
    assert len(first["urn:ngsi-ld:WaterObserved:g1"]["attrs"]) == 2  # count joined round 1
    assert second["urn:ngsi-ld:WaterObserved:g1"]["attrs"][height][0]["value"] == 1.1
    assert len(grouped["other"]) == 1
