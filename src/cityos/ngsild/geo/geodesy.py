"""Distances in metres on the WGS 84 ellipsoid, for the `near` relation (ETSI GS CIM 009 §4.10).

§4.10 expresses `maxDistance` / `minDistance` in metres and RFC 7946 §4 fixes WGS 84 as the
coordinate reference system, so distances are geodesic distances on the WGS 84 ellipsoid:

* `geodesic_m` solves the inverse geodesic problem with Vincenty's formulae (sub-millimetre on
  the ellipsoid); for nearly antipodal points, where the iteration does not converge, it falls
  back to the haversine distance on the mean-radius sphere (error ≤ 0.5 %).
* `LocalFrame` is an equirectangular projection centred on a reference point, scaled by the
  ellipsoid's meridian and prime-vertical radii of curvature there. It is affine in lon/lat, so
  straight lon/lat segments (RFC 7946 §3.1.1) stay straight, and it is metric near its centre:
  within 100 km of the centre, scale errors stay well below 1 %. It is used to *choose* the
  closest pair of points between two geometries; the distance reported for that pair is then
  the exact geodesic one.
"""

from __future__ import annotations

import math
from typing import Final

__all__ = ["EARTH_MEAN_RADIUS_M", "LocalFrame", "geodesic_m", "haversine_m", "metres_to_degrees"]

WGS84_A: Final = 6_378_137.0
WGS84_F: Final = 1 / 298.257223563
WGS84_B: Final = WGS84_A * (1 - WGS84_F)
WGS84_E2: Final = WGS84_F * (2 - WGS84_F)
EARTH_MEAN_RADIUS_M: Final = 6_371_008.8
MIN_RADIUS_OF_CURVATURE_M: Final = WGS84_A * (1 - WGS84_E2)
"""The smallest radius of curvature of the ellipsoid (meridian, at the equator): ≈ 6,335,439 m.
One degree spans at least this radius × π/180 metres along a meridian or the equator."""


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance on the mean-radius sphere, in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_MEAN_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def geodesic_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on the WGS 84 ellipsoid in metres (Vincenty's inverse formula)."""
    if lon1 == lon2 and lat1 == lat2:
        return 0.0
    f = WGS84_F
    lam_total = math.radians(lon2 - lon1)
    u1 = math.atan((1 - f) * math.tan(math.radians(lat1)))
    u2 = math.atan((1 - f) * math.tan(math.radians(lat2)))
    sin_u1, cos_u1 = math.sin(u1), math.cos(u1)
    sin_u2, cos_u2 = math.sin(u2), math.cos(u2)
    lam = lam_total
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0.0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha * sin_alpha
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha != 0.0 else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = lam_total + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm * cos_2sm))
        )
        if abs(lam - previous) < 1e-12:
            break
    else:
        return haversine_m(lon1, lat1, lon2, lat2)
    u_sq = cos2_alpha * (WGS84_A**2 - WGS84_B**2) / WGS84_B**2
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta_sigma = big_b * sin_sigma * (
        cos_2sm
        + big_b / 4 * (
            cos_sigma * (-1 + 2 * cos_2sm * cos_2sm)
            - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma * sin_sigma) * (-3 + 4 * cos_2sm * cos_2sm)
        )
    )
    return WGS84_B * big_a * (sigma - delta_sigma)


def metres_to_degrees(distance_m: float) -> float:
    """An upper bound, in degrees of latitude (or of longitude at the equator), for a distance."""
    return math.degrees(distance_m / MIN_RADIUS_OF_CURVATURE_M)


class LocalFrame:
    """Equirectangular metric frame centred at (lon0, lat0): x east, y north, in metres."""

    __slots__ = ("lat0", "lon0", "m_per_deg_lat", "m_per_deg_lon")

    def __init__(self, lon0: float, lat0: float) -> None:
        self.lon0 = lon0
        self.lat0 = lat0
        phi = math.radians(lat0)
        w = math.sqrt(1 - WGS84_E2 * math.sin(phi) ** 2)
        meridian = WGS84_A * (1 - WGS84_E2) / w**3
        prime_vertical = WGS84_A / w
        self.m_per_deg_lat = math.radians(meridian)
        # Keep a tiny positive scale at the poles so the transform stays invertible.
        self.m_per_deg_lon = max(math.radians(prime_vertical * math.cos(phi)), 1e-6)

    def forward(self, lon: float, lat: float) -> tuple[float, float]:
        """Metres east and north of the centre (lon/lat in degrees)."""
        return ((lon - self.lon0) * self.m_per_deg_lon, (lat - self.lat0) * self.m_per_deg_lat)

    def inverse(self, x: float, y: float) -> tuple[float, float]:
        """Degrees (lon, lat) of a point given in metres east and north of the centre."""
        return (self.lon0 + x / self.m_per_deg_lon, self.lat0 + y / self.m_per_deg_lat)

    def affine(self) -> list[float]:
        """The forward transform as shapely `affine_transform` parameters."""
        return [
            self.m_per_deg_lon, 0.0, 0.0, self.m_per_deg_lat,
            -self.lon0 * self.m_per_deg_lon, -self.lat0 * self.m_per_deg_lat,
        ]
