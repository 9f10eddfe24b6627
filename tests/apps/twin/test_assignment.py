"""Shelter assignment with capacities, on groups given by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.apps.twin.assignment import Groups, assign
from tests.apps.twin.support import line_graph


def _groups(nodes: list[int], ready: list[float], counts: list[float]) -> Groups:
    k = len(nodes)
    return Groups(np.array(nodes, np.int64), np.array(ready, float), np.full(k, 60.0),
                  np.array(counts, float), np.arange(k, dtype=np.int64))


def test_walkers_who_leave_after_a_shelter_filled_go_straight_elsewhere() -> None:
    graph = line_graph([600.0, 600.0, 600.0])  # shelters at 0 (10 places) and 3
    costs, link_ids = graph.adjacency()
    # 10 leave node 1 at minute 0 and fill shelter 0 at minute 10; 5 more leave node 1 at
    # minute 30: they know shelter 0 is full and walk 1 -> 2 -> 3 (1200 m, 20 min)
    placement = assign(costs, link_ids, np.array([0, 3]), np.array([10.0, np.inf]),
                       np.array([True, True]), _groups([1, 1], [0.0, 30.0], [10, 5]),
                       graph.link_count)
    arrivals = dict(zip(placement.accepted_origin.tolist(),
                        placement.accepted_min.tolist(), strict=True))
    assert arrivals == {0: pytest.approx(10.0), 1: pytest.approx(50.0)}
    assert placement.turned_away.tolist() == [0.0, 0.0]  # nobody walked there in vain
    assert placement.link_flow.tolist() == [10.0, 5.0, 5.0]  # the cancelled walk is not counted


def test_walkers_already_on_the_way_are_turned_away_and_walk_on() -> None:
    graph = line_graph([600.0, 600.0, 600.0])
    costs, link_ids = graph.adjacency()
    placement = assign(costs, link_ids, np.array([0, 3]), np.array([10.0, np.inf]),
                       np.array([True, True]), _groups([1, 1], [0.0, 5.0], [10, 5]),
                       graph.link_count)
    arrivals = dict(zip(placement.accepted_origin.tolist(),
                        placement.accepted_min.tolist(), strict=True))
    # left at 5 (before the shelter filled at 10): arrive at 15, turned away, 1800 m more
    assert arrivals == {0: pytest.approx(10.0), 1: pytest.approx(45.0)}
    assert placement.turned_away.tolist() == [5.0, 0.0]
    assert placement.full_at_min[0] == pytest.approx(10.0)


def test_everyone_stranded_when_all_reachable_shelters_fill() -> None:
    graph = line_graph([600.0, 600.0])
    costs, link_ids = graph.adjacency()
    placement = assign(costs, link_ids, np.array([0, 2]), np.array([3.0, 4.0]),
                       np.array([True, True]), _groups([1], [0.0], [10]), graph.link_count)
    assert placement.accepted_count.sum() == 7
    assert placement.stranded.count.sum() == 3
    assert np.isfinite(placement.full_at_min).all()
