"""Keeps each device's NGSI-LD `Device` entity (cityos.iot.device_entity) in step with
its record: written when the device is provisioned, deleted when it is removed, its
dateLastValueReported moved when the last-seen times are flushed, and created at start
for devices provisioned before it existed. Everything goes through the EntityService, so
subscriptions, temporal history, audit and authorization treat Device entities like any
other entity."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from cityos.broker.entities import EntityService
from cityos.iot.device_entity import (
    device_entity,
    device_entity_id,
    last_value_fragment,
    shares_fed_entity,
)
from cityos.iot.model import Device
from cityos.ngsild.context import core_context
from cityos.ngsild.errors import AlreadyExists, ResourceNotFound
from cityos.ngsild.model import parse_entity
from cityos.ngsild.types import JsonObject

log = logging.getLogger("cityos.iot")
# dateLastValueReported moves at most this often per device: every move is an entity
# update with its own temporal history row, and a device may report every second.
REPORT_EVERY = timedelta(minutes=5)
# Entities per write of those updates: small writes, so that measurements queued behind
# them in the storage writer do not wait for a thousand Device updates at once.
REPORT_CHUNK = 100


def _internal(body: JsonObject) -> JsonObject:
    return parse_entity(body, core_context())


class DeviceEntities:
    def __init__(self, entities: EntityService) -> None:
        self._entities = entities
        self._reported: dict[str, str] = {}  # device id → dateLastValueReported written

    async def provisioned(self, device: Device, last_seen: str | None) -> None:
        """Write the device's entity: replaced whole, so what the record no longer says
        disappears; merged instead when it is also the entity the device feeds."""
        body = _internal(device_entity(device, last_seen))
        result, _ = await self._entities.batch_upsert(
            device.tenant, [body], replace=not shares_fed_entity(device))
        if result.errors:
            raise result.errors[0][1]
        if last_seen:
            self._reported[device.device_id] = last_seen

    async def removed(self, device: Device) -> None:
        """Delete the device's entity (unless it is also the fed entity, which stays)."""
        self._reported.pop(device.device_id, None)
        if shares_fed_entity(device):
            return
        with contextlib.suppress(ResourceNotFound):
            await self._entities.delete(device.tenant, device_entity_id(device.device_id))

    async def create_missing(self, devices: Iterable[Device],
                             last_seen: dict[str, str]) -> int:
        """Create the entity of every device that has none (one batch per tenant); the
        ones that exist are left as they are. Returns how many were created."""
        by_tenant: dict[str, list[JsonObject]] = defaultdict(list)
        for device in devices:
            by_tenant[device.tenant].append(
                _internal(device_entity(device, last_seen.get(device.device_id))))
        created = 0
        for tenant, bodies in by_tenant.items():
            result = await self._entities.batch_create(tenant, bodies)
            created += len(result.success)
            for entity_id, error in result.errors:
                if not isinstance(error, AlreadyExists):
                    log.warning("Device entity %s not created: %s", entity_id, error.detail)
        self._reported.update(last_seen)
        return created

    async def report_last_seen(self, devices: dict[str, Device],
                               last_seen: dict[str, str]) -> None:
        """Move dateLastValueReported of the devices heard from since it was last moved,
        once it is REPORT_EVERY behind."""
        by_tenant: dict[str, list[JsonObject]] = defaultdict(list)
        changed = {d: at for d, at in last_seen.items()
                   if d in devices and _due(self._reported.get(d), at)}
        for device_id, at in changed.items():
            by_tenant[devices[device_id].tenant].append(
                _internal(last_value_fragment(device_id, at)))
        for tenant, fragments in by_tenant.items():
            for start in range(0, len(fragments), REPORT_CHUNK):
                result = await self._entities.batch_update(
                    tenant, fragments[start:start + REPORT_CHUNK], overwrite=True)
                if result.errors:
                    log.warning("dateLastValueReported not written for %d Device entities "
                                "(deleted meanwhile?)", len(result.errors))
        self._reported.update(changed)


def _due(reported: str | None, seen: str) -> bool:
    if reported is None:
        return True
    try:
        return datetime.fromisoformat(seen) - datetime.fromisoformat(reported) >= REPORT_EVERY
    except ValueError:  # not a DateTime we wrote: replace it
        return True
