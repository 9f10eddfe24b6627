"""GeoJSON representation of entities (ETSI GS CIM 009 V1.8.1 §4.5.16, §4.5.17).

With ``Accept: application/geo+json`` an entity is rendered as a GeoJSON Feature (§4.5.16.1)
and a list of entities as a FeatureCollection (§4.5.17.1):

* Feature: ``id`` (the entity id), ``type`` = ``"Feature"``, ``geometry`` (the value of the
  GeoProperty named by `geometryProperty`, ``location`` by default, or null when the entity
  has none), ``properties`` (the entity ``type`` and *all* its attributes, the GeoProperty used
  as geometry included, in the requested normalized / concise / keyValues form) and, for a
  stand-alone Feature, ``@context`` at the top level of the Feature.
* FeatureCollection: ``type`` = ``"FeatureCollection"``, ``features`` and, at its top level,
  ``@context``; the features themselves carry no ``@context``.

Inputs are entities already compacted against the response @context.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cityos.ngsild.geo.geometry import is_geometry_like
from cityos.ngsild.types import JsonObject

__all__ = ["entities_to_feature_collection", "entity_to_feature", "feature_geometry"]

_TOP_LEVEL = frozenset({"id", "@id", "type", "@type", "@context"})


def _instance_geometry(attribute: Any) -> JsonObject | None:
    if not isinstance(attribute, dict):
        return None
    if is_geometry_like(attribute):  # keyValues / concise: the geometry itself
        return attribute
    value = attribute.get("value", attribute.get("@value"))
    return value if is_geometry_like(value) else None


def feature_geometry(entity: JsonObject, geometry_property: str = "location") -> JsonObject | None:
    """The geometry §4.5.16.1 puts in a Feature: the value of `geometry_property`, or None.

    For a multi-instance attribute (§4.5.5) the default instance (no datasetId) is used, else
    the first instance that holds a geometry.
    """
    attribute = entity.get(geometry_property)
    if isinstance(attribute, dict) and isinstance(attribute.get("dataset"), dict) \
            and "type" not in attribute:
        # keyValues dataset map (§4.5.4): {"dataset": {"@none": geometry, datasetId: …}}
        dataset = attribute["dataset"]
        attribute = [dataset["@none"], *(v for k, v in dataset.items() if k != "@none")] \
            if "@none" in dataset else list(dataset.values())
        return next((g for g in map(_instance_geometry, attribute) if g is not None), None)
    if isinstance(attribute, list):
        instances = [a for a in attribute if isinstance(a, dict)]
        ordered = [a for a in instances if "datasetId" not in a] + [
            a for a in instances if "datasetId" in a
        ]
        for instance in ordered:
            geometry = _instance_geometry(instance)
            if geometry is not None:
                return geometry
        return None
    return _instance_geometry(attribute)


def _feature(entity: JsonObject, geometry_property: str) -> JsonObject:
    properties: JsonObject = {}
    entity_type = entity.get("type", entity.get("@type"))
    if entity_type is not None:
        properties["type"] = entity_type
    for name, value in entity.items():
        if name not in _TOP_LEVEL:
            properties[name] = value
    return {
        "id": entity.get("id", entity.get("@id")),
        "type": "Feature",
        "geometry": feature_geometry(entity, geometry_property),
        "properties": properties,
    }


def entity_to_feature(
    entity: JsonObject, geometry_property: str = "location", context: Any = None
) -> JsonObject:
    """Render one compacted entity as a GeoJSON Feature (§4.5.16.1).

    `geometry_property` is the compacted attribute name (the `geometryProperty` parameter,
    default ``location``). The Feature's ``@context`` is `context` when given, else the
    entity's own ``@context`` if it has one; without either the Feature has no ``@context``
    (it is then conveyed by a Link header).
    """
    feature = _feature(entity, geometry_property)
    ctx = context if context is not None else entity.get("@context")
    if ctx is not None:
        feature["@context"] = ctx
    return feature


def entities_to_feature_collection(
    entities: Iterable[JsonObject], geometry_property: str = "location", context: Any = None
) -> JsonObject:
    """Render compacted entities as a GeoJSON FeatureCollection (§4.5.17.1).

    ``@context`` (when `context` is given) is a member of the FeatureCollection only.
    """
    collection: JsonObject = {
        "type": "FeatureCollection",
        "features": [_feature(e, geometry_property) for e in entities],
    }
    if context is not None:
        collection["@context"] = context
    return collection
