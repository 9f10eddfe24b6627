"""NGSI-LD geospatial support (ETSI GS CIM 009 V1.8.1 §4.7, §4.10, §4.5.16–4.5.17, §5.2.13).

* `validate_geometry`, `bbox`, `to_shape` — GeoJSON geometries as GeoProperty values (§4.7).
* `parse_geo_query`, `GeoQuery`, `matches`, `distance_m`, `search_bbox` — the geo-query
  language (§4.10) and the GeoQuery data type (§5.2.13).
* `entity_to_feature`, `entities_to_feature_collection` — ``application/geo+json``
  rendering (§4.5.16, §4.5.17).

Pure domain code: no I/O.
"""

from cityos.ngsild.geo.geojson import (
    entities_to_feature_collection,
    entity_to_feature,
    feature_geometry,
)
from cityos.ngsild.geo.geometry import (
    GEOMETRY_TYPES,
    QUERY_GEOMETRY_TYPES,
    bbox,
    geoproperty_values,
    is_geometry_like,
    to_shape,
    validate_geometry,
)
from cityos.ngsild.geo.query import (
    DEFAULT_GEOPROPERTY_IRI,
    GeoQuery,
    distance_m,
    matches,
    matches_any,
    parse_geo_query,
    parse_geo_query_object,
    search_bbox,
)

__all__ = [
    "DEFAULT_GEOPROPERTY_IRI",
    "GEOMETRY_TYPES",
    "QUERY_GEOMETRY_TYPES",
    "GeoQuery",
    "bbox",
    "distance_m",
    "entities_to_feature_collection",
    "entity_to_feature",
    "feature_geometry",
    "geoproperty_values",
    "is_geometry_like",
    "matches",
    "matches_any",
    "parse_geo_query",
    "parse_geo_query_object",
    "search_bbox",
    "to_shape",
    "validate_geometry",
]
