"""Where imported inputs live and how a run finds them: files in a `twin/` folder next to
the SQLite database (for PostgreSQL: var/twin), written by `cityos twin import-*`:
roads.npz, population.npz, hazard-<kind>.json. An input not imported is replaced by the
synthetic Kaga stand-in, which marks the run synthetic."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cityos.apps.twin.graph import RoadGraph
from cityos.apps.twin.model import HazardMap, HazardZone, Population
from cityos.apps.twin.synthetic import synthetic_hazards, synthetic_population, synthetic_roads
from cityos.config import Settings


def twin_data_dir(settings: Settings) -> Path:
    if settings.sqlite_path:
        return Path(settings.sqlite_path).resolve().parent / "twin"
    return Path("var/twin")


def save_roads(folder: Path, graph: RoadGraph) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "roads.npz"
    np.savez_compressed(path, lon=graph.lon, lat=graph.lat, link_from=graph.link_from,
                        link_to=graph.link_to, length_m=graph.length_m, width_m=graph.width_m,
                        meta=json.dumps({"source": graph.source, "notes": graph.notes,
                                         "synthetic": graph.synthetic}))
    return path


def load_roads(path: Path) -> RoadGraph:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return RoadGraph(lon=data["lon"], lat=data["lat"], link_from=data["link_from"],
                         link_to=data["link_to"], length_m=data["length_m"],
                         width_m=data["width_m"], synthetic=meta["synthetic"],
                         source=meta["source"], notes=meta["notes"])


def save_population(folder: Path, population: Population) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "population.npz"
    np.savez_compressed(path, lon=population.lon, lat=population.lat, counts=population.counts,
                        meta=json.dumps({"labels": population.labels,
                                         "bands": list(population.bands),
                                         "source": population.source,
                                         "notes": population.notes,
                                         "synthetic": population.synthetic}))
    return path


def load_population(path: Path) -> Population:
    with np.load(path) as data:
        meta = json.loads(str(data["meta"]))
        return Population(lon=data["lon"], lat=data["lat"], counts=data["counts"],
                          labels=meta["labels"], bands=tuple(meta["bands"]),
                          synthetic=meta["synthetic"], source=meta["source"],
                          notes=meta["notes"])


def save_hazard(folder: Path, kind: str, hazards: HazardMap) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"hazard-{kind}.json"
    path.write_text(json.dumps({
        "source": hazards.source, "notes": hazards.notes, "synthetic": hazards.synthetic,
        "zones": [{"kind": z.kind, "depth_m": z.depth_m, "label": z.label,
                   "rings": [r.tolist() for r in z.rings]} for z in hazards.zones]},
        ensure_ascii=False), encoding="utf-8")
    return path


def load_hazard(path: Path) -> HazardMap:
    data = json.loads(path.read_text(encoding="utf-8"))
    zones = [HazardZone(z["kind"], [np.asarray(r, float) for r in z["rings"]], z["depth_m"],
                        z["label"]) for z in data["zones"]]
    return HazardMap(zones, data["synthetic"], data["source"], data["notes"])


@dataclass
class TwinInputs:
    roads: RoadGraph
    population: Population
    hazards: HazardMap


@lru_cache(maxsize=1)
def _synthetic_city() -> tuple[RoadGraph, Population, HazardMap]:
    return synthetic_roads(), synthetic_population(), synthetic_hazards()


def load_inputs(folder: Path, hazard: str) -> TwinInputs:
    """Imported inputs where present, the synthetic stand-in for the rest."""
    roads, population, hazards = _synthetic_city()
    if (folder / "roads.npz").exists():
        roads = load_roads(folder / "roads.npz")
    if (folder / "population.npz").exists():
        population = load_population(folder / "population.npz")
    hazard_file = folder / f"hazard-{hazard}.json"
    if hazard_file.exists():
        hazards = load_hazard(hazard_file)
    elif hazard not in ("flood", "landslide"):
        hazards = HazardMap([], synthetic=False, source="no zones for this hazard",
                            notes=[f"no {hazard} zones imported: no road is closed"])
    return TwinInputs(roads, population, hazards)
