"""Hazard zones from GeoJSON: flood inundation polygons (国土数値情報 A31 or PLATEAU fld)
with a depth or a depth rank, and landslide zones (any polygon)."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from cityos.apps.twin.model import HazardMap, HazardZone

# Depth rank codes of the 国土数値情報 浸水想定区域 (A31, 2019 scale): rank -> lower bound (m).
RANK_LOWER_M = {1: 0.0, 2: 0.5, 3: 3.0, 4: 5.0, 5: 10.0, 6: 20.0}
DEPTH_KEYS = ("depth_m", "depth", "浸水深")
RANK_KEYS = ("rank", "浸水深ランク", "A31a_205", "A31_205", "A31b_205")
RANK_TEXT = re.compile(r"([\d.]+)\s*m\s*以上|([\d.]+)\s*m\s*未満")


class HazardImportError(ValueError):
    """The file gives no usable hazard zone; the message says why."""


def _depth(props: dict[str, Any], depth_property: str | None) -> float | None:
    keys = (depth_property,) if depth_property else DEPTH_KEYS + RANK_KEYS
    for key in keys:
        if key is None or key not in props or props[key] in (None, ""):
            continue
        value = props[key]
        if key in DEPTH_KEYS and isinstance(value, int | float):
            return float(value)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            rank = int(value)
            if rank in RANK_LOWER_M:
                return RANK_LOWER_M[rank]
        if isinstance(value, str):
            match = RANK_TEXT.search(value)
            if match:  # "0.5m以上3m未満" -> 0.5; "0.5m未満" -> 0
                return float(match.group(1)) if match.group(1) else 0.0
        if isinstance(value, int | float):
            return float(value)
    return None


def _rings(geometry: Any) -> list[list[np.ndarray]] | None:
    kind, coords = (geometry or {}).get("type"), (geometry or {}).get("coordinates")
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else None
    if not isinstance(polygons, list):
        return None
    result = []
    for polygon in polygons:
        try:
            rings = [np.asarray(ring, float)[:, :2] for ring in polygon]
        except (ValueError, TypeError, IndexError):
            return None
        if not rings or any(r.ndim != 2 or r.shape[0] < 4 or not np.isfinite(r).all()
                            for r in rings):
            return None
        result.append(rings)
    return result


def import_hazard(path: Path, kind: str, depth_property: str | None = None) -> HazardMap:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise HazardImportError(f"{path.name}: not valid JSON ({exc})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise HazardImportError(f"{path.name}: not a GeoJSON FeatureCollection")
    zones: list[HazardZone] = []
    broken = no_depth = 0
    for feature in features:
        polygons = _rings((feature or {}).get("geometry"))
        if polygons is None:
            broken += 1
            continue
        props = (feature or {}).get("properties") or {}
        depth = _depth(props, depth_property) if kind == "flood" else None
        if kind == "flood" and depth is None:
            no_depth += 1
        if depth is not None and not math.isfinite(depth):
            depth = None
        zones.extend(HazardZone(kind, rings, depth, str(props.get("name", "")))
                     for rings in polygons)
    if not zones:
        raise HazardImportError(f"{path.name}: no usable polygon ({broken} broken features)")
    notes = []
    if broken:
        notes.append(f"{path.name}: {broken} features with broken polygon geometry skipped")
    if no_depth:
        notes.append(f"{path.name}: {no_depth} flood polygons without depth: treated as "
                     "deep enough to close roads")
    return HazardMap(zones, source=f"{kind} zones ({path.name})", notes=notes)
