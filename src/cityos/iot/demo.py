"""Demo devices for `make run` (CITYOS_DEMO) and the simulator that feeds them.

Demo sensors only: people counters at three of Kaga's designated shelters (positions from
the GSI shelter data) and water-level gauges on the 大聖寺川 and 動橋川 (positions near the
rivers, not real gauge sites). Their API key is fixed and public so the simulator can
publish without setup; never use it outside a demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

DEMO_APIKEY = "kaga-demo-public-apikey"
DEMO_TENANT = ""
Kind = Literal["people", "river"]


@dataclass(frozen=True)
class DemoSensor:
    device_id: str
    kind: Kind
    longitude: float
    latitude: float
    place: str
    place_en: str
    base: float  # typical level: visitors at the peak hour, or river stage in m


DEMO_SENSORS = (
    DemoSensor("people-shioya", "people", 136.253023, 36.294665, "加賀市立塩屋地区会館",
               "Shioya community hall", 60),
    DemoSensor("people-kinmei", "people", 136.334488, 36.350077, "加賀市立金明地区会館",
               "Kinmei community hall", 45),
    DemoSensor("people-yamashiro", "people", 136.359277, 36.291591, "加賀市立山代地区会館",
               "Yamashiro community hall", 80),
    DemoSensor("river-daishoji", "river", 136.3100, 36.3050, "大聖寺川 (大聖寺付近)",
               "Daishoji River near Daishoji", 1.2),
    DemoSensor("river-iburihashi", "river", 136.3560, 36.3330, "動橋川 (動橋付近)",
               "Iburihashi River near Iburihashi", 0.9),
)

GROUPS: list[dict[str, Any]] = [
    {"name": "people-counters", "entity_type": "CrowdFlowObserved", "apikey": DEMO_APIKEY,
     "attributes": [{"object_id": "c", "name": "peopleCount", "type": "Integer",
                     "unitCode": "C62"}],
     "purpose": "施設・避難所の混雑状況を把握し、市民に混雑度を知らせるため",
     "purpose_en": "To know how crowded facilities and shelters are and tell residents",
     "operator": "加賀市 (デモ)", "personal_data": False,
     "personal_data_note": "赤外線で通過人数のみを数え、画像は撮影しません",
     "installed_on": "2026-04-01"},
    {"name": "river-levels", "entity_type": "WaterObserved", "apikey": DEMO_APIKEY,
     "attributes": [{"object_id": "l", "name": "height", "type": "Number",
                     "unitCode": "MTR", "scale": 0.01}],
     "purpose": "河川の水位を監視し、洪水の危険を早く知らせるため",
     "purpose_en": "To watch river levels and warn of floods early",
     "operator": "加賀市 (デモ)", "personal_data": False, "installed_on": "2026-04-01"},
]


def demo_devices() -> list[dict[str, Any]]:
    return [{"device_id": s.device_id,
             "group": "people-counters" if s.kind == "people" else "river-levels",
             "location": {"type": "Point", "coordinates": [s.longitude, s.latitude]},
             "purpose": f"{s.place}の" + ("混雑状況を把握し、市民に混雑度を知らせるため"
                                          if s.kind == "people" else
                                          "水位を監視し、洪水の危険を早く知らせるため"),
             "purpose_en": f"{s.place_en}: " + ("how crowded it is, for residents"
                                               if s.kind == "people" else
                                               "river level, for early flood warnings")}
            for s in DEMO_SENSORS]
