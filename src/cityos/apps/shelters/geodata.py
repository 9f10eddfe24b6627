"""Kaga's outline and town points for the map (data in cityos.data.kaga, see SOURCE.md):
the N03 boundary simplified for the page, the 237 town (町・大字) points for "sort from a
district", and a lookup of an address's town for placing a temporary shelter."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

from shapely.geometry import mapping, shape

OUTLINE_FILE = "n03_boundary_172065.geojson"
TOWNS_FILE = "geolonia_kaga_towns_172065.json"
SIMPLIFY_DEGREES = 0.0004  # about 40 m: invisible at city zoom, a fraction of the bytes


def _data(name: str) -> str:
    return resources.files("cityos.data.kaga").joinpath(name).read_text(encoding="utf-8")


@cache
def outline_bytes() -> bytes:
    """The city boundary, simplified, coordinates rounded to about 1 m."""
    document = json.loads(_data(OUTLINE_FILE))
    features = []
    for item in document["features"]:
        geometry = shape(item["geometry"]).simplify(SIMPLIFY_DEGREES, preserve_topology=True)
        if geometry.is_empty:
            continue
        features.append({"type": "Feature", "properties": {"name": "石川県加賀市"},
                         "geometry": _rounded(mapping(geometry))})
    return json.dumps({"type": "FeatureCollection", "features": features},
                      ensure_ascii=False, separators=(",", ":")).encode()


def _rounded(geometry: Any) -> Any:
    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], float):
                return [round(v, 5) for v in value]
            return [walk(v) for v in value]
        return value
    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


@cache
def towns() -> list[dict[str, Any]]:
    """The town points (empty 小字), sorted by their Japanese name."""
    rows = json.loads(_data(TOWNS_FILE))
    found = [{"town": row["town"], "lat": row["lat"], "lon": row["lng"]}
             for row in rows if not row.get("koaza")]
    return sorted(found, key=lambda row: row["town"])


@cache
def towns_bytes() -> bytes:
    return json.dumps(towns(), ensure_ascii=False, separators=(",", ":")).encode()


def town_of_address(address: str) -> dict[str, Any] | None:
    """The town whose name the address contains (the longest such name), or None."""
    text = "".join(address.split()).removeprefix("石川県").removeprefix("加賀市")
    best: dict[str, Any] | None = None
    for row in towns():
        if text.startswith(row["town"]) and (best is None or len(row["town"]) >
                                             len(best["town"])):
            best = row
    return best
