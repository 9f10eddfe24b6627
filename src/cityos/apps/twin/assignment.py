"""Shelter assignment with capacities: residents walk to the nearest usable shelter (one
multi-source Dijkstra from all usable shelters gives every node its nearest one), shelters
accept arrivals first come first served, and those turned away walk on from the full
shelter to the next nearest shelter that still has room (Dijkstra again without the full
shelters) until everyone is placed or no shelter with room is reachable.

Residents are handled as groups (origin, age band, departure minute), never one by one."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from cityos.apps.twin.graph import FloatArray, IntArray

SMALL_LOAD_NODES = 200


@dataclass
class Groups:
    """Residents moving together: where they are, when they may leave, how fast they walk
    (metres per minute), how many, and which population point they come from."""

    node: IntArray
    ready_min: FloatArray
    speed_m_per_min: FloatArray
    count: FloatArray
    origin: IntArray

    def take(self, mask: np.ndarray) -> Groups:
        return Groups(self.node[mask], self.ready_min[mask], self.speed_m_per_min[mask],
                      self.count[mask], self.origin[mask])

    @staticmethod
    def concat(parts: list[Groups]) -> Groups:
        return Groups(*(np.concatenate([getattr(p, f) for p in parts])
                        for f in ("node", "ready_min", "speed_m_per_min", "count", "origin")))


@dataclass
class Placement:
    """Outcome of the assignment. accepted_*: one row per group part admitted to a
    shelter. unreachable: groups that could reach no usable shelter from their home;
    stranded: groups turned away everywhere they could reach."""

    accepted_shelter: IntArray
    accepted_min: FloatArray
    accepted_count: FloatArray
    accepted_origin: IntArray
    turned_away: FloatArray
    link_flow: FloatArray
    unreachable: Groups
    stranded: Groups
    rounds: int
    full_at_min: FloatArray = field(default_factory=lambda: np.zeros(0))


def _empty_groups() -> Groups:
    return Groups(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0),
                  np.zeros(0, np.int64))


def _tree_flows(load: FloatArray, dist: FloatArray, pred: IntArray) -> tuple[IntArray,
                                                                              IntArray,
                                                                              FloatArray]:
    """People crossing each tree edge (child -> parent) when everyone at a node walks its
    shortest path to the tree root: subtree sums of `load`."""
    loaded = np.flatnonzero((load > 0) & np.isfinite(dist))
    flow: dict[int, float] = {}
    if loaded.size < SMALL_LOAD_NODES:
        pred_list = pred.tolist()
        for node, amount in zip(loaded.tolist(), load[loaded].tolist(), strict=True):
            while pred_list[node] >= 0:
                flow[node] = flow.get(node, 0.0) + amount
                node = pred_list[node]
    else:
        reached = np.flatnonzero(np.isfinite(dist) & (pred >= 0))
        order = reached[np.argsort(-dist[reached], kind="stable")]
        carry = load.astype(float).tolist()
        pred_list = pred.tolist()
        for node in order.tolist():
            amount = carry[node]
            if amount:
                flow[node] = amount
                carry[pred_list[node]] += amount
    children = np.fromiter(flow.keys(), np.int64, len(flow))
    amounts = np.fromiter(flow.values(), float, len(flow))
    return children, pred[children], amounts


def _admit(shelter: IntArray, time: FloatArray, count: FloatArray, capacity: FloatArray,
           ) -> tuple[FloatArray, FloatArray]:
    """First come first served per shelter: the admitted and the turned-away part of each
    arrival (ties keep input order)."""
    order = np.lexsort((np.arange(shelter.shape[0]), time, shelter))
    s, c = shelter[order], count[order]
    cum = np.cumsum(c)
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    before_group = np.repeat(np.r_[0.0, cum][starts], np.diff(np.r_[starts, s.shape[0]]))
    already = cum - c - before_group
    admitted_sorted = np.clip(capacity[s] - already, 0.0, c)
    admitted = np.empty_like(count)
    admitted[order] = admitted_sorted
    return admitted, count - admitted


@dataclass
class _Legs:
    """Walks from a start node to a target shelter, per round: kept so that walks never
    made (cancelled when the walker learnt before leaving that the shelter was full) do
    not count in the link flows, which are summed at the end."""

    trees: list[tuple[FloatArray, IntArray]] = field(default_factory=list)
    round_of: list[IntArray] = field(default_factory=list)
    node: list[IntArray] = field(default_factory=list)
    count: list[FloatArray] = field(default_factory=list)
    size: int = 0

    def add(self, dist: FloatArray, pred: IntArray, node: IntArray,
            count: FloatArray) -> IntArray:
        self.trees.append((dist, pred))
        self.round_of.append(np.full(node.shape[0], len(self.trees) - 1, np.int64))
        self.node.append(node)
        self.count.append(count.copy())
        ids = np.arange(self.size, self.size + node.shape[0], dtype=np.int64)
        self.size += node.shape[0]
        return ids

    def flows(self, link_ids: csr_matrix, link_count: int, cancelled: FloatArray,
              n_nodes: int) -> FloatArray:
        link_flow = np.zeros(link_count)
        if not self.trees:
            return link_flow
        rounds = np.concatenate(self.round_of)
        nodes = np.concatenate(self.node)
        counts = np.concatenate(self.count) - cancelled[:rounds.shape[0]]
        for r, (dist, pred) in enumerate(self.trees):
            mine = rounds == r
            load = np.bincount(nodes[mine], weights=counts[mine], minlength=n_nodes)
            child, parent, amount = _tree_flows(load.astype(float), dist, pred)
            if child.size:
                ids = np.asarray(link_ids[child, parent]).ravel() - 1
                np.add.at(link_flow, ids, amount)
        return link_flow


ARRIVAL_FIELDS = ("shelter", "time", "count", "speed", "origin", "leg", "start_node",
                  "start_min")


def assign(costs: csr_matrix, link_ids: csr_matrix, shelter_node: IntArray,
           capacity: FloatArray, usable: np.ndarray, groups: Groups,
           link_count: int) -> Placement:
    """Place `groups` in shelters (see the module docstring). `capacity` is the remaining
    room of each shelter (inf = unlimited); `usable` the shelters one may go to.

    A walker turned away at a shelter goes on from there; a walker who started the walk
    after that shelter had filled knew it was full (announced) and instead goes from where
    the walk started to the nearest shelter with room."""
    n_shelters, n_nodes = shelter_node.shape[0], costs.shape[0]
    full = ~usable.copy()
    turned_away = np.zeros(n_shelters)
    full_at = np.full(n_shelters, np.inf)
    legs = _Legs()
    cancelled: list[tuple[IntArray, FloatArray]] = []
    accepted = {f: np.zeros(0, np.int64 if f in ("shelter", "origin", "leg", "start_node")
                            else float) for f in ARRIVAL_FIELDS}
    pending, unreachable, stranded = groups, _empty_groups(), []
    rounds = 0
    while pending.count.size and pending.count.sum() > 0:
        candidates = np.flatnonzero(~full & (capacity > 0))
        if candidates.size == 0:
            if rounds == 0:
                unreachable = pending  # no usable shelter at all
            else:
                stranded.append(pending)
            break
        rounds += 1
        # Several shelters on one node: the first with room stands for the node this round.
        nodes, first = np.unique(shelter_node[candidates], return_index=True)
        dist, pred, src = dijkstra(costs, directed=False, indices=nodes, min_only=True,
                                   return_predecessors=True)
        d = dist[pending.node]
        lost = ~np.isfinite(d)
        if lost.any():
            if rounds == 1:
                unreachable = pending.take(lost)
            else:
                stranded.append(pending.take(lost))
            pending = pending.take(~lost)
            d = d[~lost]
        node_to_shelter = np.full(n_nodes, -1, np.int64)
        node_to_shelter[nodes] = candidates[first]
        new = {"shelter": node_to_shelter[src[pending.node]],
               "time": pending.ready_min + d / pending.speed_m_per_min,
               "count": pending.count, "speed": pending.speed_m_per_min,
               "origin": pending.origin,
               "leg": legs.add(dist, pred, pending.node, pending.count),
               "start_node": pending.node, "start_min": pending.ready_min}
        a = {f: np.concatenate([accepted[f], new[f]]) for f in ARRIVAL_FIELDS}
        admitted, overflow = _admit(a["shelter"], a["time"], a["count"], capacity)
        room_left = capacity - np.bincount(a["shelter"], weights=admitted,
                                           minlength=n_shelters)
        over = overflow > 0
        has_overflow = np.bincount(a["shelter"][over], minlength=n_shelters) > 0
        newly_full = (~full) & (has_overflow | (room_left <= 0)) & np.isin(
            np.arange(n_shelters), candidates)
        ok = admitted > 0
        filled_time = np.full(n_shelters, -np.inf)
        np.maximum.at(filled_time, a["shelter"][ok], a["time"][ok])
        full_at[newly_full] = filled_time[newly_full]
        full |= newly_full
        informed = over & (a["start_min"] >= full_at[a["shelter"]])
        walked_on = over & ~informed
        turned_away += np.bincount(a["shelter"][walked_on], weights=overflow[walked_on],
                                   minlength=n_shelters)
        cancelled.append((a["leg"][informed], overflow[informed]))
        accepted = {f: a[f][ok] for f in ARRIVAL_FIELDS}
        accepted["count"] = admitted[ok]
        pending = Groups(
            np.where(informed, a["start_node"], shelter_node[a["shelter"]])[over],
            np.where(informed, a["start_min"], a["time"])[over], a["speed"][over],
            overflow[over], a["origin"][over])
        if not newly_full.any() and pending.count.size:
            stranded.append(pending)  # cannot happen: overflow always fills a shelter
            break
    cancelled_per_leg = np.zeros(legs.size)
    for ids, amounts in cancelled:
        np.add.at(cancelled_per_leg, ids, amounts)
    return Placement(accepted["shelter"], accepted["time"], accepted["count"],
                     accepted["origin"], turned_away,
                     legs.flows(link_ids, link_count, cancelled_per_leg, n_nodes),
                     unreachable, Groups.concat(stranded) if stranded else _empty_groups(),
                     rounds, full_at)
