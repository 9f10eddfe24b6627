"""Shelter ↔ NGSI-LD: the normalized body written to the broker and the plain `Shelter`
read back from an entity (internal form, rendered with the core @context)."""

from __future__ import annotations

import logging
from typing import Any

from cityos.apps.shelters.model import SHELTER_TYPE, Shelter
from cityos.ngsild.context import core_context
from cityos.ngsild.model import parse_entity, parse_fragment
from cityos.ngsild.model.render import RenderOptions, render_entity
from cityos.ngsild.types import JsonObject

log = logging.getLogger(__name__)
NULL = "urn:ngsi-ld:null"
# Shelter field → (NGSI-LD term, how to render the value).
_SCALARS = {
    "kana": "alternateName", "category": "category", "shelter_kind": "shelterKind",
    "capacity": "peopleCapacity", "occupancy": "peopleOccupancy", "status": "status",
    "crowding_level": "crowdingLevel", "crowding_source": "crowdingLevelSource",
    "accessibility": "accessibility", "pets_allowed": "petsAllowed",
    "gsi_common_id": "gsiCommonId", "emergency_site_id": "emergencySiteCommonId",
    "source": "source", "notes": "notes", "updated_by": "updatedBy",
}
_LISTS = {"hazards": "hazardTypes", "responsible_staff": "responsibleStaff"}
# Fields staff change: written as a merge, absent values deleted with NGSI-LD Null.
STAFF_FIELDS = ("status", "occupancy", "capacity", "crowding_level", "crowding_source",
                "notes", "pets_allowed", "accessibility", "updated_by")

log = logging.getLogger(__name__)


def _property(value: Any) -> JsonObject:
    return {"type": "Property", "value": value}


def shelter_body(shelter: Shelter) -> JsonObject:
    """The whole shelter as an NGSI-LD entity (normalized, core @context terms)."""
    body: JsonObject = {
        "id": shelter.id, "type": SHELTER_TYPE,
        "name": _property(shelter.name),
        "location": {"type": "GeoProperty",
                     "value": {"type": "Point", "coordinates": [shelter.lon, shelter.lat]}},
    }
    if shelter.street_address:
        body["address"] = _property({"addressRegion": "石川県", "addressLocality": "加賀市",
                                     "streetAddress": shelter.street_address})
    for name, term in _SCALARS.items():
        value = getattr(shelter, name)
        if value is not None:
            body[term] = _property(value)
    for name, term in _LISTS.items():
        values = getattr(shelter, name)
        if values:
            body[term] = _property(list(values))
    return body


def shelter_entity(shelter: Shelter) -> JsonObject:
    """The internal form of `shelter_body`."""
    return parse_entity(shelter_body(shelter), core_context())


def staff_fragment(before: Shelter, after: Shelter) -> JsonObject:
    """The staff-changeable attributes that differ, for a merge (§5.6.17): a value that is
    now None is deleted (NGSI-LD Null)."""
    fragment: JsonObject = {}
    for field in STAFF_FIELDS:
        old, new = getattr(before, field), getattr(after, field)
        if old != new or (field == "updated_by" and new is not None):
            fragment[_SCALARS[field]] = _property(NULL if new is None else new)
    return parse_fragment(fragment, core_context(), mode="merge")


def assignment_fragment(subjects: tuple[str, ...]) -> JsonObject:
    """The merge that sets who is responsible for a shelter (deleted when nobody)."""
    value: Any = list(subjects) if subjects else NULL
    return parse_fragment({"responsibleStaff": _property(value)}, core_context(),
                          mode="merge")


def registry_entity(shelter: Shelter) -> JsonObject:
    """What an import writes: the register's attributes only, so an import never resets
    what staff set (status, evacuee count, crowding, notes)."""
    body = shelter_body(shelter)
    for field in (*STAFF_FIELDS, "responsible_staff"):
        body.pop(_SCALARS.get(field) or _LISTS[field], None)
    if shelter.capacity is not None:
        body["peopleCapacity"] = _property(shelter.capacity)
    return parse_entity(body, core_context())


def is_shelter(entity: JsonObject | None) -> bool:
    if entity is None:
        return False
    types = entity.get("type", ())
    return any(t.rsplit("/", 1)[-1] == SHELTER_TYPE for t in types)


def shelter_from_entity(entity: JsonObject) -> Shelter:
    """A stored entity (internal form) as a `Shelter`."""
    kv = render_entity(entity, core_context(), RenderOptions(form="keyValues"))
    lon, lat = kv["location"]["coordinates"][:2]
    address = kv.get("address")
    values: dict[str, Any] = {name: kv.get(term) for name, term in _SCALARS.items()}
    values = {name: value for name, value in values.items() if value is not None}
    lists: dict[str, Any] = {name: tuple(_as_list(kv.get(term))) for name, term in _LISTS.items()}
    return Shelter(id=kv["id"], name=str(kv.get("name", "")), lon=float(lon), lat=float(lat),
                   street_address=address.get("streetAddress")
                   if isinstance(address, dict) else None,
                   modified_at=entity.get("modifiedAt"), **values, **lists)


def readable_shelter(entity: JsonObject | None) -> Shelter | None:
    """The shelter an entity holds, or None when it is not a shelter or lacks what the app
    needs (a Point location): such an entity, written through the NGSI-LD API, is left out
    of the map and the staff app (and logged) instead of breaking them."""
    if entity is None or not is_shelter(entity):
        return None
    try:
        return shelter_from_entity(entity)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as error:
        log.warning("entity %s is not shown as a shelter: %r", entity.get("id"), error)
        return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
