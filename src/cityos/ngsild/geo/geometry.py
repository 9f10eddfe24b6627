"""GeoJSON geometries as GeoProperty values (ETSI GS CIM 009 V1.8.1 §4.7, IETF RFC 7946 §3.1).

A GeoProperty value (§4.7.1) is a GeoJSON geometry; the geo-query language (§4.10) compares such
geometries. This module validates them strictly enough that everything downstream (bounding
boxes, the R*Tree prefilter, shapely predicates) can trust their structure:

* types Point, MultiPoint, LineString, MultiLineString, Polygon, MultiPolygon and
  GeometryCollection (one level; RFC 7946 §3.1.8 discourages nesting collections);
* positions of 2 or 3 JSON numbers (no booleans, no strings, no NaN/±inf), longitude in
  [-180, 180] and latitude in [-90, 90] (RFC 7946 §3.1.1, WGS 84);
* LineString with ≥ 2 positions, linear rings closed with ≥ 4 positions (RFC 7946 §3.1.6);
* no empty geometries (RFC 7946 §3.1 lets processors read them as null; a GeoProperty value
  that locates nothing is refused instead);
* at most `MAX_POSITIONS` positions and `MAX_COLLECTION_MEMBERS` collection members.

Ring orientation (the RFC 7946 right-hand rule) is not enforced: §3.1.6 asks parsers not to
reject rings of the other orientation. OGC simple-feature validity (e.g. self-intersecting
rings) is not required either; `to_shape` repairs such shapes so predicates stay defined.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, Final

import orjson
import shapely
from shapely.geometry import shape as _shape
from shapely.geometry.base import BaseGeometry

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.types import JsonObject

__all__ = [
    "GEOMETRY_TYPES",
    "MAX_POSITIONS",
    "QUERY_GEOMETRY_TYPES",
    "bbox",
    "geoproperty_values",
    "is_geometry_like",
    "iter_positions",
    "to_shape",
    "validate_geometry",
]

QUERY_GEOMETRY_TYPES: Final = frozenset(
    {"Point", "MultiPoint", "LineString", "MultiLineString", "Polygon", "MultiPolygon"}
)
"""Geometry types the `geometry` parameter of a geo-query may name (§4.10)."""

GEOMETRY_TYPES: Final = QUERY_GEOMETRY_TYPES | {"GeometryCollection"}
"""Geometry types accepted as GeoProperty values (RFC 7946 §3.1)."""

MAX_POSITIONS: Final = 100_000
MAX_COLLECTION_MEMBERS: Final = 1_000
_MAX_EXACT_INT: Final = 2**53

# Depth of the `coordinates` array per type: 0 = a position, 1 = a list of positions, ...
_DEPTH: Final = {
    "Point": 0,
    "MultiPoint": 1,
    "LineString": 1,
    "MultiLineString": 2,
    "Polygon": 2,
    "MultiPolygon": 3,
}

BBox = tuple[float, float, float, float]


class _Invalid(Exception):
    """Internal: what is wrong (`problem`) and where (`where`, a JSON path)."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(where, problem)
        self.where = where
        self.problem = problem


class _Budget:
    """Counts positions across one validation so huge payloads are refused early."""

    __slots__ = ("left",)

    def __init__(self) -> None:
        self.left = MAX_POSITIONS

    def take(self, n: int, where: str) -> None:
        self.left -= n
        if self.left < 0:
            raise _Invalid(where, f"the geometry has more than {MAX_POSITIONS} positions")


def _fail(where: str, problem: str) -> _Invalid:
    return _Invalid(where, problem)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, f"expected a number, got {type(value).__name__} {value!r}")
    if isinstance(value, int) and abs(value) > _MAX_EXACT_INT:
        raise _fail(where, f"number {value} is out of range")
    as_float = float(value)
    if not math.isfinite(as_float):
        raise _fail(where, f"expected a finite number, got {value!r}")
    return as_float


def _position(value: Any, where: str) -> list[float | int]:
    if not isinstance(value, list):
        raise _fail(where, f"a position must be an array of numbers, got {_kind(value)}")
    if len(value) not in (2, 3):
        raise _fail(where, f"a position must have 2 or 3 numbers, got {len(value)}")
    lon = _number(value[0], f"{where}[0]")
    lat = _number(value[1], f"{where}[1]")
    if len(value) == 3:
        _number(value[2], f"{where}[2]")
    if not -180.0 <= lon <= 180.0:
        raise _fail(where, f"longitude {value[0]!r} is outside [-180, 180]")
    if not -90.0 <= lat <= 90.0:
        raise _fail(where, f"latitude {value[1]!r} is outside [-90, 90]")
    return list(value)


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"{type(value).__name__} {value!r}"


def _positions(value: Any, where: str, minimum: int, budget: _Budget) -> list[list[float | int]]:
    if not isinstance(value, list):
        raise _fail(where, f"expected an array of positions, got {_kind(value)}")
    budget.take(len(value), where)
    if len(value) < minimum:
        raise _fail(where, f"expected at least {minimum} positions, got {len(value)}")
    return [_position(item, f"{where}[{i}]") for i, item in enumerate(value)]


def _ring(value: Any, where: str, budget: _Budget) -> list[list[float | int]]:
    ring = _positions(value, where, 4, budget)
    if ring[0] != ring[-1]:
        raise _fail(where, "a linear ring must be closed (first and last positions equal)")
    return ring


def _list(value: Any, where: str, what: str, minimum: int = 0) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, f"expected an array of {what}, got {_kind(value)}")
    if len(value) < minimum:
        raise _fail(where, f"expected at least {minimum} {what}, got {len(value)}")
    return value


def _polygon(value: Any, where: str, budget: _Budget) -> list[list[list[float | int]]]:
    rings = _list(value, where, "linear rings", 1)
    return [_ring(r, f"{where}[{i}]", budget) for i, r in enumerate(rings)]


def _coordinates(gtype: str, value: Any, budget: _Budget) -> Any:
    where = "coordinates"
    if gtype == "Point":
        budget.take(1, where)
        return _position(value, where)
    if gtype == "MultiPoint":
        return _positions(value, where, 1, budget)
    if gtype == "LineString":
        return _positions(value, where, 2, budget)
    if gtype == "MultiLineString":
        lines = _list(value, where, "line strings", 1)
        return [_positions(ln, f"{where}[{i}]", 2, budget) for i, ln in enumerate(lines)]
    if gtype == "Polygon":
        return _polygon(value, where, budget)
    polygons = _list(value, where, "polygons", 1)
    return [_polygon(p, f"{where}[{i}]", budget) for i, p in enumerate(polygons)]


def _validate(obj: Any, budget: _Budget, allow_collection: bool) -> JsonObject:
    if not isinstance(obj, dict):
        raise _fail("geometry", f"expected an object, got {_kind(obj)}")
    gtype = obj.get("type")
    if not isinstance(gtype, str) or gtype not in GEOMETRY_TYPES:
        raise _fail("type", f"{gtype!r} is not one of {', '.join(sorted(GEOMETRY_TYPES))}")
    if gtype == "GeometryCollection":
        if not allow_collection:
            raise _fail("geometries", "nested GeometryCollection objects are not supported")
        members = _list(obj.get("geometries"), "geometries", "geometries", 1)
        if len(members) > MAX_COLLECTION_MEMBERS:
            raise _fail("geometries", f"more than {MAX_COLLECTION_MEMBERS} members")
        out: list[JsonObject] = []
        for i, member in enumerate(members):
            try:
                out.append(_validate(member, budget, allow_collection=False))
            except _Invalid as exc:
                raise _Invalid(f"geometries[{i}].{exc.where}", exc.problem) from None
        return {"type": gtype, "geometries": out}
    if "coordinates" not in obj:
        raise _fail("coordinates", f"a {gtype} needs a 'coordinates' member")
    return {"type": gtype, "coordinates": _coordinates(gtype, obj["coordinates"], budget)}


def validate_geometry(obj: Any) -> JsonObject:
    """Validate a GeoJSON geometry used as a GeoProperty value (§4.7.1, RFC 7946 §3.1).

    Returns a normalised copy holding only `type` and `coordinates` (or `geometries`); foreign
    members such as `bbox` are tolerated and dropped. Raises `BadRequestData` whose detail
    names the offending member, e.g. ``coordinates[0][3]: latitude 95 is outside [-90, 90]``.
    """
    point = _plain_point(obj)
    if point is not None:
        return point
    try:
        return _validate(obj, _Budget(), allow_collection=True)
    except _Invalid as exc:
        raise BadRequestData(f"Invalid GeoJSON geometry: {exc.where}: {exc.problem}") from None


def _plain_point(obj: Any) -> JsonObject | None:
    """The commonest geometry, a 2D Point of plain numbers within range, checked without
    the general walk; the result is what `_validate` makes of it. None otherwise (the
    general walk then decides, with its error messages)."""
    if type(obj) is not dict or obj.get("type") != "Point":
        return None
    position = obj.get("coordinates")
    if type(position) is not list or len(position) != 2:
        return None
    lon, lat = position
    if type(lon) not in _PLAIN_NUMBERS or type(lat) not in _PLAIN_NUMBERS:
        return None
    # NaN fails both range tests, infinities one of them.
    if not (-180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0):
        return None
    return {"type": "Point", "coordinates": [lon, lat]}


_PLAIN_NUMBERS: Final = (int, float)


def is_geometry_like(value: Any) -> bool:
    """Cheap structural test: a dict whose `type` is a GeoJSON geometry type (no validation)."""
    return isinstance(value, dict) and value.get("type") in GEOMETRY_TYPES and (
        "coordinates" in value or "geometries" in value
    )


def iter_positions(geometry: JsonObject) -> Iterator[list[float]]:
    """Yield every position of a validated geometry (collections included)."""
    if geometry["type"] == "GeometryCollection":
        for member in geometry["geometries"]:
            yield from iter_positions(member)
        return
    depth = _DEPTH[geometry["type"]]
    stack: list[tuple[Any, int]] = [(geometry["coordinates"], depth)]
    while stack:
        node, level = stack.pop()
        if level == 0:
            yield node
        else:
            stack.extend((child, level - 1) for child in node)


def bbox(geometry: JsonObject) -> BBox:
    """Bounding box ``(min_lon, min_lat, max_lon, max_lat)`` of a validated geometry.

    Raises `BadRequestData` for a geometry without positions (never a validated one).
    """
    min_x = min_y = math.inf
    max_x = max_y = -math.inf
    for pos in iter_positions(geometry):
        x, y = pos[0], pos[1]
        if x < min_x:
            min_x = x
        if x > max_x:
            max_x = x
        if y < min_y:
            min_y = y
        if y > max_y:
            max_y = y
    if min_x == math.inf:
        raise BadRequestData("Invalid GeoJSON geometry: the geometry has no positions")
    return (float(min_x), float(min_y), float(max_x), float(max_y))


_SHAPE_CACHE: OrderedDict[bytes, BaseGeometry] = OrderedDict()
_SHAPE_CACHE_SIZE: Final = 4096


def _shape_key(geometry: JsonObject) -> bytes:
    return hashlib.blake2b(orjson.dumps(geometry, option=orjson.OPT_SORT_KEYS),
                           digest_size=16).digest()


def to_shape(geometry: JsonObject) -> BaseGeometry:
    """The shapely geometry (planar lon/lat, as RFC 7946 §3.1.1 lines are) of a validated one.

    Invalid OGC shapes (e.g. self-intersecting rings, which RFC 7946 does not forbid) are
    repaired with `shapely.make_valid` (structure method) so DE-9IM predicates never raise.
    Results are prepared for repeated predicates and cached by a content digest, so callers
    must treat returned shapes as read-only.
    """
    key = _shape_key(geometry)
    cached = _SHAPE_CACHE.get(key)
    if cached is not None:
        _SHAPE_CACHE.move_to_end(key)
        return cached
    geom: BaseGeometry = _shape(geometry)
    if not geom.is_valid:
        geom = shapely.make_valid(geom, method="structure", keep_collapsed=True)
    shapely.prepare(geom)
    _SHAPE_CACHE[key] = geom
    if len(_SHAPE_CACHE) > _SHAPE_CACHE_SIZE:
        _SHAPE_CACHE.popitem(last=False)
    return geom


_GEOPROPERTY_TYPES: Final = frozenset({"GeoProperty", "https://uri.etsi.org/ngsi-ld/GeoProperty"})
_HAS_VALUE: Final = "https://uri.etsi.org/ngsi-ld/hasValue"
_NOT_ATTRIBUTES: Final = frozenset({"id", "@id", "type", "@type", "@context", "scope"})


def _is_geoproperty(instance: JsonObject) -> bool:
    kind = instance.get("type", instance.get("@type"))
    if isinstance(kind, list):
        return any(k in _GEOPROPERTY_TYPES for k in kind)
    return kind in _GEOPROPERTY_TYPES


def _instance_value(instance: JsonObject) -> Any:
    value = instance.get("value", instance.get(_HAS_VALUE))
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, dict) and "@value" in value:
        value = value["@value"]
    if isinstance(value, str | bytes):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def geoproperty_values(entity: JsonObject) -> dict[str, list[JsonObject]]:
    """Every GeoProperty instance value of a normalized entity, by attribute name (§4.7).

    Attribute names are returned as the entity spells them (terms or expanded IRIs); every
    instance of a multi-attribute (§4.5.5) is included. An instance is a GeoProperty when its
    ``type`` / ``@type`` is GeoProperty; its value is read from ``value`` or ``ngsi-ld:hasValue``
    (a JSON-LD ``@value`` wrapper or a JSON string holding the geometry are unwrapped). Values
    that are not geometry-shaped are skipped; the others are returned without validation.
    """
    found: dict[str, list[JsonObject]] = {}
    for name, attribute in entity.items():
        if name in _NOT_ATTRIBUTES:
            continue
        instances = attribute if isinstance(attribute, list) else [attribute]
        for instance in instances:
            if not isinstance(instance, dict) or not _is_geoproperty(instance):
                continue
            value = _instance_value(instance)
            if is_geometry_like(value):
                found.setdefault(name, []).append(value)
    return found
