"""Shelter operations on the broker: reading all shelters, staff updates, temporary
shelters and imports. Every write goes through the EntityService, so subscriptions,
temporal history (who changed what, when) and the event bus see it."""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Iterable
from dataclasses import replace

from cityos.apps.shelters.entities import (
    assignment_fragment,
    readable_shelter,
    registry_entity,
    shelter_entity,
    staff_fragment,
)
from cityos.apps.shelters.importers.merge import merge_shelters
from cityos.apps.shelters.model import (
    ID_PREFIX,
    SHELTER_KINDS,
    SHELTER_TYPE,
    CrowdingThresholds,
    Shelter,
    ShelterError,
    StaffUpdate,
    apply_update,
    people_count,
    validate_location,
)
from cityos.broker.entities import BatchResult, EntityService
from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.query import parse_type_expression
from cityos.storage.base import EntityQuery

log = logging.getLogger(__name__)
TENANT = ""
PAGE = 500
# Ids of the earlier demo loader, one entity per GSI record and category (replaced by one
# shelter per facility).
_OLD_DEMO_ID = re.compile(r"^urn:ngsi-ld:EvacuationShelter:E\d+:(designatedShelter|"
                          r"emergencyEvacuationSite)$")


class ShelterService:
    def __init__(self, entities: EntityService, thresholds: CrowdingThresholds) -> None:
        self.entities = entities
        self.thresholds = thresholds

    async def all_shelters(self) -> list[Shelter]:
        types = parse_type_expression(SHELTER_TYPE, core_context().expand_term)
        shelters: list[Shelter] = []
        offset = 0
        while True:
            page = await self.entities.store.query_entities(
                TENANT, EntityQuery(types=types, limit=PAGE, offset=offset))
            found = (readable_shelter(e) for e in page.entities)
            shelters.extend(s for s in found if s is not None)
            offset += len(page.entities)
            if len(page.entities) < PAGE:
                return shelters

    async def get(self, shelter_id: str) -> Shelter:
        shelter = readable_shelter(await self.entities.retrieve(TENANT, shelter_id))
        if shelter is None:
            raise BadRequestData(f"{shelter_id} has no Point location or values of the "
                                 "expected kinds; fix it through the NGSI-LD API")
        return shelter

    async def update(self, shelter_id: str, update: StaffUpdate, subject: str) -> Shelter:
        before = await self.get(shelter_id)
        after = apply_update(before, update, self.thresholds, subject)
        await self.entities.merge(TENANT, shelter_id, staff_fragment(before, after))
        log.info("shelter %s updated by %s: %s", shelter_id, subject, update)
        return await self.get(shelter_id)

    async def assign(self, shelter_id: str, subjects: tuple[str, ...], by: str) -> Shelter:
        """Make `subjects` (operator:USERNAME) the staff responsible for a shelter."""
        await self.get(shelter_id)  # ResourceNotFound for an unknown shelter
        await self.entities.merge(TENANT, shelter_id, assignment_fragment(subjects))
        log.info("shelter %s assigned to %s by %s", shelter_id, list(subjects), by)
        return await self.get(shelter_id)

    async def add_temporary(self, name: str, kind: str, lon: object, lat: object,
                            address: str | None, capacity: object, subject: str) -> Shelter:
        name = name.strip()
        if not name or len(name) > 200:
            raise ShelterError("a name (at most 200 characters) is needed")
        if kind not in SHELTER_KINDS:
            raise ShelterError("kind must be one of " + ", ".join(SHELTER_KINDS))
        x, y = validate_location(lon, lat)
        shelter = Shelter(
            id=f"{ID_PREFIX}temporary-{uuid.uuid4().hex[:12]}", name=name, lon=x, lat=y,
            category="temporaryShelter", shelter_kind=kind,
            street_address=(address or "").strip() or None,
            capacity=None if capacity in (None, "") else people_count(capacity, "capacity"),
            status="closed", responsible_staff=(subject,) if subject.startswith(
                "operator:") else (), updated_by=subject)
        await self.entities.create(TENANT, shelter_entity(shelter))
        log.info("temporary shelter %s added by %s", shelter.id, subject)
        return shelter

    async def import_shelters(self, shelters: Iterable[Shelter]) -> BatchResult:
        """Create or update shelters from a register (one per facility, see merge.py);
        what staff set on existing shelters stays."""
        stored = await self.all_shelters()
        merged = merge_shelters(shelters, stored)
        known = {s.id for s in stored}
        fresh = [replace(s, status="closed") for s in merged if s.id not in known]
        outcome = BatchResult()
        if fresh:
            created = await self.entities.batch_create(TENANT, [shelter_entity(s)
                                                                 for s in fresh])
            outcome.success += created.success
            outcome.errors += created.errors
        existing = [registry_entity(s) for s in merged if s.id in known]
        if existing:
            updated, _ = await self.entities.batch_upsert(TENANT, existing, replace=False)
            outcome.success += updated.success
            outcome.errors += updated.errors
        return outcome

    async def remove_old_demo_entities(self) -> int:
        """Delete shelters stored under the earlier demo id scheme (…:<共通ID>:<category>)."""
        old = [s.id for s in await self.all_shelters() if _OLD_DEMO_ID.match(s.id)]
        if old:
            await self.entities.batch_delete(TENANT, old)
        return len(old)
