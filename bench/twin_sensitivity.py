"""Digital twin sanity check: how the Kaga-scale (synthetic) run responds to later
departure and to shelter capacity, for docs/twin.md. Three seeds per setting; the
baseline figure is the reference setting of each sweep in the same run.

Run: python -m bench.twin_sensitivity
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import common
from cityos.apps.twin.scenario import parse_scenario
from cityos.apps.twin.shelters import packaged_kaga_shelters, shelters_from_entities
from cityos.apps.twin.simulation import prepare_hazard, simulate
from cityos.apps.twin.synthetic import synthetic_hazards, synthetic_population, synthetic_roads

SEEDS = (1, 2, 3)


def _run(city: tuple[Any, Any, Any], data: dict[str, Any]) -> dict[str, Any]:
    graph, population, hazards = city
    spec = parse_scenario({"time_of_day": "night", **data})
    shelters = shelters_from_entities(packaged_kaga_shelters(), spec.policy, "flood")
    prepared = prepare_hazard(graph, hazards, spec.scenario)
    results = [simulate(graph, population, shelters, spec.scenario, seed, hazards=hazards,
                        prepared=prepared) for seed in SEEDS]
    grid = results[0].curve_min

    def share_at(minute: float) -> float:
        index = int(np.searchsorted(grid, minute))
        return round(float(np.mean([r.evacuated_share[index] for r in results])), 3)

    return {"share_30min": share_at(30), "share_60min": share_at(60),
            "share_final": round(float(np.mean([r.evacuated / r.total_residents
                                                for r in results])), 3),
            "mean_min": round(float(np.mean([r.mean_min or 0 for r in results])), 1),
            "p95_min": round(float(np.mean([r.p95_min or 0 for r in results])), 1),
            "shelters_full": int(np.isfinite(results[0].shelter_full_at_min).sum()),
            "turned_away": round(float(results[0].shelter_turned_away.sum())),
            "stranded": round(float(results[0].stranded_by_point.sum()))}


def measure() -> dict[str, Any]:
    city = (synthetic_roads(), synthetic_population(), synthetic_hazards())
    delays = {f"delay_{d}min": _run(city, {"departure": {"delay_min": d, "sigma_min": 10},
                                           "shelters": {"capacity_unknown": 1000}})
              for d in (0, 10, 20, 30)}
    capacities = {f"capacity_{c}": _run(city, {"shelters": {"capacity_unknown": c}})
                  for c in (300, 500, 1000, "unlimited")}
    return {"scenario": "twin_sensitivity", "synthetic": True, "seeds": list(SEEDS),
            "departure_delay": delays, "shelter_capacity": capacities}


def main() -> None:
    common.emit(measure())


if __name__ == "__main__":
    main()
