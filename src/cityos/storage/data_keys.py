"""What field-level encryption needs of a storage backend: the wrapped data keys.

A data key encrypts attribute values; it is stored only wrapped (encrypted) by a master key
of the key file, named by `master_key_id`. Rotating the master key re-wraps every data key
in one transaction; the values they encrypt are not touched."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class WrappedDataKey:
    id: str
    master_key_id: str
    wrapped: str  # base64 of nonce ‖ AES-GCM ciphertext of the key
    created: str


class DataKeyStore(Protocol):
    async def data_keys(self) -> list[WrappedDataKey]:
        """All data keys, oldest first."""
        ...

    async def add_data_key(self, key: WrappedDataKey) -> None: ...

    async def rewrap(self, keys: Sequence[WrappedDataKey]) -> None:
        """Replace the wrapping of these data keys (by id), all in one transaction."""
        ...
