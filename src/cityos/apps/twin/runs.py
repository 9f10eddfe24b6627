"""Running a scenario end to end and keeping the result: a `SimulationRun` NGSI-LD entity
(summary, curve, per-shelter loads; id urn:ngsi-ld:SimulationRun:<uuid>) through the
broker, and the full report (with link geometries for the map and downloads) as a JSON
file in the twin data folder (runs/<uuid>.json)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cityos.apps.twin.inputs import TwinInputs
from cityos.apps.twin.report import build_report
from cityos.apps.twin.scenario import ScenarioFile
from cityos.apps.twin.shelters import shelters_from_entities
from cityos.apps.twin.simulation import prepare_hazard, simulate
from cityos.broker.entities import EntityService
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity
from cityos.ngsild.types import JsonObject

RUN_TYPE = "SimulationRun"
MAX_UNREACHABLE_IN_ENTITY = 200


def run_scenario(inputs: TwinInputs, shelter_entities: list[JsonObject], spec: ScenarioFile,
                 seeds: tuple[int, ...] | None = None,
                 progress: Callable[[int], None] | None = None,
                 run_id: str | None = None) -> dict[str, Any]:
    """Simulate every seed and build the report (see cityos.apps.twin.report)."""
    started = time.perf_counter()
    scenario = spec.scenario
    shelters = shelters_from_entities(shelter_entities, spec.policy, scenario.hazard)
    if shelters.count == 0:
        shelters.notes.append("no shelter entity matches the scenario: nobody can be placed")
    prepared = prepare_hazard(inputs.roads, inputs.hazards, scenario)
    results = []
    for seed in seeds or spec.seeds:
        results.append(simulate(inputs.roads, inputs.population, shelters, scenario, seed,
                                hazards=inputs.hazards, prepared=prepared))
        if progress is not None:
            progress(1)
    run_id = run_id or f"urn:ngsi-ld:{RUN_TYPE}:{uuid.uuid4()}"
    return build_report(run_id, results, inputs.roads, inputs.population, shelters,
                        time.perf_counter() - started)


def _prop(value: Any) -> dict[str, Any]:
    return {"type": "Property", "value": value}


def simulation_run_entity(report: dict[str, Any]) -> JsonObject:
    """The run as an NGSI-LD entity (internal form), for the catalog and other services."""
    body = {
        "id": report["id"], "type": RUN_TYPE,
        "name": _prop(report["scenario"]["name"]),
        "hazard": _prop(report["scenario"]["hazard"]),
        "scenario": {"type": "JsonProperty", "json": report["scenario"]},
        "seeds": _prop(report["seeds"]),
        "synthetic": _prop(report["synthetic"]),
        "notes": _prop(report["notes"] or ["none"]),
        "summary": {"type": "JsonProperty", "json": report["summary"]},
        "evacuationCurve": {"type": "JsonProperty", "json": report["curve"]},
        "shelterLoads": {"type": "JsonProperty", "json": [
            {k: row[k] for k in ("id", "name", "capacity", "arrivals", "turnedAway",
                                 "fullAtMinutes", "usable")} for row in report["shelters"]]},
        "unreachableOrigins": {"type": "JsonProperty",
                               "json": report["unreachable"][:MAX_UNREACHABLE_IN_ENTITY]},
    }
    return parse_entity(body, core_context())


def save_report(folder: Path, report: dict[str, Any]) -> Path:
    runs = folder / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    path = runs / f"{report['id'].rsplit(':', 1)[-1]}.json"
    path.write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    return path


def load_report(folder: Path, run_uuid: str) -> dict[str, Any] | None:
    try:
        uuid.UUID(run_uuid)
    except ValueError:
        return None
    path = folder / "runs" / f"{run_uuid}.json"
    if not path.exists():
        return None
    report: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return report


async def store_run(entities: EntityService, folder: Path, report: dict[str, Any],
                    tenant: str = "") -> None:
    save_report(folder, report)
    await entities.create(tenant, simulation_run_entity(report))


def compare_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Scenario B against scenario A: summary figures side by side and per-shelter change."""
    keys = ("evacuatedShare", "meanMinutes", "p95Minutes", "unreachable", "stranded",
            "sheltersFull")
    summary = {k: {"a": a["summary"][k], "b": b["summary"][k],
                   "change": None if a["summary"][k] is None or b["summary"][k] is None
                   else round(b["summary"][k] - a["summary"][k], 4)} for k in keys}
    before = {row["id"]: row for row in a["shelters"]}
    shelters = []
    for row in b["shelters"]:
        old = before.get(row["id"], {"arrivals": 0})
        shelters.append({"id": row["id"], "name": row["name"], "a": old["arrivals"],
                         "b": row["arrivals"], "change": row["arrivals"] - old["arrivals"]})
    return {"a": a["scenario"]["name"], "b": b["scenario"]["name"],
            "synthetic": a["synthetic"] or b["synthetic"], "summary": summary,
            "shelters": shelters}
