"""The twin's inputs and scenario as plain data: population, hazard zones, shelters and the
scenario that combines them. No I/O; importers build these, the simulation reads them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from cityos.apps.twin.graph import BoolArray, FloatArray

AGE_BANDS = ("0-14", "15-64", "65-74", "75+")
# Walking speeds (m/s) per age band: 1.3 m/s for adults and about 1.0 / 0.8 m/s for older
# people are the values used in Japanese evacuation studies (e.g. the tsunami evacuation
# guideline of the Cabinet Office: 1.0 m/s for mixed crowds with elderly people); children
# walk with their families. A scenario may override them.
DEFAULT_SPEEDS_MPS = {"0-14": 1.1, "15-64": 1.3, "65-74": 1.0, "75+": 0.8}
HAZARDS = ("flood", "landslide", "earthquake", "tsunami", "stormSurge", "largeFire",
           "inlandFlooding", "volcano")


@dataclass
class Population:
    """Residents at points (mesh cell centres, town points or buildings), per age band."""

    lon: FloatArray
    lat: FloatArray
    counts: FloatArray  # shape (points, len(bands))
    labels: list[str]
    bands: tuple[str, ...] = AGE_BANDS
    synthetic: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> float:
        return float(self.counts.sum())


@dataclass
class HazardZone:
    """One hazard polygon: rings (outer first, then holes) of lon/lat, and for floods the
    inundation depth in metres (for a depth rank, the rank's lower bound: rank "0.5-3 m"
    is 0.5 m, so it closes links at the default 0.5 m threshold, rank "< 0.5 m" does not)."""

    kind: str
    rings: list[FloatArray]
    depth_m: float | None = None
    label: str = ""


@dataclass
class HazardMap:
    zones: list[HazardZone]
    synthetic: bool = False
    source: str = ""
    notes: list[str] = field(default_factory=list)


@dataclass
class Shelters:
    """Shelters as the simulation sees them (one row each). capacity: remaining places
    (inf when unknown and the scenario treats unknown as unlimited)."""

    ids: list[str]
    names: list[str]
    lon: FloatArray
    lat: FloatArray
    capacity: FloatArray
    capacity_known: BoolArray
    open: BoolArray
    eligible: BoolArray
    categories: list[str]
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False

    @property
    def count(self) -> int:
        return len(self.ids)


DepartureKind = Literal["rayleigh", "sigmoid"]


@dataclass(frozen=True)
class DepartureCurve:
    """Share of residents who have left by minute t after the warning. rayleigh (Mas et al.
    2012): nobody before `delay_min`, then 1 - exp(-(t - delay)^2 / (2 sigma^2)); sigmoid:
    1 / (1 + exp(-(t - delay - sigma) / (sigma / 4))) (half gone at delay + sigma).
    `participation` is the share who evacuate at all."""

    kind: DepartureKind = "rayleigh"
    delay_min: float = 5.0
    sigma_min: float = 10.0
    participation: float = 1.0

    def cumulative(self, minutes: FloatArray) -> FloatArray:
        t = np.asarray(minutes, float) - self.delay_min
        if self.kind == "rayleigh":
            share = np.where(t > 0, 1.0 - np.exp(-(np.maximum(t, 0) ** 2)
                                                  / (2 * self.sigma_min ** 2)), 0.0)
        else:
            scale = max(self.sigma_min / 4, 1e-6)
            share = 1.0 / (1.0 + np.exp(-(t - self.sigma_min) / scale))
        return np.asarray(share * self.participation)


@dataclass(frozen=True)
class Scenario:
    """What one run simulates. `time_of_day`: "night" adds `night_extra_delay_min` to the
    departure delay (people are asleep); "day" keeps only `day_at_home` of each age band
    at home (the others are at work or school outside the model)."""

    name: str = "default"
    hazard: str = "flood"
    depth_threshold_m: float = 0.5
    time_of_day: Literal["day", "night"] = "day"
    departure: DepartureCurve = field(default_factory=DepartureCurve)
    speeds_mps: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_MPS))
    day_at_home: dict[str, float] = field(default_factory=lambda: {
        "0-14": 0.9, "15-64": 0.6, "65-74": 1.0, "75+": 1.0})
    night_extra_delay_min: float = 5.0
    horizon_min: float = 180.0
    bin_min: float = 1.0
    congestion: bool = False
    max_snap_m: float = 1000.0

    def effective_departure(self) -> DepartureCurve:
        if self.time_of_day != "night":
            return self.departure
        d = self.departure
        return DepartureCurve(d.kind, d.delay_min + self.night_extra_delay_min,
                              d.sigma_min, d.participation)

    def at_home_share(self, band: str) -> float:
        return 1.0 if self.time_of_day == "night" else self.day_at_home.get(band, 1.0)
