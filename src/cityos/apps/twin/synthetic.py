"""A clearly labelled synthetic stand-in for the Kaga inputs that are not available as open
data here (roads, population, flood and landslide zones), placed on the real city: the N03
boundary and the 237 real town points (Geolonia). Everything made here carries
`synthetic=True` and a note; the real importers replace it piece by piece.

Deterministic: the same seed gives the same city."""

from __future__ import annotations

import itertools
import json
from importlib import resources
from typing import Any

import numpy as np

from cityos.apps.twin.graph import (
    FloatArray,
    RoadGraph,
    build_graph,
    local_xy,
    points_in_polygon_fast,
)
from cityos.apps.twin.model import AGE_BANDS, HazardMap, HazardZone, Population
from cityos.apps.twin.network import largest_component

GRID_SPACING_M = 100.0
TOWN_RADIUS_M = 2200.0
ARTERIAL_EVERY = 8
KAGA_POPULATION = 63_000
# Age structure close to Kaga's (2020 census: about 11 % under 15, 36 % 65 and over);
# the split of 65+ into 65-74 / 75+ is an assumption of this stand-in.
AGE_SHARES = {"0-14": 0.11, "15-64": 0.53, "65-74": 0.16, "75+": 0.20}
NOTE_ROADS = ("SYNTHETIC road graph: a jittered street grid on the real Kaga boundary and "
              "town points, not real roads")
NOTE_POPULATION = ("SYNTHETIC population: 63,000 residents spread over the real town "
                   "points with assumed Kaga-like age shares, not census data")
NOTE_HAZARD = ("SYNTHETIC hazard zones along the approximate courses of 大聖寺川 and 動橋川 "
               "and around hill towns, not official inundation or landslide maps")
# Approximate courses (lon, lat) from the mountains to the sea / 柴山潟, with the depth
# (m) of the inner band downstream of each vertex.
DAISHOJI_RIVER = [(136.372, 36.245, 0.5), (136.347, 36.272, 1.0), (136.330, 36.290, 1.0),
                  (136.315, 36.303, 3.0), (136.300, 36.309, 3.0), (136.275, 36.304, 3.0),
                  (136.259, 36.299, 3.0), (136.250, 36.296, 3.0)]
IBURIHASHI_RIVER = [(136.395, 36.275, 0.5), (136.384, 36.295, 1.0), (136.388, 36.315, 1.0),
                    (136.386, 36.325, 3.0), (136.375, 36.338, 3.0), (136.365, 36.345, 3.0)]
HILL_TOWNS = ["山中温泉大内町", "山中温泉九谷町", "山中温泉大土町", "山中温泉風谷町",
              "山中温泉今立町", "山中温泉荒谷町"]


def _kaga_json(name: str) -> Any:
    return json.loads(resources.files("cityos.data.kaga").joinpath(name)
                      .read_text(encoding="utf-8"))


def kaga_boundary() -> np.ndarray:
    """The outer ring of the main N03 polygon of Kaga (lon, lat)."""
    data = _kaga_json("n03_boundary_172065.geojson")
    rings = [np.asarray(f["geometry"]["coordinates"][0], float)
             for f in data["features"]]
    return max(rings, key=lambda r: r.shape[0])


def kaga_towns() -> list[tuple[str, float, float]]:
    """The 237 town representative points: (name, lon, lat)."""
    rows = _kaga_json("geolonia_kaga_towns_172065.json")
    return [(r["town"], float(r["lng"]), float(r["lat"]))
            for r in rows if not r["koaza"]]


def _town_weights() -> dict[str, int]:
    """Number of 小字 rows per town plus one: a rough proxy for a town's size."""
    weights: dict[str, int] = {}
    for row in _kaga_json("geolonia_kaga_towns_172065.json"):
        weights[row["town"]] = weights.get(row["town"], 0) + 1
    return weights


def synthetic_roads(seed: int = 1) -> RoadGraph:
    rng = np.random.default_rng(seed)
    boundary = kaga_boundary()
    towns = kaga_towns()
    lat0 = float(boundary[:, 1].mean())
    deg_lat = GRID_SPACING_M / 111_195.0
    deg_lon = deg_lat / np.cos(np.radians(lat0))
    lons = np.arange(boundary[:, 0].min(), boundary[:, 0].max(), deg_lon)
    lats = np.arange(boundary[:, 1].min(), boundary[:, 1].max(), deg_lat)
    mesh_x, mesh_y = np.meshgrid(np.arange(lons.size), np.arange(lats.size))
    gx, gy = mesh_x.ravel(), mesh_y.ravel()
    lon, lat = lons[gx], lats[gy]
    town_xy = local_xy(np.array([t[1] for t in towns]), np.array([t[2] for t in towns]), lat0)
    from scipy.spatial import cKDTree
    near_town = cKDTree(town_xy).query(local_xy(lon, lat, lat0))[0] <= TOWN_RADIUS_M
    arterial = (gx % ARTERIAL_EVERY == 0) | (gy % ARTERIAL_EVERY == 0)
    keep = points_in_polygon_fast(lon, lat, [boundary]) & (near_town | arterial)
    index = np.full(gx.size, -1, np.int64)
    index[keep] = np.arange(int(keep.sum()))
    grid = index.reshape(lats.size, lons.size)
    a_h, b_h = grid[:, :-1].ravel(), grid[:, 1:].ravel()
    a_v, b_v = grid[:-1, :].ravel(), grid[1:, :].ravel()
    a, b = np.concatenate([a_h, a_v]), np.concatenate([b_h, b_v])
    both = (a >= 0) & (b >= 0)
    a, b = a[both], b[both]
    node_lon = lon[keep] + rng.uniform(-0.2, 0.2, int(keep.sum())) * deg_lon
    node_lat = lat[keep] + rng.uniform(-0.2, 0.2, int(keep.sum())) * deg_lat
    on_arterial = arterial[keep]
    width = np.where(on_arterial[a] & on_arterial[b], 8.0,
                     np.where(rng.random(a.size) < 0.25, 2.5, 4.0))
    # Thin out local streets a little so the grid is not perfectly regular.
    drop = (width < 8.0) & (rng.random(a.size) < 0.12)
    a, b, width = a[~drop], b[~drop], width[~drop]
    graph = build_graph(node_lon, node_lat, a, b, width, synthetic=True,
                        source="synthetic Kaga stand-in (N03 boundary, Geolonia town points)",
                        notes=[NOTE_ROADS])
    return largest_component(graph)


def synthetic_population(seed: int = 1, total: int = KAGA_POPULATION,
                         points_per_town: int = 6) -> Population:
    rng = np.random.default_rng(seed)
    towns = kaga_towns()
    weights = _town_weights()
    w = np.array([weights.get(name, 1) + 1.0 for name, _, _ in towns])
    w *= rng.lognormal(0.0, 0.3, w.size)
    town_people = np.floor(w / w.sum() * total)
    town_people[np.argmax(w)] += total - town_people.sum()
    lon, lat, counts, labels = [], [], [], []
    shares = np.array([AGE_SHARES[b] for b in AGE_BANDS])
    spread = 350.0 / 111_195.0
    for (name, t_lon, t_lat), people in zip(towns, town_people, strict=True):
        per_point = rng.multinomial(int(people), np.full(points_per_town, 1 / points_per_town))
        for k in range(points_per_town):
            lon.append(t_lon + rng.normal(0, spread) / np.cos(np.radians(t_lat)))
            lat.append(t_lat + rng.normal(0, spread))
            counts.append(rng.multinomial(int(per_point[k]), shares))
            labels.append(f"{name} #{k + 1}")
    return Population(lon=np.array(lon), lat=np.array(lat), counts=np.array(counts, float),
                      labels=labels, synthetic=True,
                      source="synthetic Kaga stand-in (Geolonia town points)",
                      notes=[NOTE_POPULATION])


def _segment_box(a: tuple[float, float], b: tuple[float, float], half_m: float) -> FloatArray:
    lat0 = (a[1] + b[1]) / 2
    k_lat = 1 / 111_195.0
    k_lon = k_lat / np.cos(np.radians(lat0))
    dx, dy = (b[0] - a[0]) / k_lon, (b[1] - a[1]) / k_lat
    norm = float(np.hypot(dx, dy)) or 1.0
    nx, ny = -dy / norm * half_m, dx / norm * half_m
    ex, ey = dx / norm * half_m, dy / norm * half_m  # extend to overlap the next segment
    corners = [(-ex + nx, -ey + ny), (dx + ex + nx, dy + ey + ny),
               (dx + ex - nx, dy + ey - ny), (-ex - nx, -ey - ny)]
    return np.array([(a[0] + x * k_lon, a[1] + y * k_lat) for x, y in corners])


def _river_zones(course: list[tuple[float, float, float]], label: str) -> list[HazardZone]:
    zones = []
    for (x1, y1, depth), (x2, y2, _) in itertools.pairwise(course):
        zones.append(HazardZone("flood", [_segment_box((x1, y1), (x2, y2), 700.0)], 0.3,
                                f"{label} (<0.5 m)"))
        zones.append(HazardZone("flood", [_segment_box((x1, y1), (x2, y2), 350.0)], depth,
                                f"{label} ({depth} m)"))
    return zones


def _octagon(lon: float, lat: float, radius_m: float) -> FloatArray:
    angles = np.linspace(0, 2 * np.pi, 9)
    k_lat = radius_m / 111_195.0
    return np.column_stack([lon + np.cos(angles) * k_lat / np.cos(np.radians(lat)),
                            lat + np.sin(angles) * k_lat])


def synthetic_hazards() -> HazardMap:
    zones = _river_zones(DAISHOJI_RIVER, "大聖寺川 (synthetic)")
    zones += _river_zones(IBURIHASHI_RIVER, "動橋川 (synthetic)")
    towns = {name: (lon, lat) for name, lon, lat in kaga_towns()}
    zones += [HazardZone("landslide", [_octagon(*towns[n], 500.0)], None, f"{n} (synthetic)")
              for n in HILL_TOWNS if n in towns]
    return HazardMap(zones, synthetic=True, source="synthetic Kaga stand-in",
                     notes=[NOTE_HAZARD])
