"""Hazard zones on the road graph: which nodes stand in a zone deep enough to close them,
and which links are closed (an end or the middle in such a zone). Floods close at the
scenario's depth threshold; landslide zones always close."""

from __future__ import annotations

import numpy as np

from cityos.apps.twin.graph import BoolArray, RoadGraph, points_in_polygon_fast
from cityos.apps.twin.model import HazardMap, HazardZone


def closing_zones(hazards: HazardMap, hazard: str, threshold_m: float) -> list[HazardZone]:
    """The zones of `hazard` that close what lies in them."""
    zones = [z for z in hazards.zones if z.kind == hazard]
    if hazard == "flood":
        return [z for z in zones if z.depth_m is None or z.depth_m >= threshold_m]
    return zones


def flooded_nodes_and_links(graph: RoadGraph, hazards: HazardMap, hazard: str,
                            threshold_m: float) -> tuple[BoolArray, BoolArray]:
    nodes = np.zeros(graph.node_count, bool)
    mid_lon, mid_lat = graph.link_midpoints()
    mids = np.zeros(graph.link_count, bool)
    for zone in closing_zones(hazards, hazard, threshold_m):
        nodes |= points_in_polygon_fast(graph.lon, graph.lat, zone.rings)
        mids |= points_in_polygon_fast(mid_lon, mid_lat, zone.rings)
    links = mids | nodes[graph.link_from] | nodes[graph.link_to]
    return nodes, links
