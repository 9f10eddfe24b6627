"""Road networks from their public formats: OpenStreetMap XML (.osm, read as a stream with
the standard library) and GeoJSON road links (LineString / MultiLineString). Broken pieces
are skipped and counted in the graph's notes; an input with no usable link is refused.
.osm.pbf is not read here: convert it first with osmium-tool (`osmium cat in.osm.pbf -o
out.osm`)."""

from __future__ import annotations

import itertools
import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from cityos.apps.twin.graph import DEFAULT_WIDTH_M, RoadGraph, build_graph
from cityos.apps.twin.network import largest_component

# Walkable OSM highway classes and the width (m) assumed when a way has no width tag.
WALKABLE_WIDTH_M = {"trunk": 10.0, "primary": 8.0, "secondary": 7.0, "tertiary": 6.0,
                    "unclassified": 4.0, "residential": 4.0, "living_street": 4.0,
                    "service": 3.5, "pedestrian": 5.0, "footway": 2.0, "path": 1.5,
                    "steps": 1.5, "track": 2.5, "cycleway": 2.5, "primary_link": 6.0,
                    "secondary_link": 6.0, "tertiary_link": 5.0, "trunk_link": 6.0,
                    "road": 4.0}


class RoadImportError(ValueError):
    """The file gives no usable road graph; the message says why."""


def import_roads(path: Path) -> RoadGraph:
    name = path.name.lower()
    if name.endswith(".pbf"):
        raise RoadImportError(
            f"{path.name}: .osm.pbf is not supported; convert it to OSM XML with "
            f"osmium-tool: osmium cat {path.name} -o {path.stem.removesuffix('.osm')}.osm")
    if name.endswith((".osm", ".xml")):
        return import_osm_xml(path)
    if name.endswith((".geojson", ".json")):
        return import_geojson_roads(path)
    raise RoadImportError(f"{path.name}: unknown road format (use .osm or .geojson)")


def _width(tags: dict[str, str], highway: str) -> float:
    raw = tags.get("width", "").replace("m", "").strip()
    try:
        value = float(raw)
        if value > 0 and math.isfinite(value):
            return value
    except ValueError:
        pass
    return WALKABLE_WIDTH_M.get(highway, DEFAULT_WIDTH_M)


def import_osm_xml(path: Path) -> RoadGraph:
    nodes: dict[str, tuple[float, float]] = {}
    ways: list[tuple[list[str], float]] = []
    bad_nodes = 0
    try:
        for _, element in ET.iterparse(path, events=("end",)):
            if element.tag == "node":
                try:
                    lon, lat = float(element.get("lon", "")), float(element.get("lat", ""))
                    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                        raise ValueError
                    nodes[element.get("id", "")] = (lon, lat)
                except ValueError:
                    bad_nodes += 1
                element.clear()
            elif element.tag == "way":
                tags = {t.get("k", ""): t.get("v", "") for t in element.findall("tag")}
                highway = tags.get("highway", "")
                if highway in WALKABLE_WIDTH_M and tags.get("foot") != "no":
                    refs = [nd.get("ref", "") for nd in element.findall("nd")]
                    ways.append((refs, _width(tags, highway)))
                element.clear()
    except ET.ParseError as exc:
        raise RoadImportError(f"{path.name}: not well-formed OSM XML ({exc})") from None
    return _graph_from_ways(path.name, nodes, ways, bad_nodes)


def _graph_from_ways(name: str, nodes: dict[str, tuple[float, float]],
                     ways: list[tuple[list[str], float]], bad_nodes: int) -> RoadGraph:
    index: dict[str, int] = {}
    a: list[int] = []
    b: list[int] = []
    widths: list[float] = []
    missing = 0
    for refs, width in ways:
        for ref1, ref2 in itertools.pairwise(refs):
            if ref1 not in nodes or ref2 not in nodes:
                missing += 1
                continue
            a.append(index.setdefault(ref1, len(index)))
            b.append(index.setdefault(ref2, len(index)))
            widths.append(width)
    if not a:
        raise RoadImportError(f"{name}: no walkable road link with known nodes "
                              f"({len(ways)} walkable ways, {missing} broken segments)")
    coords = np.array([nodes[ref] for ref in index], float)
    notes = []
    if bad_nodes:
        notes.append(f"{name}: {bad_nodes} nodes with invalid coordinates skipped")
    if missing:
        notes.append(f"{name}: {missing} way segments referring to missing nodes skipped")
    graph = build_graph(coords[:, 0], coords[:, 1], np.array(a), np.array(b),
                        np.array(widths), source=f"OpenStreetMap ({name}), © OpenStreetMap "
                        "contributors, ODbL", notes=notes)
    return largest_component(graph)


def _valid_line(coords: Any) -> list[tuple[float, float]] | None:
    if not isinstance(coords, list) or len(coords) < 2:
        return None
    line = []
    for position in coords:
        if (not isinstance(position, list) or len(position) < 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool)
                           and math.isfinite(v) for v in position[:2])):
            return None
        lon, lat = float(position[0]), float(position[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        line.append((lon, lat))
    return line


def import_geojson_roads(path: Path) -> RoadGraph:
    """Road links as GeoJSON features; vertices shared by links (to 1e-7 degrees) join."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise RoadImportError(f"{path.name}: not valid JSON ({exc})") from None
    features = data.get("features") if isinstance(data, dict) else None
    if not isinstance(features, list):
        raise RoadImportError(f"{path.name}: not a GeoJSON FeatureCollection")
    nodes: dict[str, tuple[float, float]] = {}
    ways: list[tuple[list[str], float]] = []
    broken = 0
    for feature in features:
        geometry = (feature or {}).get("geometry") or {}
        kind, coords = geometry.get("type"), geometry.get("coordinates")
        lines = [coords] if kind == "LineString" else coords if kind == "MultiLineString" else None
        props = (feature or {}).get("properties") or {}
        width = _width({"width": str(props.get("width", props.get("幅員", "")))},
                       str(props.get("highway", "")))
        if not isinstance(lines, list):
            broken += 1
            continue
        for raw in lines:
            line = _valid_line(raw)
            if line is None:
                broken += 1
                continue
            refs = [f"{lon:.7f},{lat:.7f}" for lon, lat in line]
            nodes.update(zip(refs, line, strict=True))
            ways.append((refs, width))
    graph = _graph_from_ways(path.name, nodes, ways, 0)
    if broken:
        graph.notes.append(f"{path.name}: {broken} features with broken or missing line "
                           "geometry skipped")
    graph.source = f"GeoJSON road links ({path.name})"
    return graph
