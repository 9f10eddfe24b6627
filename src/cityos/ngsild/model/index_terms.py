"""What a storage backend indexes of an entity, the same for every backend: the scalars the
q-language compares with (ETSI GS CIM 009 §4.9) and the geometries geo-queries test
(§4.10)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cityos.ngsild.types import JsonObject

_VALUE_MEMBERS = ("value", "object", "vocab", "valueList", "objectList", "json")


def comparable_scalars(instance: JsonObject) -> Iterator[Any]:
    """The value of a Property (each element of an array), the object(s) of a Relationship,
    the strings of a LanguageProperty, the vocab of a VocabProperty, the elements of a
    ListProperty, ListRelationship or of a JsonProperty array."""
    if instance["type"] == "LanguageProperty":
        for text in instance["languageMap"].values():
            yield from (text if isinstance(text, list) else [text])
        return
    for member in _VALUE_MEMBERS:
        if member in instance:
            value = instance[member]
            yield from (value if isinstance(value, list) else [value])


def geo_attributes(entity: JsonObject | None) -> dict[str, list[JsonObject]]:
    """The geometries of an entity's GeoProperty instances, by attribute IRI."""
    if entity is None:
        return {}
    found: dict[str, list[JsonObject]] = {}
    for iri, instances in entity["attrs"].items():
        geometries = [i["value"] for i in instances if i["type"] == "GeoProperty"]
        if geometries:
            found[iri] = geometries
    return found
