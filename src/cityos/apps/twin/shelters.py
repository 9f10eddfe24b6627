"""Shelters for a run, from the live EvacuationShelter entities of the broker (internal
form) and the scenario's shelter policy. peopleCapacity absent means unknown: the policy
decides (unlimited, flagged; or a documented number per category); peopleOccupancy
reduces the room left."""

from __future__ import annotations

from typing import Any

import numpy as np

from cityos.apps.twin.model import Shelters
from cityos.apps.twin.scenario import ShelterPolicy
from cityos.broker.entities import EntityService
from cityos.ngsild.context import core_context
from cityos.ngsild.query import parse_type_expression
from cityos.ngsild.types import JsonObject
from cityos.storage.base import EntityQuery

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
SHELTER_TYPE = "EvacuationShelter"
PAGE = 1000


async def fetch_shelter_entities(entities: EntityService, tenant: str = "") -> list[JsonObject]:
    """Every EvacuationShelter of the tenant, page by page."""
    types = parse_type_expression(SHELTER_TYPE, core_context().expand_term)
    found: list[JsonObject] = []
    offset = 0
    while True:
        page = await entities.query(tenant, EntityQuery(types=types, limit=PAGE, offset=offset))
        found.extend(page.entities)
        if len(page.entities) < PAGE:
            return found
        offset += PAGE


def _value(entity: JsonObject, term: str) -> Any:
    # Expanded with the core @context, as the API does ("status" is a core term there).
    iri = term if term.startswith("http") else core_context().expand_term(term)
    instances = entity.get("attrs", {}).get(iri)
    if not instances:
        return None
    return instances[0].get("value")


def shelters_from_entities(entities: list[JsonObject], policy: ShelterPolicy,
                           hazard: str) -> Shelters:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    skipped = unknown_capacity = unknown_status = unknown_hazard = 0
    for entity in entities:
        geometry = _value(entity, LOCATION)
        category = _value(entity, "category") or "designatedShelter"
        if category not in policy.categories:
            continue
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            skipped += 1
            continue
        override = policy.overrides.get(entity["id"], {})
        status = override.get("status", _value(entity, "status"))
        if status is None:
            unknown_status += 1
        is_open = policy.open == "all" or (status or policy.status_unknown) == "open"
        capacity = override.get("capacity", _value(entity, "peopleCapacity"))
        known = isinstance(capacity, int | float) and not isinstance(capacity, bool)
        if not known:
            unknown_capacity += 1
            capacity = policy.capacity.get(category, policy.capacity_unknown)
        occupancy = _value(entity, "peopleOccupancy")
        room = np.inf if capacity is None else float(capacity)
        if isinstance(occupancy, int | float) and not isinstance(occupancy, bool):
            room = max(room - float(occupancy), 0.0)
        hazards = _value(entity, "hazardTypes")
        if not hazards:
            unknown_hazard += 1
        eligible = (hazard in hazards) if hazards else policy.hazard_unknown == "allow"
        lon, lat = geometry["coordinates"][:2]
        rows.append({"id": entity["id"], "name": str(_value(entity, "name") or entity["id"]),
                     "lon": lon, "lat": lat, "capacity": room, "known": known,
                     "open": is_open, "eligible": eligible, "category": category})
    for k, temp in enumerate(policy.temporary):
        rows.append({"id": f"scenario:temporary:{k + 1}", "name": temp.name, "lon": temp.lon,
                     "lat": temp.lat, "capacity": temp.capacity, "known": True, "open": True,
                     "eligible": True, "category": "temporaryShelter"})
    if skipped:
        notes.append(f"{skipped} shelters without a point location were left out")
    if unknown_capacity:
        rule = ("treated as unlimited" if policy.capacity_unknown is None and not policy.capacity
                else "given the scenario's capacity per category (unlimited where none)")
        notes.append(f"{unknown_capacity} shelters have no peopleCapacity: {rule}")
    if unknown_status:
        notes.append(f"{unknown_status} shelters have no status: treated as "
                     f"{policy.status_unknown if policy.open == 'live' else 'open (open=all)'}")
    if unknown_hazard:
        notes.append(f"{unknown_hazard} shelters list no hazardTypes: "
                     + ("allowed for every hazard" if policy.hazard_unknown == "allow"
                        else "not used"))
    return _as_shelters(rows, notes)


def _as_shelters(rows: list[dict[str, Any]], notes: list[str]) -> Shelters:
    def column(key: str, kind: Any = float) -> Any:
        return np.array([r[key] for r in rows], dtype=kind)
    return Shelters(ids=[r["id"] for r in rows], names=[r["name"] for r in rows],
                    lon=column("lon"), lat=column("lat"), capacity=column("capacity"),
                    capacity_known=column("known", bool), open=column("open", bool),
                    eligible=column("eligible", bool),
                    categories=[r["category"] for r in rows], notes=notes)


def packaged_kaga_shelters() -> list[JsonObject]:
    """The GSI shelters of Kaga (one per facility) as entities, for offline runs without a
    broker. Their opening status is unknown offline, so it is left out (and reported as
    assumed open), as for shelters nobody has opened or closed yet."""
    from cityos.apps.shelters.entities import shelter_entity
    from cityos.apps.shelters.importers.merge import merge_shelters
    from cityos.apps.shelters.plugin import kaga_demo_shelters
    status_iri = core_context().expand_term("status")
    entities = [shelter_entity(s) for s in merge_shelters(kaga_demo_shelters())]
    for entity in entities:
        entity["attrs"].pop(status_iri, None)
    return entities
