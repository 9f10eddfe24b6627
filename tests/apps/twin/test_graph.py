"""Geometry helpers of the road graph."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.apps.twin.graph import haversine_m, points_in_polygon_fast
from tests.apps.twin.support import line_graph


def test_point_in_polygon_with_a_hole() -> None:
    outer = np.array([[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]], float)
    hole = np.array([[4, 4], [6, 4], [6, 6], [4, 6], [4, 4]], float)
    lon = np.array([1.0, 5.0, 9.0, 11.0, 5.0])
    lat = np.array([1.0, 5.0, 9.0, 5.0, -1.0])
    inside = points_in_polygon_fast(lon, lat, [outer, hole])
    assert inside.tolist() == [True, False, True, False, False]


def test_point_in_a_ring_with_many_vertices() -> None:
    angles = np.linspace(0, 2 * np.pi, 5001)
    circle = np.column_stack([np.cos(angles), np.sin(angles)])
    lon = np.array([0.0, 0.99, 1.01, 0.7])
    lat = np.array([0.0, 0.0, 0.0, 0.7])
    assert points_in_polygon_fast(lon, lat, [circle]).tolist() == [True, True, False, True]


def test_haversine_one_degree_of_latitude() -> None:
    one = haversine_m(np.array([136.0]), np.array([36.0]), np.array([136.0]),
                      np.array([37.0]))
    assert one[0] == pytest.approx(111_195, rel=1e-3)


def test_adjacency_keeps_the_cheapest_parallel_link_and_leaves_out_closed_ones() -> None:
    graph = line_graph([600.0, 600.0], extra=((0, 1, 200.0),))
    costs, links = graph.adjacency()
    assert costs[0, 1] == 200.0 and links[0, 1] == 3  # link index 2, stored + 1
    closed = np.array([False, True, False])
    costs, _ = graph.adjacency(open_links=closed == False)  # noqa: E712
    assert costs[1, 2] == 0.0  # no edge


def _reference_inside(x: float, y: float, ring: np.ndarray) -> bool:
    inside = False
    for (ax, ay), (bx, by) in zip(ring, np.roll(ring, -1, axis=0), strict=True):
        if (ay > y) != (by > y) and x < ax + (y - ay) * (bx - ax) / (by - ay):
            inside = not inside
    return inside


def test_point_in_polygon_agrees_with_a_plain_ray_cast_on_random_star_polygons() -> None:
    rng = np.random.default_rng(11)
    for _ in range(5):
        angles = np.sort(rng.uniform(0, 2 * np.pi, 60))
        radius = rng.uniform(0.3, 1.0, 60)
        ring = np.column_stack([radius * np.cos(angles), radius * np.sin(angles)])
        lon, lat = rng.uniform(-1, 1, 400), rng.uniform(-1, 1, 400)
        expected = [_reference_inside(x, y, ring) for x, y in zip(lon, lat, strict=True)]
        assert points_in_polygon_fast(lon, lat, [ring]).tolist() == expected
