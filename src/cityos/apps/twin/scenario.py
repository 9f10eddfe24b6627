"""Scenario files (TOML or JSON): hazard, time of day, departure curve, speeds and which
shelters are open with which capacity. Unknown keys and bad values are refused with a
message naming the key, so a typo never silently runs another scenario."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from cityos.apps.twin.model import HAZARDS, DepartureCurve, Scenario


class ScenarioError(ValueError):
    """A scenario file that cannot be run; the message says which key is wrong."""


@dataclass(frozen=True)
class TemporaryShelter:
    name: str
    lon: float
    lat: float
    capacity: float
    kind: str = "ryokan"


@dataclass(frozen=True)
class ShelterPolicy:
    """How live shelter entities become simulation shelters.
    open: "live" follows each shelter's status ("open"/"closed"; absent counts as
    `status_unknown`); "all" opens every shelter. capacity_unknown: "unlimited" or a number
    of places for shelters without peopleCapacity (per category in `capacity`)."""

    open: str = "live"
    status_unknown: str = "open"
    capacity_unknown: float | None = None
    capacity: dict[str, float] = field(default_factory=dict)
    categories: tuple[str, ...] = ("designatedShelter", "emergencyEvacuationSite",
                                   "temporaryShelter")
    hazard_unknown: str = "allow"
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    temporary: tuple[TemporaryShelter, ...] = ()


@dataclass(frozen=True)
class ScenarioFile:
    scenario: Scenario
    policy: ShelterPolicy
    seeds: tuple[int, ...] = (1,)


def load_scenario_file(path: Path) -> ScenarioFile:
    text = path.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{path.name}: not valid {path.suffix[1:] or 'TOML'}: {exc}") from None
    return parse_scenario(data)


def _check_keys(section: str, data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ScenarioError(f"unknown key(s) in {section}: {', '.join(unknown)}; "
                            f"allowed: {', '.join(sorted(allowed))}")


def _number(section: str, key: str, value: Any, low: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < low:
        raise ScenarioError(f"{section}.{key} must be a number >= {low}, got {value!r}")
    return float(value)


def parse_scenario(data: dict[str, Any]) -> ScenarioFile:
    """A scenario from its file's content (see docs/twin.md for every key)."""
    if not isinstance(data, dict):
        raise ScenarioError("a scenario is a table (TOML) or an object (JSON)")
    top = {f.name for f in fields(Scenario)} | {"seeds", "shelters"}
    _check_keys("the scenario", data, top)
    values: dict[str, Any] = {}
    for key in ("name",):
        if key in data:
            values[key] = str(data[key])
    if "hazard" in data:
        if data["hazard"] not in HAZARDS:
            raise ScenarioError(f"hazard must be one of {', '.join(HAZARDS)}, "
                                f"got {data['hazard']!r}")
        values["hazard"] = data["hazard"]
    if "time_of_day" in data:
        if data["time_of_day"] not in ("day", "night"):
            raise ScenarioError("time_of_day must be day or night")
        values["time_of_day"] = data["time_of_day"]
    for key in ("depth_threshold_m", "night_extra_delay_min", "horizon_min", "bin_min",
                "max_snap_m"):
        if key in data:
            values[key] = _number("scenario", key, data[key])
    if values.get("bin_min") == 0.0 or values.get("horizon_min") == 0.0:
        raise ScenarioError("horizon_min and bin_min must be above 0")
    if "congestion" in data:
        values["congestion"] = bool(data["congestion"])
    if "departure" in data:
        values["departure"] = _departure(data["departure"])
    for key in ("speeds_mps", "day_at_home"):
        if key in data:
            table = data[key]
            if not isinstance(table, dict):
                raise ScenarioError(f"{key} must be a table of age band = number")
            low = 0.01 if key == "speeds_mps" else 0.0
            values[key] = {band: _number(key, band, v, low) for band, v in table.items()}
    seeds = data.get("seeds", [1])
    if not isinstance(seeds, list) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise ScenarioError("seeds must be a non-empty list of integers")
    return ScenarioFile(Scenario(**values), _policy(data.get("shelters", {})), tuple(seeds))


def _departure(data: Any) -> DepartureCurve:
    if not isinstance(data, dict):
        raise ScenarioError("departure must be a table")
    _check_keys("departure", data, {"kind", "delay_min", "sigma_min", "participation"})
    kind = data.get("kind", "rayleigh")
    if kind not in ("rayleigh", "sigmoid"):
        raise ScenarioError("departure.kind must be rayleigh or sigmoid")
    participation = _number("departure", "participation", data.get("participation", 1.0))
    if participation > 1:
        raise ScenarioError("departure.participation is a share between 0 and 1")
    return DepartureCurve(kind, _number("departure", "delay_min", data.get("delay_min", 5.0)),
                          _number("departure", "sigma_min", data.get("sigma_min", 10.0), 0.01),
                          participation)


def _policy(data: Any) -> ShelterPolicy:
    if not isinstance(data, dict):
        raise ScenarioError("shelters must be a table")
    _check_keys("shelters", data, {"open", "status_unknown", "capacity_unknown", "capacity",
                                   "categories", "hazard_unknown", "override", "temporary"})
    if data.get("open", "live") not in ("live", "all"):
        raise ScenarioError("shelters.open must be live or all")
    if data.get("status_unknown", "open") not in ("open", "closed"):
        raise ScenarioError("shelters.status_unknown must be open or closed")
    if data.get("hazard_unknown", "allow") not in ("allow", "exclude"):
        raise ScenarioError("shelters.hazard_unknown must be allow or exclude")
    unknown = data.get("capacity_unknown", "unlimited")
    capacity_unknown = None if unknown == "unlimited" else _number(
        "shelters", "capacity_unknown", unknown)
    capacity = {k: _number("shelters.capacity", k, v)
                for k, v in dict(data.get("capacity", {})).items()}
    overrides: dict[str, dict[str, Any]] = {}
    for item in data.get("override", []):
        if not isinstance(item, dict) or "id" not in item:
            raise ScenarioError("each shelters.override needs an id")
        _check_keys("shelters.override", item, {"id", "status", "capacity"})
        overrides[str(item["id"])] = {k: v for k, v in item.items() if k != "id"}
    temporary = tuple(_temporary(item) for item in data.get("temporary", []))
    return ShelterPolicy(open=data.get("open", "live"),
                         status_unknown=data.get("status_unknown", "open"),
                         capacity_unknown=capacity_unknown, capacity=capacity,
                         categories=tuple(data.get("categories", ShelterPolicy.categories)),
                         hazard_unknown=data.get("hazard_unknown", "allow"),
                         overrides=overrides, temporary=temporary)


def _temporary(item: Any) -> TemporaryShelter:
    if not isinstance(item, dict):
        raise ScenarioError("each shelters.temporary is a table")
    _check_keys("shelters.temporary", item, {"name", "lon", "lat", "capacity", "kind"})
    for key in ("name", "lon", "lat", "capacity"):
        if key not in item:
            raise ScenarioError(f"shelters.temporary needs {key}")
    return TemporaryShelter(str(item["name"]), _number("temporary", "lon", item["lon"], -180),
                            _number("temporary", "lat", item["lat"], -90),
                            _number("temporary", "capacity", item["capacity"]),
                            str(item.get("kind", "ryokan")))
