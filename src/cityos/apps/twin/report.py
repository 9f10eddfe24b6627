"""A run's report: one plain JSON-ready dict (summary, curve with the band over seeds,
per-shelter loads, unreachable residents, bottleneck, route and closed links), and its
CSV / GeoJSON downloads. Every report says whether any input was synthetic."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import asdict
from typing import Any

import numpy as np

from cityos.apps.twin.graph import RoadGraph
from cityos.apps.twin.model import Population, Shelters
from cityos.apps.twin.simulation import RunResult

SYNTHETIC_NOTE_JA = ("注意：合成（架空）データを含む試算です。"
                     "実際の道路・人口・浸水想定ではありません。")
SYNTHETIC_NOTE_EN = ("Note: this run uses synthetic stand-in data, not real roads, "
                     "population or inundation maps.")
TOP_BOTTLENECKS = 30
MAX_ROUTE_LINKS = 3000
MAX_CLOSED_LINKS = 5000


def _num(value: float | None, digits: int = 1) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def build_report(run_id: str, results: list[RunResult], graph: RoadGraph,
                 population: Population, shelters: Shelters,
                 seconds: float) -> dict[str, Any]:
    """The report of one scenario run over one or more seeds (the first seed gives the
    maps and tables; the curve carries the band over all seeds)."""
    first = results[0]
    shares = np.array([r.evacuated_share for r in results])
    synthetic = any(r.synthetic for r in results)
    scenario = asdict(first.scenario)
    return {
        "id": run_id, "scenario": scenario, "seeds": [r.seed for r in results],
        "synthetic": synthetic, "syntheticNote": (
            {"ja": SYNTHETIC_NOTE_JA, "en": SYNTHETIC_NOTE_EN} if synthetic else None),
        "notes": first.notes,
        "summary": _summary(results, seconds),
        "curve": {"minutes": first.curve_min.tolist(),
                  "evacuatedShare": np.round(shares.mean(axis=0), 4).tolist(),
                  "low": np.round(shares.min(axis=0), 4).tolist(),
                  "high": np.round(shares.max(axis=0), 4).tolist(),
                  "departedShare": np.round(first.departed_share, 4).tolist()},
        "shelters": _shelters(first, shelters),
        "unreachable": _unreachable(first, population),
        "bottlenecks": _links(first, graph, np.argsort(-first.link_ratio)[:TOP_BOTTLENECKS]),
        "routes": _links(first, graph, _route_links(first)),
        "closedLinks": [[_num(graph.lon[a], 6), _num(graph.lat[a], 6), _num(graph.lon[b], 6),
                         _num(graph.lat[b], 6)] for a, b in zip(
            graph.link_from[first.closed_links][:MAX_CLOSED_LINKS].tolist(),
            graph.link_to[first.closed_links][:MAX_CLOSED_LINKS].tolist(), strict=True)],
    }


def _summary(results: list[RunResult], seconds: float) -> dict[str, Any]:
    first = results[0]
    evac = [r.evacuated for r in results]
    means = [r.mean_min for r in results if r.mean_min is not None]
    p95s = [r.p95_min for r in results if r.p95_min is not None]
    total = first.total_residents
    return {
        "residents": round(total), "evacuated": round(float(np.mean(evac))),
        "evacuatedShare": _num(float(np.mean(evac)) / total if total else 0.0, 4),
        "evacuatedShareLow": _num(min(evac) / total if total else 0.0, 4),
        "evacuatedShareHigh": _num(max(evac) / total if total else 0.0, 4),
        "evacuatedShareByHorizon": _num(float(np.mean([r.evacuated_share[-1]
                                                       for r in results])), 4),
        "horizonMinutes": _num(first.scenario.horizon_min, 0),
        "meanMinutes": _num(float(np.mean(means))) if means else None,
        "p95Minutes": _num(float(np.mean(p95s))) if p95s else None,
        "unreachable": round(float(first.unreachable_by_point.sum())),
        "stranded": round(float(first.stranded_by_point.sum())),
        "outsideRoadGraph": round(float(first.outside_graph_by_point.sum())),
        "notDeparted": round(first.not_departed),
        "sheltersUsable": int(first.usable_shelters.sum()),
        "sheltersFull": int(np.isfinite(first.shelter_full_at_min).sum()),
        "closedLinks": int(first.closed_links.sum()),
        "rounds": first.rounds, "seconds": round(seconds, 3),
    }


def _shelters(result: RunResult, shelters: Shelters) -> list[dict[str, Any]]:
    rows = []
    for i in range(shelters.count):
        capacity = float(shelters.capacity[i])
        arrivals = float(result.shelter_arrivals[i])
        rows.append({
            "id": shelters.ids[i], "name": shelters.names[i],
            "category": shelters.categories[i],
            "lon": _num(shelters.lon[i], 6), "lat": _num(shelters.lat[i], 6),
            "capacity": _num(capacity, 0), "capacityKnown": bool(shelters.capacity_known[i]),
            "open": bool(shelters.open[i]), "usable": bool(result.usable_shelters[i]),
            "inHazardZone": bool(result.flooded_shelters[i]),
            "arrivals": round(arrivals), "turnedAway": round(float(result.shelter_turned_away[i])),
            "fullAtMinutes": _num(float(result.shelter_full_at_min[i])),
            "load": _num(arrivals / capacity, 3) if math.isfinite(capacity) and capacity > 0
            else None})
    return rows


def _unreachable(result: RunResult, population: Population) -> list[dict[str, Any]]:
    rows = []
    for reason, values in (("noReachableShelter", result.unreachable_by_point),
                           ("allReachableSheltersFull", result.stranded_by_point),
                           ("outsideRoadGraph", result.outside_graph_by_point)):
        for i in np.flatnonzero(values > 0).tolist():
            rows.append({"label": population.labels[i], "lon": _num(population.lon[i], 6),
                         "lat": _num(population.lat[i], 6), "people": round(float(values[i])),
                         "reason": reason})
    return rows


def _route_links(result: RunResult) -> np.ndarray:
    used = np.flatnonzero(result.link_flow > 0)
    return used[np.argsort(-result.link_flow[used])][:MAX_ROUTE_LINKS]


def _links(result: RunResult, graph: RoadGraph, index: np.ndarray) -> list[dict[str, Any]]:
    rows = []
    for k in index.tolist():
        if result.link_flow[k] <= 0:
            continue
        a, b = int(graph.link_from[k]), int(graph.link_to[k])
        rows.append({"link": k, "coordinates": [[_num(graph.lon[a], 6), _num(graph.lat[a], 6)],
                                                [_num(graph.lon[b], 6), _num(graph.lat[b], 6)]],
                     "flow": round(float(result.link_flow[k])),
                     "ratio": _num(float(result.link_ratio[k]), 3),
                     "widthM": _num(float(graph.width_m[k]))})
    return rows


def shelters_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    columns = ["id", "name", "category", "lon", "lat", "capacity", "capacityKnown", "open",
               "usable", "inHazardZone", "arrivals", "turnedAway", "fullAtMinutes", "load"]
    writer = csv.writer(out)
    writer.writerow(["synthetic", report["synthetic"]])
    writer.writerow(columns)
    for row in report["shelters"]:
        writer.writerow(["" if row[c] is None else row[c] for c in columns])
    return out.getvalue()


def curve_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["synthetic", report["synthetic"]])
    writer.writerow(["minutes", "evacuatedShare", "low", "high", "departedShare"])
    c = report["curve"]
    for row in zip(c["minutes"], c["evacuatedShare"], c["low"], c["high"], c["departedShare"],
                   strict=True):
        writer.writerow(row)
    return out.getvalue()


def report_geojson(report: dict[str, Any]) -> dict[str, Any]:
    """Shelter loads, unreachable origins, closed and bottleneck links as one
    FeatureCollection; every feature says `layer` and `synthetic`."""
    flag = report["synthetic"]
    features: list[dict[str, Any]] = []
    for row in report["shelters"]:
        props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
        features.append(_feature("Point", [row["lon"], row["lat"]], "shelter", flag, props))
    for row in report["unreachable"]:
        props = {k: v for k, v in row.items() if k not in ("lon", "lat")}
        features.append(_feature("Point", [row["lon"], row["lat"]], "unreachable", flag, props))
    for row in report["bottlenecks"]:
        props = {k: v for k, v in row.items() if k != "coordinates"}
        features.append(_feature("LineString", row["coordinates"], "bottleneck", flag, props))
    for x1, y1, x2, y2 in report["closedLinks"]:
        features.append(_feature("LineString", [[x1, y1], [x2, y2]], "closedLink", flag, {}))
    return {"type": "FeatureCollection", "features": features,
            "properties": {"run": report["id"], "synthetic": flag,
                           "note": report["syntheticNote"]}}


def _feature(kind: str, coordinates: Any, layer: str, synthetic: bool,
             props: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": {"type": kind, "coordinates": coordinates},
            "properties": {"layer": layer, "synthetic": synthetic, **props}}
