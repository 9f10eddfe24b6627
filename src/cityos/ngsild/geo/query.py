"""The NGSI-LD geo-query (ETSI GS CIM 009 V1.8.1 §4.10, GeoQuery data type §5.2.13).

A geo-query arrives either as the URL parameters `georel`, `geometry`, `coordinates` and
`geoproperty` of a query (§6.4.3.2, §6.23.3.1 …) or as a GeoQuery object in a
POST /entityOperations/query body (§5.2.23) or a Subscription's `geoQ` (§5.2.12). Both are
parsed here into one immutable `GeoQuery`; `matches`, `distance_m` and `search_bbox` (defined
in `cityos.ngsild.geo.relate`, re-exported here) evaluate it.

Grammar (§4.10)::

    georel     = nearRel / "within" / "contains" / "intersects" / "equals" / "disjoint"
                 / "overlaps"
    nearRel    = "near" ";" ("maxDistance" / "minDistance") "==" PositiveNumber

`PositiveNumber` is an RFC 8259 number without the minus sign and other than 0; it must also
denote a finite double (``1e400`` does not). Every malformed geo-query is reported as
`BadRequestData` (HTTP 400), as §5.7.2.4 / §6.4.3.2 require and the conformance suite checks.

Decisions on points §4.10 leaves open:

* `near` accepts any reference geometry type, not only Point: the distance is measured to the
  closest point of the reference geometry (see `relate.distance_m`).
* Geometry type names are case-sensitive, exactly as RFC 7946 §1.4 spells them.
* A `geoproperty` without `georel` / `geometry` / `coordinates` is not a geo-query and is
  ignored; any other incomplete combination is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from shapely.geometry.base import BaseGeometry

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.geo.geometry import QUERY_GEOMETRY_TYPES, to_shape, validate_geometry
from cityos.ngsild.geo.relate import distance_m, matches, matches_any, search_bbox
from cityos.ngsild.types import JsonObject

__all__ = [
    "DEFAULT_GEOPROPERTY_IRI",
    "DISTANCE_OPS",
    "GEORELS",
    "GeoQuery",
    "distance_m",
    "matches",
    "matches_any",
    "parse_geo_query",
    "parse_geo_query_object",
    "parse_georel",
    "search_bbox",
]

DEFAULT_GEOPROPERTY_IRI: Final = "https://uri.etsi.org/ngsi-ld/location"
GEORELS: Final = frozenset(
    {"near", "within", "contains", "intersects", "disjoint", "equals", "overlaps"}
)
DISTANCE_OPS: Final = frozenset({"maxDistance", "minDistance"})
MAX_COORDINATES_CHARS: Final = 4 * 1024 * 1024

_POSITIVE_NUMBER: Final = re.compile(r"(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


@dataclass(frozen=True, slots=True)
class GeoQuery:
    """A validated geo-query (§5.2.13).

    `georel` is the bare relationship (``near``, ``within`` …); for ``near``, `distance_op` is
    ``maxDistance`` or ``minDistance`` and `distance_m` the distance in metres, otherwise both
    are None. `geometry` is the validated reference GeoJSON geometry, `geoproperty_iri` the
    expanded name of the GeoProperty the query targets (§4.10: ``location`` by default).
    """

    georel: str
    distance_op: str | None
    distance_m: float | None
    geometry: JsonObject = field(hash=False)
    geoproperty_iri: str = DEFAULT_GEOPROPERTY_IRI
    shape: BaseGeometry = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", to_shape(self.geometry))

    @property
    def georel_text(self) -> str:
        """The `georel` in its §4.10 wire form, e.g. ``near;maxDistance==1000``."""
        if self.distance_op is None or self.distance_m is None:
            return self.georel
        d = self.distance_m
        number = str(int(d)) if d.is_integer() and abs(d) < 1e15 else repr(d)
        return f"{self.georel};{self.distance_op}=={number}"

    def to_geoq(self, geoproperty: str | None = None) -> JsonObject:
        """The §5.2.13 GeoQuery object; pass the compacted `geoproperty` term to include it."""
        out: JsonObject = {
            "georel": self.georel_text,
            "geometry": self.geometry["type"],
            "coordinates": self.geometry["coordinates"],
        }
        if geoproperty is not None:
            out["geoproperty"] = geoproperty
        return out


def _bad(detail: str) -> BadRequestData:
    return BadRequestData(f"Invalid geo-query: {detail}")


def parse_georel(georel: str) -> tuple[str, str | None, float | None]:
    """Split a §4.10 `georel` into (relationship, distance modifier, distance in metres)."""
    if not isinstance(georel, str) or not georel:
        raise _bad("'georel' must be a non-empty string")
    relation, *modifiers = georel.split(";")
    if relation not in GEORELS:
        raise _bad(f"unknown georel {relation!r}; expected one of {', '.join(sorted(GEORELS))}")
    if relation != "near":
        if modifiers:
            raise _bad(f"georel {relation!r} takes no modifiers, got {georel!r}")
        return relation, None, None
    if len(modifiers) != 1:
        raise _bad(
            "'near' needs exactly one distance modifier, 'near;maxDistance==<metres>' or "
            f"'near;minDistance==<metres>', got {georel!r}"
        )
    op, sep, number = modifiers[0].partition("==")
    if not sep or op not in DISTANCE_OPS:
        raise _bad(f"bad 'near' modifier {modifiers[0]!r}; expected maxDistance== or minDistance==")
    if not _POSITIVE_NUMBER.fullmatch(number):
        raise _bad(f"{op} must be a positive number of metres, got {number!r}")
    distance = float(number)
    if not math.isfinite(distance) or distance <= 0.0:
        raise _bad(f"{op} must be a finite number of metres greater than 0, got {number!r}")
    return relation, op, distance


def _coordinates(value: Any) -> Any:
    if isinstance(value, list):
        return value
    if not isinstance(value, str | bytes):
        raise _bad(f"'coordinates' must be a JSON array, got {type(value).__name__}")
    if len(value) > MAX_COORDINATES_CHARS:
        raise _bad(f"'coordinates' is longer than {MAX_COORDINATES_CHARS} characters")
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise _bad(f"'coordinates' is not a JSON array of numbers: {exc}") from None
    if not isinstance(parsed, list):
        raise _bad(f"'coordinates' must be a JSON array, got {value!r:.80}")
    return parsed


def _present(value: Any) -> bool:
    return value is not None and value != ""


def parse_geo_query(
    georel: Any,
    geometry: Any,
    coordinates: Any,
    geoproperty: Any,
    expand: Callable[[str], str],
) -> GeoQuery | None:
    """Parse the geo-query parameters of a request (§4.10, §6.4.3.2 Table 6.4.3.2-1).

    `coordinates` may be the raw URL string (``[8.0,40.0]``) or an already decoded JSON array;
    `geoproperty` is an attribute name, expanded with `expand` against the request's @context.
    Returns None when no geo-query is given; raises `BadRequestData` when one is malformed.
    """
    given = {
        "georel": _present(georel),
        "geometry": _present(geometry),
        "coordinates": _present(coordinates),
    }
    if not any(given.values()):
        return None
    missing = [name for name, ok in given.items() if not ok]
    if missing:
        raise _bad(
            "'georel', 'geometry' and 'coordinates' must be given together; missing "
            + ", ".join(repr(m) for m in missing)
        )
    relation, distance_op, distance = parse_georel(georel)
    if not isinstance(geometry, str) or geometry not in QUERY_GEOMETRY_TYPES:
        raise _bad(
            f"'geometry' must be one of {', '.join(sorted(QUERY_GEOMETRY_TYPES))}, "
            f"got {geometry!r}"
        )
    try:
        reference = validate_geometry({"type": geometry, "coordinates": _coordinates(coordinates)})
    except BadRequestData as exc:
        problem = exc.detail.removeprefix("Invalid GeoJSON geometry: ")
        raise _bad(f"reference {geometry}: {problem}") from None
    if _present(geoproperty):
        if not isinstance(geoproperty, str):
            raise _bad(f"'geoproperty' must be an attribute name, got {geoproperty!r}")
        geoproperty_iri = expand(geoproperty)
    else:
        geoproperty_iri = DEFAULT_GEOPROPERTY_IRI
    return GeoQuery(relation, distance_op, distance, reference, geoproperty_iri)


def parse_geo_query_object(obj: Any, expand: Callable[[str], str]) -> GeoQuery:
    """Parse a §5.2.13 GeoQuery object (a `geoQ` or the `geoQ` of a Query, §5.2.23).

    `georel`, `geometry` and `coordinates` are mandatory; `coordinates` may be a JSON array
    or a string holding one. Other members are ignored.
    """
    if not isinstance(obj, Mapping):
        raise _bad(f"a GeoQuery must be a JSON object, got {type(obj).__name__}")
    for name in ("georel", "geometry", "coordinates"):
        if not _present(obj.get(name)):
            raise _bad(f"a GeoQuery needs '{name}'")
    parsed = parse_geo_query(
        obj["georel"], obj["geometry"], obj["coordinates"], obj.get("geoproperty"), expand
    )
    if parsed is None:  # unreachable: the three mandatory members are present
        raise _bad("a GeoQuery needs 'georel', 'geometry' and 'coordinates'")
    return parsed
