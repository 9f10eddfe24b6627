"""What the IoT service needs of a storage backend: device and group records with their
credentials (cityos.iot).

Records are stored as JSON documents next to the columns that are looked up or secret:
the SHA-256 hash of an API key (never the key), and an HMAC key encrypted by the caller
(the store never sees it in clear). `last_seen` is a column of its own so that recording a
device's activity never rewrites its record.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from cityos.ngsild.types import JsonObject


@dataclass(frozen=True)
class StoredDevice:
    device_id: str
    tenant: str
    doc: JsonObject
    apikey_hash: str
    hmac_key: bytes | None  # encrypted by cityos.iot.credentials
    last_seen: str | None = None


@dataclass(frozen=True)
class StoredGroup:
    tenant: str
    name: str
    doc: JsonObject
    apikey_hash: str | None


class DeviceStore(Protocol):
    async def put_device(self, device: StoredDevice) -> None:
        """Insert or replace the device of that id (its last_seen is kept)."""
        ...

    async def delete_device(self, device_id: str) -> bool:
        ...

    async def all_devices(self) -> list[StoredDevice]:
        ...

    async def put_group(self, group: StoredGroup) -> None:
        ...

    async def delete_group(self, tenant: str, name: str) -> bool:
        ...

    async def all_groups(self) -> list[StoredGroup]:
        ...

    async def record_last_seen(self, seen: list[tuple[str, str]]) -> None:
        """(device id, timestamp) pairs; a missing device is ignored."""
        ...

    async def secret_key(self, candidate: bytes) -> bytes:
        """The key that protects HMAC keys when no key is configured: the stored one, or
        `candidate`, stored now if there was none."""
        ...
