"""What the IoT service needs of a storage backend: device and group records with their
credentials (cityos.iot).

Records are stored as JSON documents next to the columns that are looked up or secret:
the SHA-256 hash of an API key (never the key), and an HMAC key encrypted by the caller
(the store never sees it in clear; re-encrypting every key under a new key is one
transaction, reencrypt_hmac_keys). `last_seen` is a column of its own so that recording a
device's activity never rewrites its record.
"""

from __future__ import annotations

from collections.abc import Callable
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


# Every stored HMAC key (device id → ciphertext) → the new ciphertexts (same device ids).
HmacKeyRewrite = Callable[[dict[str, bytes]], dict[str, bytes]]


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

    async def stored_secret_key(self) -> bytes | None:
        """The generated key kept by `secret_key`, if one is stored (none is created)."""
        ...

    async def reencrypt_hmac_keys(self, reencrypt: HmacKeyRewrite,
                                  forget_secret_key: bool = False) -> int:
        """In one transaction: hand every stored HMAC key (device id → ciphertext) to
        `reencrypt` and store the ciphertexts it returns in their place; with
        `forget_secret_key` also delete the generated key. When `reencrypt` raises, nothing
        changes and the error propagates. Returns how many keys were replaced."""
        ...
