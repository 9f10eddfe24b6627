"""One evacuation run: hazard closes links and shelters, residents leave along the
departure curve, walk at the speed of their age band to the nearest usable shelter and go
on when it is full (cityos.apps.twin.assignment). Deterministic for a given seed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from cityos.apps.twin.assignment import Groups, Placement, assign
from cityos.apps.twin.graph import BoolArray, FloatArray, IntArray, RoadGraph, local_xy
from cityos.apps.twin.hazard import flooded_nodes_and_links
from cityos.apps.twin.model import HazardMap, Population, Scenario, Shelters

# Specific flow of pedestrians through a corridor, persons per metre width per second
# (Fruin / Weidmann: about 1.3 at the capacity point).
SPECIFIC_FLOW = 1.3
CONGESTION_ALPHA, CONGESTION_BETA, CONGESTION_CAP = 0.5, 2.0, 5.0


@dataclass
class RunResult:
    """Everything a run reports. Times in minutes after the warning."""

    scenario: Scenario
    seed: int
    curve_min: FloatArray
    evacuated_share: FloatArray
    departed_share: FloatArray
    total_residents: float
    evacuated: float
    mean_min: float | None
    p95_min: float | None
    shelter_arrivals: FloatArray
    shelter_turned_away: FloatArray
    shelter_full_at_min: FloatArray
    unreachable_by_point: FloatArray
    stranded_by_point: FloatArray
    outside_graph_by_point: FloatArray
    not_departed: float
    link_flow: FloatArray
    link_ratio: FloatArray
    closed_links: BoolArray
    usable_shelters: BoolArray
    flooded_shelters: BoolArray
    rounds: int
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False


@dataclass
class PreparedHazard:
    """What a hazard closes on one graph, kept to reuse over several seeds."""

    closed_links: BoolArray
    flooded_nodes: BoolArray


def prepare_hazard(graph: RoadGraph, hazards: HazardMap | None,
                   scenario: Scenario) -> PreparedHazard:
    if hazards is None:
        return PreparedHazard(np.zeros(graph.link_count, bool), np.zeros(graph.node_count, bool))
    nodes, links = flooded_nodes_and_links(graph, hazards, scenario.hazard,
                                           scenario.depth_threshold_m)
    return PreparedHazard(links, nodes)


def departure_groups(population: Population, nodes: IntArray, reachable_point: BoolArray,
                     scenario: Scenario, rng: np.random.Generator) -> tuple[Groups, float]:
    """Residents per (point, band, departure minute), drawn with a multinomial from the
    departure curve; returns the groups and how many never leave within the horizon."""
    curve = scenario.effective_departure()
    edges = np.arange(0.0, scenario.horizon_min + scenario.bin_min, scenario.bin_min)
    cdf = curve.cumulative(edges)
    p = np.diff(np.r_[0.0, cdf[1:]])
    p = np.r_[np.clip(p, 0, 1), max(0.0, 1.0 - float(cdf[-1]))]  # last: not within horizon
    p = p / p.sum()
    mid = edges[:-1] + scenario.bin_min / 2
    parts: list[Groups] = []
    not_departed = 0.0
    points = np.flatnonzero(reachable_point)
    for b, band in enumerate(population.bands):
        people = np.round(population.counts[points, b] * scenario.at_home_share(band))
        people = people.astype(np.int64)
        draws = rng.multinomial(people, p)  # (points, bins + 1)
        not_departed += float(draws[:, -1].sum())
        pi, bi = np.nonzero(draws[:, :-1])
        speed = scenario.speeds_mps.get(band, 1.0) * 60.0
        parts.append(Groups(nodes[points[pi]], mid[bi], np.full(pi.shape[0], speed),
                            draws[pi, bi].astype(float), points[pi]))
    return Groups.concat(parts), not_departed


def usable_shelters(graph: RoadGraph, shelters: Shelters, hazard: PreparedHazard,
                    scenario: Scenario) -> tuple[IntArray, BoolArray, BoolArray, FloatArray]:
    """Shelter nodes, which shelters may be used, which stand in the hazard, snap distance."""
    if shelters.count == 0:
        return (np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(0, bool), np.zeros(0))
    nodes, snap = graph.nearest_nodes(shelters.lon, shelters.lat)
    in_hazard = hazard.flooded_nodes[nodes]
    usable = shelters.open & shelters.eligible & ~in_hazard & (snap <= scenario.max_snap_m)
    return nodes, usable, in_hazard, snap


def simulate(graph: RoadGraph, population: Population, shelters: Shelters,
             scenario: Scenario, seed: int, hazards: HazardMap | None = None,
             prepared: PreparedHazard | None = None) -> RunResult:
    """One run. Nothing is raised for bad inputs that leave something to compute: what
    could not be simulated is counted and explained in `notes`."""
    notes: list[str] = []
    hazard = prepared or prepare_hazard(graph, hazards, scenario)
    rng = np.random.default_rng(seed)
    point_nodes, point_snap = (graph.nearest_nodes(population.lon, population.lat)
                               if graph.node_count else (np.zeros(0, np.int64), np.zeros(0)))
    inside = point_snap <= scenario.max_snap_m
    if (~inside).any():
        notes.append(f"{int((~inside).sum())} population points lie more than "
                     f"{scenario.max_snap_m:.0f} m from the road graph and were not simulated")
    point_nodes, wade_m = _leave_hazard_zone(graph, hazard, point_nodes, population, notes)
    groups, not_departed = departure_groups(population, point_nodes, inside, scenario, rng)
    groups.ready_min += wade_m[groups.origin] / groups.speed_m_per_min
    s_nodes, usable, in_hazard, _ = usable_shelters(graph, shelters, hazard, scenario)
    if not usable.any():
        notes.append("no open shelter can be used for this hazard: nobody can be placed")
    open_links = ~hazard.closed_links
    placement = _place(graph, open_links, s_nodes, shelters.capacity, usable, groups, scenario)
    if scenario.congestion and placement.link_flow.any():
        ratio = _link_ratio(graph, placement.link_flow, groups)
        factor = np.minimum(1 + CONGESTION_ALPHA * ratio ** CONGESTION_BETA, CONGESTION_CAP)
        placement = _place(graph, open_links, s_nodes, shelters.capacity, usable, groups,
                           scenario, graph.length_m * factor)
        notes.append("congestion: link costs scaled by 1 + 0.5 (flow/capacity)^2 "
                     "(at most x5) after a first assignment, then assigned again")
    result = _result(graph, population, shelters, scenario, seed, hazard, usable, in_hazard,
                     inside, groups, not_departed, placement, notes)
    if hazards is not None and hazards.synthetic:
        result.synthetic = True
        result.notes[:0] = hazards.notes
    return result


def _leave_hazard_zone(graph: RoadGraph, hazard: PreparedHazard, nodes: IntArray,
                       population: Population, notes: list[str]) -> tuple[IntArray, FloatArray]:
    """Residents whose home node is in a closing zone first walk straight out of it to the
    nearest node outside (the distance, x1.3 for detours, adds to their walk); closed links
    then stop only through traffic."""
    wade = np.zeros(nodes.shape[0])
    inside = hazard.flooded_nodes[nodes] if nodes.size else np.zeros(0, bool)
    dry = np.flatnonzero(~hazard.flooded_nodes)
    if not inside.any() or dry.size == 0:
        return nodes, wade
    tree = cKDTree(local_xy(graph.lon[dry], graph.lat[dry], graph.reference_latitude))
    where = local_xy(population.lon[inside], population.lat[inside], graph.reference_latitude)
    distance, index = tree.query(where)
    nodes = nodes.copy()
    nodes[inside] = dry[index]
    wade[inside] = distance * 1.3
    people = float(population.counts[inside].sum())
    notes.append(f"{people:.0f} residents live in the hazard zone: they first walk out to "
                 f"the nearest road outside it (straight-line distance x1.3)")
    return nodes, wade


def _place(graph: RoadGraph, open_links: BoolArray, s_nodes: IntArray, capacity: FloatArray,
           usable: BoolArray, groups: Groups, scenario: Scenario,
           cost: FloatArray | None = None) -> Placement:
    costs, link_ids = graph.adjacency(cost, open_links)
    return assign(costs, link_ids, s_nodes, capacity, usable, groups, graph.link_count)


def _link_ratio(graph: RoadGraph, flow: FloatArray, groups: Groups) -> FloatArray:
    """People on a link over what it passes during the departure window (5th to 95th
    percentile of departures, at least 10 minutes) at the specific flow."""
    if groups.count.size == 0:
        return np.zeros(graph.link_count)
    lo, hi = _weighted_quantiles(groups.ready_min, groups.count, [0.05, 0.95])
    window_s = max(hi - lo, 10.0) * 60.0
    return np.asarray(flow / (graph.width_m * SPECIFIC_FLOW * window_s))


def _weighted_quantiles(values: FloatArray, weights: FloatArray,
                        qs: list[float]) -> list[float]:
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cum = np.cumsum(w)
    return [float(v[min(int(np.searchsorted(cum, q * cum[-1])), v.size - 1)]) for q in qs]


def _result(graph: RoadGraph, population: Population, shelters: Shelters,
            scenario: Scenario, seed: int, hazard: PreparedHazard, usable: BoolArray,
            in_hazard: BoolArray, inside: BoolArray, groups: Groups, not_departed: float,
            placement: Placement, notes: list[str]) -> RunResult:
    n_points = population.lon.shape[0]
    total = float(sum(np.round(population.counts[:, b] * scenario.at_home_share(band)).sum()
                      for b, band in enumerate(population.bands)))
    grid = np.arange(0.0, scenario.horizon_min + scenario.bin_min, scenario.bin_min)
    arrived = np.searchsorted(np.sort(placement.accepted_min), grid, side="right")
    weights = placement.accepted_count[np.argsort(placement.accepted_min, kind="stable")]
    cum = np.r_[0.0, np.cumsum(weights)]
    evacuated_curve = cum[arrived] / total if total else np.zeros_like(grid)
    departed = np.searchsorted(np.sort(groups.ready_min), grid, side="right")
    dep_cum = np.r_[0.0, np.cumsum(groups.count[np.argsort(groups.ready_min, kind="stable")])]
    evacuated = float(placement.accepted_count.sum())
    mean = p95 = None
    if evacuated > 0:
        mean = float(np.average(placement.accepted_min, weights=placement.accepted_count))
        p95 = _weighted_quantiles(placement.accepted_min, placement.accepted_count, [0.95])[0]
    outside = np.where(inside, 0.0, population.counts.sum(axis=1))
    shelter_arrivals = np.bincount(placement.accepted_shelter, weights=placement.accepted_count,
                                   minlength=shelters.count).astype(float)
    return RunResult(
        scenario=scenario, seed=seed, curve_min=grid, evacuated_share=evacuated_curve,
        departed_share=dep_cum[departed] / total if total else np.zeros_like(grid),
        total_residents=total, evacuated=evacuated, mean_min=mean, p95_min=p95,
        shelter_arrivals=shelter_arrivals, shelter_turned_away=placement.turned_away,
        shelter_full_at_min=placement.full_at_min,
        unreachable_by_point=_by_point(placement.unreachable, n_points),
        stranded_by_point=_by_point(placement.stranded, n_points),
        outside_graph_by_point=outside, not_departed=not_departed,
        link_flow=placement.link_flow,
        link_ratio=_link_ratio(graph, placement.link_flow, groups),
        closed_links=hazard.closed_links, usable_shelters=usable, flooded_shelters=in_hazard,
        rounds=placement.rounds, notes=[*graph.notes, *population.notes, *shelters.notes,
                                        *notes],
        synthetic=graph.synthetic or population.synthetic or shelters.synthetic)


def _by_point(groups: Groups, n_points: int) -> FloatArray:
    return np.bincount(groups.origin, weights=groups.count, minlength=n_points).astype(float)
