"""The walking road graph of the twin: nodes with lon/lat, undirected links with lengths in
metres and widths, and the geometry helpers (distances, nearest node, point in polygon) the
importers and the simulation share. Pure numpy/scipy, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.spatial import cKDTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
EARTH_RADIUS_M = 6_371_008.8
DEFAULT_WIDTH_M = 4.0


def haversine_m(lon1: FloatArray, lat1: FloatArray, lon2: FloatArray,
                lat2: FloatArray) -> FloatArray:
    """Great-circle distance in metres between arrays of lon/lat points (degrees)."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dlmb = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlmb / 2) ** 2
    return np.asarray(2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))))


def local_xy(lon: FloatArray, lat: FloatArray, lat0: float) -> FloatArray:
    """Equirectangular projection to metres around latitude lat0 (for nearest-node search
    inside one city, where its error is well under 0.1 %)."""
    k = np.pi / 180 * EARTH_RADIUS_M
    return np.column_stack([lon * k * np.cos(np.radians(lat0)), lat * k])


@dataclass
class RoadGraph:
    """Undirected road links between nodes. `synthetic` marks a generated stand-in;
    `notes` collects what an importer skipped or repaired (shown on every output)."""

    lon: FloatArray
    lat: FloatArray
    link_from: IntArray
    link_to: IntArray
    length_m: FloatArray
    width_m: FloatArray
    synthetic: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)
    _tree: cKDTree | None = field(default=None, repr=False)

    @property
    def node_count(self) -> int:
        return int(self.lon.shape[0])

    @property
    def link_count(self) -> int:
        return int(self.link_from.shape[0])

    def adjacency(self, cost: FloatArray | None = None,
                  open_links: BoolArray | None = None) -> tuple[csr_matrix, csr_matrix]:
        """Symmetric sparse matrix of link costs (metres unless `cost` is given) and one of
        the link index + 1 for each node pair; closed links are left out. Parallel links
        keep the cheapest (csr sums duplicates, so they are reduced first)."""
        weights = self.length_m if cost is None else cost
        keep = np.ones(self.link_count, bool) if open_links is None else open_links
        ids = np.flatnonzero(keep)
        a, b, w = self.link_from[keep], self.link_to[keep], weights[keep]
        # csgraph treats an explicit 0 as "no edge": keep zero-length links usable.
        w = np.maximum(w, 1e-3)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        order = np.lexsort((w, hi, lo))
        lo, hi, w, ids = lo[order], hi[order], w[order], ids[order]
        first = np.ones(lo.shape[0], bool)
        first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
        lo, hi, w, ids = lo[first], hi[first], w[first], ids[first]
        rows = np.concatenate([lo, hi])
        cols = np.concatenate([hi, lo])
        n = self.node_count
        costs = csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(n, n))
        links = csr_matrix((np.concatenate([ids, ids]) + 1, (rows, cols)), shape=(n, n))
        return costs, links

    def nearest_nodes(self, lon: FloatArray, lat: FloatArray) -> tuple[IntArray, FloatArray]:
        """Index of the nearest graph node for each point and the distance to it in metres."""
        if self._tree is None:
            self._tree = cKDTree(local_xy(self.lon, self.lat, self.reference_latitude))
        distance, index = self._tree.query(local_xy(np.asarray(lon, float),
                                                    np.asarray(lat, float),
                                                    self.reference_latitude))
        return np.asarray(index, np.int64), np.asarray(distance, float)

    @property
    def reference_latitude(self) -> float:
        return float(np.mean(self.lat)) if self.node_count else 0.0

    def link_midpoints(self) -> tuple[FloatArray, FloatArray]:
        return ((self.lon[self.link_from] + self.lon[self.link_to]) / 2,
                (self.lat[self.link_from] + self.lat[self.link_to]) / 2)


def build_graph(lon: FloatArray, lat: FloatArray, link_from: IntArray, link_to: IntArray,
                width_m: FloatArray | None = None, **meta: object) -> RoadGraph:
    """A graph with lengths computed from the node coordinates; self-loops dropped."""
    link_from, link_to = np.asarray(link_from, np.int64), np.asarray(link_to, np.int64)
    keep = link_from != link_to
    link_from, link_to = link_from[keep], link_to[keep]
    widths = (np.full(link_from.shape[0], DEFAULT_WIDTH_M) if width_m is None
              else np.asarray(width_m, float)[keep])
    length = haversine_m(lon[link_from], lat[link_from], lon[link_to], lat[link_to])
    return RoadGraph(lon=np.asarray(lon, float), lat=np.asarray(lat, float),
                     link_from=link_from, link_to=link_to, length_m=length, width_m=widths,
                     **meta)  # type: ignore[arg-type]


CHUNK_CELLS = 1_000_000  # (point, edge) pairs computed at once (about 8 MB per array)


def points_in_polygon(lon: FloatArray, lat: FloatArray,
                      rings: list[FloatArray]) -> BoolArray:
    """Even-odd rule over all rings of one polygon (outer ring and holes): a point inside
    the outer ring and inside a hole is outside. Points are sorted by latitude, so each
    edge meets only the contiguous run of points whose latitude it spans; the (point, edge)
    pairs are enumerated in chunks of at most CHUNK_CELLS, all vectorised."""
    order = np.argsort(lat, kind="stable")
    s_lon, s_lat = lon[order], lat[order]
    crossings = np.zeros(lon.shape[0], np.int64)
    for ring in rings:
        if ring.shape[0] < 3:
            continue
        ax, ay = ring[:, 0], ring[:, 1]
        bx, by = np.roll(ax, -1), np.roll(ay, -1)
        # an edge spans a point when min(ay, by) <= lat < max(ay, by)
        lo = np.searchsorted(s_lat, np.minimum(ay, by), side="left")
        hi = np.searchsorted(s_lat, np.maximum(ay, by), side="left")
        counts = hi - lo
        ends = np.cumsum(counts)
        first = 0
        while first < ax.shape[0]:
            start = ends[first] - counts[first]
            last = max(int(np.searchsorted(ends, start + CHUNK_CELLS, side="right")),
                       first + 1)
            edges = np.arange(first, last)
            n = counts[edges]
            e = np.repeat(edges, n)
            p = lo[e] + np.arange(e.shape[0]) - np.repeat(np.cumsum(n) - n, n)
            x_at = ax[e] + (s_lat[p] - ay[e]) * (bx[e] - ax[e]) / (by[e] - ay[e])
            crossings += np.bincount(p[s_lon[p] < x_at], minlength=lon.shape[0])
            first = last
    inside = np.zeros(lon.shape[0], bool)
    inside[order] = crossings % 2 == 1
    return inside


def points_in_polygon_fast(lon: FloatArray, lat: FloatArray,
                           rings: list[FloatArray]) -> BoolArray:
    """`points_in_polygon` tested only for the points inside the polygon's bounding box."""
    if not rings or rings[0].shape[0] < 3:
        return np.zeros(lon.shape[0], bool)
    outer = rings[0]
    box = ((lon >= outer[:, 0].min()) & (lon <= outer[:, 0].max())
           & (lat >= outer[:, 1].min()) & (lat <= outer[:, 1].max()))
    result = np.zeros(lon.shape[0], bool)
    idx = np.flatnonzero(box)
    if idx.size:
        result[idx] = points_in_polygon(lon[idx], lat[idx], rings)
    return result
