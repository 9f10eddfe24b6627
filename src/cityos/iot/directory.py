"""The device directory: provisioning (records and credentials in a DeviceStore, the fed
entity created with its type and location) and the in-memory lookup every message uses.

Every process keeps all device records in memory (thousands of devices are a few MB) and
reloads them from the store periodically, so processes sharing a PostgreSQL database see
each other's provisioning within `RELOAD_SECONDS`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any

from cityos.broker.entities import EntityService
from cityos.iot.credentials import KeyVault, apikey_hash, new_apikey, new_hmac_key
from cityos.iot.device_entities import DeviceEntities
from cityos.iot.model import TOKEN, Device, Group, device_from_json, group_from_json
from cityos.iot.model import parse_device as parse_device_json
from cityos.iot.model import parse_group as parse_group_json
from cityos.iot.secret_keys import open_vault
from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData, ResourceNotFound
from cityos.ngsild.model import parse_entity
from cityos.ngsild.model.names import now_timestamp
from cityos.storage.devices import DeviceStore, StoredDevice, StoredGroup

RELOAD_SECONDS = 15.0


@dataclass(frozen=True)
class DeviceEntry:
    device: Device
    apikey_hash: str
    hmac_key: bytes | None  # in clear, in memory only


@dataclass(frozen=True)
class GroupEntry:
    group: Group
    apikey_hash: str | None


@dataclass(frozen=True)
class Provisioned:
    """What provisioning returns once: the credentials in clear (never stored so)."""

    device: Device
    apikey: str | None  # None: the device uses its group's key
    hmac_key: str | None

    def as_json(self) -> dict[str, Any]:
        body = self.device.as_json()
        if self.apikey is not None:
            body["apikey"] = self.apikey
        if self.hmac_key is not None:
            body["hmac_key"] = self.hmac_key
        return body


class DeviceDirectory:
    def __init__(self, store: DeviceStore, entities: EntityService,
                 secret_setting: str = "", previous_secret_setting: str = "") -> None:
        self._store = store
        self._entities = entities
        self.device_entities = DeviceEntities(entities)
        self._secret_setting = secret_setting
        self._previous_secret_setting = previous_secret_setting
        self._vault: KeyVault | None = None
        self.devices: dict[str, DeviceEntry] = {}
        self.groups: dict[tuple[str, str], GroupEntry] = {}
        self.last_seen: dict[str, str] = {}
        self._loaded: dict[str, tuple[Any, DeviceEntry]] = {}
        self._generation = 0  # changes made by this process, so a reload never undoes one

    async def load(self) -> None:
        """Read every record from the store (at start, then every RELOAD_SECONDS)."""
        if self._vault is None:
            self._vault = await open_vault(self._store, self._secret_setting,
                                           self._previous_secret_setting)
        generation = self._generation
        groups = {(g.tenant, g.name): GroupEntry(group_from_json(g.doc), g.apikey_hash)
                  for g in await self._store.all_groups()}
        loaded: dict[str, tuple[Any, DeviceEntry]] = {}
        for stored in await self._store.all_devices():
            record = (stored.doc, stored.apikey_hash, stored.hmac_key)
            known = self._loaded.get(stored.device_id)
            if known is not None and known[0] == record:  # unchanged: not parsed again
                loaded[stored.device_id] = known
            else:
                hmac_key = None if stored.hmac_key is None \
                    else self._vault.decrypt(stored.hmac_key)
                loaded[stored.device_id] = (record, DeviceEntry(
                    device_from_json(stored.doc), stored.apikey_hash, hmac_key))
            if stored.last_seen and stored.device_id not in self.last_seen:
                self.last_seen[stored.device_id] = stored.last_seen
        if generation != self._generation:
            return  # provisioned meanwhile in this process: this snapshot may be older
        self._loaded = loaded
        self.groups = groups
        self.devices = {device_id: entry for device_id, (_, entry) in loaded.items()}

    # -- the per-message lookup --------------------------------------------------------
    def authenticate(self, apikey: str, device_id: str) -> DeviceEntry | None:
        """The device, if `apikey` is its own key or its group's; None otherwise."""
        entry = self.devices.get(device_id)
        if entry is None:
            return None
        presented = apikey_hash(apikey)
        if hmac.compare_digest(presented, entry.apikey_hash):
            return entry
        group = self.groups.get((entry.device.tenant, entry.device.group or ""))
        if group is not None and group.apikey_hash is not None \
                and hmac.compare_digest(presented, group.apikey_hash):
            return entry
        return None

    def seen(self, device_id: str, at: str) -> None:
        self.last_seen[device_id] = at

    async def flush_last_seen(self) -> None:
        """Write last-seen times to the records and to the Device entities."""
        if self.last_seen:
            await self._store.record_last_seen(list(self.last_seen.items()))
            await self.device_entities.report_last_seen(
                {device_id: e.device for device_id, e in self.devices.items()},
                dict(self.last_seen))

    async def publish_device_entities(self) -> int:
        """Create the Device entity of every device that has none yet (at start)."""
        return await self.device_entities.create_missing(
            [e.device for e in self.devices.values()], dict(self.last_seen))

    # -- provisioning ------------------------------------------------------------------
    async def provision_group(self, raw: Any, tenant: str) -> tuple[Group, str | None]:
        """Create or replace a group; returns it and its API key in clear when it has one
        (given as `apikey`, or generated when `apikey` is true)."""
        group = parse_group_json(raw, tenant)
        apikey = _apikey_of(raw.get("apikey"))
        await self._store.put_group(StoredGroup(tenant, group.name, group.as_json(),
                                                None if apikey is None else apikey_hash(apikey)))
        self._generation += 1
        self.groups[(tenant, group.name)] = GroupEntry(
            group, None if apikey is None else apikey_hash(apikey))
        return group, apikey

    async def remove_group(self, tenant: str, name: str) -> None:
        if any(e.device.tenant == tenant and e.device.group == name
               for e in self.devices.values()):
            raise BadRequestData(f"group {name!r} still has devices; remove them first")
        if not await self._store.delete_group(tenant, name):
            raise ResourceNotFound(f"no group {name!r} in service {tenant!r}")
        self._generation += 1
        self.groups.pop((tenant, name), None)

    def check_device(self, raw: Any, tenant: str) -> Device:
        """The device `raw` describes, or the BadRequestData provisioning would raise for
        it (nothing is written: lets a list be checked whole before any of it is)."""
        group_name = raw.get("group") if isinstance(raw, dict) else None
        group = None
        if group_name is not None:
            group_entry = self.groups.get((tenant, str(group_name)))
            if group_entry is None:
                raise BadRequestData(f"no group {group_name!r} in service {tenant!r}")
            group = group_entry.group
        device = parse_device_json(raw, tenant, group, now_timestamp())
        existing = self.devices.get(device.device_id)
        if existing is not None and existing.device.tenant != tenant:
            raise BadRequestData(f"device id {device.device_id!r} is taken in another service")
        _apikey_of(raw.get("apikey"))
        if device.signed and _hmac_key_of(raw.get("hmac")) is None \
                and (existing is None or existing.hmac_key is None):
            raise BadRequestData("a signed device needs an HMAC key (\"hmac\": true)")
        return device

    async def provision_device(self, raw: Any, tenant: str) -> Provisioned:
        """Create or replace a device and create its entity (type and location) if it is
        missing. Without an `apikey` (and without a group key to share) a key is generated;
        `"hmac": true` generates an HMAC key for signed payloads."""
        device = self.check_device(raw, tenant)
        existing = self.devices.get(device.device_id)
        group = self.groups.get((tenant, device.group)) if device.group else None
        shares_group_key = group is not None and group.apikey_hash is not None
        apikey = _apikey_of(raw.get("apikey"),
                            generate=existing is None and not shares_group_key)
        hmac_key = _hmac_key_of(raw.get("hmac"))
        stored_hash = _device_key_hash(apikey, existing, group is not None)
        key_bytes = hmac_key.encode() if hmac_key else (existing.hmac_key if existing else None)
        await self._store.put_device(StoredDevice(
            device.device_id, tenant, device.as_json(), stored_hash,
            None if key_bytes is None else self._require_vault().encrypt(key_bytes.decode())))
        await self._create_entity(device)
        await self.device_entities.provisioned(device, self.last_seen.get(device.device_id))
        self._generation += 1
        self.devices[device.device_id] = DeviceEntry(device, stored_hash, key_bytes)
        return Provisioned(device, apikey, hmac_key)

    async def remove_device(self, device_id: str) -> Device:
        entry = self.devices.get(device_id)
        if entry is None or not await self._store.delete_device(device_id):
            raise ResourceNotFound(f"no device {device_id!r}")
        self._generation += 1
        del self.devices[device_id]
        self.last_seen.pop(device_id, None)
        await self.device_entities.removed(entry.device)
        return entry.device

    def _require_vault(self) -> KeyVault:
        assert self._vault is not None, "directory is not loaded"
        return self._vault

    async def _create_entity(self, device: Device) -> None:
        body: dict[str, Any] = {"id": device.entity_id, "type": device.entity_type}
        if device.location is not None:
            body["location"] = {"type": "GeoProperty", "value": {
                "type": "Point", "coordinates": list(device.location)}}
        result, _ = await self._entities.batch_upsert(
            device.tenant, [parse_entity(body, core_context())], replace=False)
        if result.errors:
            raise result.errors[0][1]


def _apikey_of(raw: Any, generate: bool = False) -> str | None:
    if raw is True or (raw is None and generate):
        return new_apikey()
    if raw is None or raw is False:
        return None
    if not isinstance(raw, str) or not TOKEN.fullmatch(raw) or len(raw) < 16:
        raise BadRequestData("apikey must be at least 16 characters of A-Z a-z 0-9 . _ ~ -")
    return raw


def _hmac_key_of(raw: Any) -> str | None:
    if raw is True:
        return new_hmac_key()
    if raw is None or raw is False:
        return None
    if not isinstance(raw, str) or not 32 <= len(raw) <= 256:
        raise BadRequestData("hmac must be true (generate a key) or a key of 32–256 characters")
    return raw


def _device_key_hash(apikey: str | None, existing: DeviceEntry | None, grouped: bool) -> str:
    """The device's own key hash: a new key, else the key it had; a grouped device with
    neither authenticates with its group's key only (an unmatchable hash)."""
    if apikey is not None:
        return apikey_hash(apikey)
    if existing is not None:
        return existing.apikey_hash
    assert grouped
    return "group-key-only"
