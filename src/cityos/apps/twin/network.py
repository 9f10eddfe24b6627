"""Graph clean-up shared by the importers and the synthetic stand-in."""

from __future__ import annotations

import numpy as np
from scipy.sparse.csgraph import connected_components

from cityos.apps.twin.graph import RoadGraph


def largest_component(graph: RoadGraph) -> RoadGraph:
    """Keep the largest connected part; nodes elsewhere (islands, broken imports) are
    dropped with a note, since nobody there could reach a shelter in the main graph."""
    if graph.link_count == 0:
        return graph
    costs, _ = graph.adjacency()
    count, labels = connected_components(costs, directed=False)
    if count <= 1:
        return graph
    main = np.argmax(np.bincount(labels))
    keep = labels == main
    new_index = np.cumsum(keep) - 1
    links = keep[graph.link_from] & keep[graph.link_to]
    dropped = int((~keep).sum())
    return RoadGraph(lon=graph.lon[keep], lat=graph.lat[keep],
                     link_from=new_index[graph.link_from[links]],
                     link_to=new_index[graph.link_to[links]],
                     length_m=graph.length_m[links], width_m=graph.width_m[links],
                     synthetic=graph.synthetic, source=graph.source,
                     notes=[*graph.notes, f"{dropped} nodes outside the largest connected "
                            f"part of the road graph were dropped"])
