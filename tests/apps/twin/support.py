"""Small hand-made inputs whose answers are known."""

from __future__ import annotations

import numpy as np

from cityos.apps.twin.graph import RoadGraph
from cityos.apps.twin.model import Population, Shelters


def line_graph(lengths: list[float],
               extra: tuple[tuple[int, int, float], ...] = ()) -> RoadGraph:
    """Nodes 0..n on a line along the equator (0.01 degree apart), links of the given
    lengths in metres (lengths are set, not measured), plus `extra` links."""
    n = len(lengths) + 1
    a = list(range(n - 1)) + [e[0] for e in extra]
    b = list(range(1, n)) + [e[1] for e in extra]
    length = list(lengths) + [e[2] for e in extra]
    extra_nodes = max([max(e[0], e[1]) for e in extra], default=0) + 1
    count = max(n, extra_nodes)
    return RoadGraph(lon=np.arange(count) * 0.01, lat=np.zeros(count),
                     link_from=np.array(a, np.int64), link_to=np.array(b, np.int64),
                     length_m=np.array(length, float), width_m=np.full(len(a), 4.0))


def people_at(graph: RoadGraph, nodes: list[int], adults: list[float]) -> Population:
    """Adults (15-64) living exactly at the given nodes."""
    counts = np.zeros((len(nodes), 4))
    counts[:, 1] = adults
    return Population(lon=graph.lon[nodes], lat=graph.lat[nodes], counts=counts,
                      labels=[f"node {n}" for n in nodes])


def shelters_at(graph: RoadGraph, nodes: list[int], capacity: list[float],
                open_: list[bool] | None = None) -> Shelters:
    k = len(nodes)
    return Shelters(ids=[f"s{i}" for i in range(k)], names=[f"shelter {i}" for i in range(k)],
                    lon=graph.lon[nodes], lat=graph.lat[nodes],
                    capacity=np.array(capacity, float),
                    capacity_known=np.isfinite(np.array(capacity, float)),
                    open=np.array(open_ if open_ is not None else [True] * k),
                    eligible=np.ones(k, bool), categories=["designatedShelter"] * k)
