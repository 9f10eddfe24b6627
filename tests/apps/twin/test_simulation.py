"""Evacuation runs on graphs small enough to work out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from cityos.apps.twin.model import DepartureCurve, HazardMap, HazardZone, Scenario
from cityos.apps.twin.simulation import simulate
from tests.apps.twin.support import line_graph, people_at, shelters_at

# Everyone leaves in the first minute (a sigmoid this steep is a step at 0.5 min) and
# walks at 1 m/s (60 m per minute).
INSTANT = Scenario(departure=DepartureCurve("rayleigh", delay_min=0.0, sigma_min=0.01),
                   speeds_mps={"0-14": 1.0, "15-64": 1.0, "65-74": 1.0, "75+": 1.0},
                   time_of_day="night", night_extra_delay_min=0.0, horizon_min=60.0)


def test_everyone_walks_to_the_nearest_shelter_in_the_time_by_hand() -> None:
    graph = line_graph([600.0, 600.0, 600.0])  # 0 - 1 - 2 - 3
    result = simulate(graph, people_at(graph, [1], [10]), shelters_at(graph, [0, 3], [100, 100]),
                      INSTANT, seed=1)
    assert result.shelter_arrivals.tolist() == [10.0, 0.0]
    # departure at minute 0.5 (middle of the first bin) + 600 m at 60 m/min
    assert result.mean_min == pytest.approx(10.5)
    assert result.evacuated == 10
    assert result.link_flow.tolist() == [10.0, 0.0, 0.0]


def test_overflow_is_turned_away_and_rerouted_to_the_next_shelter() -> None:
    graph = line_graph([600.0, 600.0, 600.0])
    result = simulate(graph, people_at(graph, [1], [15]), shelters_at(graph, [0, 3], [10, 100]),
                      INSTANT, seed=1)
    assert result.shelter_arrivals.tolist() == [10.0, 5.0]
    assert result.shelter_turned_away.tolist() == [5.0, 0.0]
    assert result.shelter_full_at_min[0] == pytest.approx(10.5)
    # the 5 turned away walk on from shelter 0 to shelter 3: 1800 m more
    late = (result.evacuated_share * 15)[np.searchsorted(result.curve_min, 40.5)]
    assert late == pytest.approx(15.0)
    assert result.mean_min == pytest.approx((10 * 10.5 + 5 * 40.5) / 15)
    assert result.stranded_by_point.sum() == 0
    # 15 walk 1 -> 0, then the 5 turned away walk back over 0 - 1 and on to 3
    assert result.link_flow.tolist() == [20.0, 5.0, 5.0]


def test_first_come_first_served_when_two_groups_reach_a_small_shelter() -> None:
    graph = line_graph([300.0, 900.0])  # near: node 1 (300 m), far: node 2 (1200 m)
    population = people_at(graph, [1, 2], [4, 4])
    result = simulate(graph, population, shelters_at(graph, [0], [5]), INSTANT, seed=3)
    assert result.shelter_arrivals.tolist() == [5.0]
    assert result.stranded_by_point.tolist() == [0.0, 3.0]  # the far group came last


def test_closed_link_sends_people_the_other_way() -> None:
    graph = line_graph([600.0, 600.0, 600.0])
    flood = HazardMap([HazardZone("flood", [np.array([[0.004, -1.0], [0.006, -1.0],
                                                       [0.006, 1.0], [0.004, 1.0],
                                                       [0.004, -1.0]])], 1.0)])
    result = simulate(graph, people_at(graph, [1], [10]), shelters_at(graph, [0, 3], [100, 100]),
                      INSTANT, seed=1, hazards=flood)
    assert result.closed_links.tolist() == [True, False, False]
    assert result.shelter_arrivals.tolist() == [0.0, 10.0]


def test_shallow_flood_below_the_threshold_closes_nothing() -> None:
    graph = line_graph([600.0, 600.0, 600.0])
    shallow = HazardMap([HazardZone("flood", [np.array([[0.004, -1.0], [0.006, -1.0],
                                                         [0.006, 1.0], [0.004, 1.0]])], 0.3)])
    result = simulate(graph, people_at(graph, [1], [10]), shelters_at(graph, [0, 3], [100, 100]),
                      INSTANT, seed=1, hazards=shallow)
    assert not result.closed_links.any()


def test_residents_cut_off_from_every_shelter_are_reported_where_they_live() -> None:
    # 0 - 1 and, separately, 2 - 3: the shelter is at 0
    graph = line_graph([600.0, 600.0, 600.0])
    graph.link_from, graph.link_to = graph.link_from[[0, 2]], graph.link_to[[0, 2]]
    graph.length_m, graph.width_m = graph.length_m[[0, 2]], graph.width_m[[0, 2]]
    result = simulate(graph, people_at(graph, [1, 3], [7, 9]), shelters_at(graph, [0], [100]),
                      INSTANT, seed=1)
    assert result.unreachable_by_point.tolist() == [0.0, 9.0]
    assert result.evacuated == 7


def test_no_open_shelter_still_reports_everyone_as_unreachable() -> None:
    graph = line_graph([600.0])
    result = simulate(graph, people_at(graph, [1], [8]),
                      shelters_at(graph, [0], [100], open_=[False]), INSTANT, seed=1)
    assert result.evacuated == 0
    assert result.unreachable_by_point.sum() == 8
    assert result.mean_min is None
    assert any("no open shelter" in note for note in result.notes)


def test_population_far_from_the_road_graph_is_counted_not_simulated() -> None:
    graph = line_graph([600.0])
    population = people_at(graph, [1], [8])
    population.lat = population.lat + 0.1  # 11 km north of the road
    result = simulate(graph, population, shelters_at(graph, [0], [100]), INSTANT, seed=1)
    assert result.outside_graph_by_point.tolist() == [8.0]
    assert result.evacuated == 0
    assert any("from the road graph" in note for note in result.notes)


def test_departure_curve_integrates_to_participation_and_has_the_rayleigh_mean() -> None:
    curve = DepartureCurve("rayleigh", delay_min=5.0, sigma_min=10.0, participation=0.8)
    minutes = np.linspace(0, 200, 20001)
    cdf = curve.cumulative(minutes)
    assert cdf[0] == 0.0 and cdf[-1] == pytest.approx(0.8)
    density = np.diff(cdf) / 0.8
    mean = float(np.sum(density * (minutes[:-1] + minutes[1:]) / 2))
    assert mean == pytest.approx(5.0 + 10.0 * np.sqrt(np.pi / 2), rel=1e-3)
    sigmoid = DepartureCurve("sigmoid", delay_min=5.0, sigma_min=10.0)
    assert sigmoid.cumulative(np.array([15.0]))[0] == pytest.approx(0.5)


def test_departures_over_the_horizon_are_drawn_from_the_curve() -> None:
    graph = line_graph([60.0])
    scenario = Scenario(departure=DepartureCurve("rayleigh", 0.0, 30.0), horizon_min=30.0,
                        time_of_day="night", night_extra_delay_min=0.0)
    result = simulate(graph, people_at(graph, [1], [20000]), shelters_at(graph, [0], [np.inf]),
                      scenario, seed=5)
    expected_gone = 1 - np.exp(-0.5)  # Rayleigh CDF at t = sigma
    assert result.not_departed / 20000 == pytest.approx(1 - expected_gone, abs=0.01)


def test_same_seed_same_run_other_seed_other_draw() -> None:
    graph = line_graph([600.0, 600.0])
    scenario = Scenario(departure=DepartureCurve("rayleigh", 0.0, 10.0))
    args = (graph, people_at(graph, [1, 2], [500, 500]), shelters_at(graph, [0], [np.inf]))
    first = simulate(*args, scenario, seed=7)
    again = simulate(*args, scenario, seed=7)
    other = simulate(*args, scenario, seed=8)
    assert np.array_equal(first.evacuated_share, again.evacuated_share)
    assert not np.array_equal(first.evacuated_share, other.evacuated_share)


def test_later_departure_lowers_the_evacuated_share_at_a_given_time() -> None:
    graph = line_graph([600.0, 600.0])
    args = (graph, people_at(graph, [1, 2], [500, 500]), shelters_at(graph, [0], [np.inf]))
    early = simulate(*args, Scenario(departure=DepartureCurve("rayleigh", 0.0, 10.0)), seed=1)
    late = simulate(*args, Scenario(departure=DepartureCurve("rayleigh", 20.0, 10.0)), seed=1)
    at_30 = int(np.searchsorted(early.curve_min, 30.0))
    assert late.evacuated_share[at_30] < early.evacuated_share[at_30]


def test_congestion_raises_the_cost_of_crowded_narrow_links() -> None:
    # two equal routes from node 1 to shelter 0: via node 2 (wide) or directly (narrow)
    graph = line_graph([600.0], extra=((1, 2, 300.0), (2, 0, 310.0)))
    graph.width_m = np.array([0.5, 8.0, 8.0])
    scenario = Scenario(departure=DepartureCurve("rayleigh", 0.0, 1.0), congestion=True,
                        time_of_day="night", night_extra_delay_min=0.0)
    result = simulate(graph, people_at(graph, [1], [3000]), shelters_at(graph, [0], [np.inf]),
                      scenario, seed=1)
    assert result.link_flow[0] == 0 and result.link_flow[1] == 3000
    assert any("congestion" in note for note in result.notes)
