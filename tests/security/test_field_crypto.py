"""Sealing and opening attribute instances: what stays readable, what is hidden, and a
ciphertext moved to another entity or attribute not opening (cache included)."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from cityos.security.field_crypto import SEALED, DataKeyring, FieldCipher
from cityos.security.keys import generate_key_ring
from cityos.security.personal import PersonalAttributes
from cityos.storage.data_keys import WrappedDataKey

PHONE = "https://uri.etsi.org/ngsi-ld/default-context/phoneNumber"


class MemoryKeys:
    def __init__(self) -> None:
        self.keys: list[WrappedDataKey] = []

    async def data_keys(self) -> list[WrappedDataKey]:
        return list(self.keys)

    async def add_data_key(self, key: WrappedDataKey) -> None:
        self.keys.append(key)

    async def rewrap(self, keys: list[WrappedDataKey]) -> None:
        by_id = {k.id: k for k in keys}
        self.keys = [by_id.get(k.id, k) for k in self.keys]


@pytest.fixture
async def cipher() -> FieldCipher:
    keyring = DataKeyring(MemoryKeys(), generate_key_ring())
    await keyring.load()
    return FieldCipher(keyring, PersonalAttributes.parse("phoneNumber"))


def entity(entity_id: str, phone: str) -> dict[str, object]:
    return {"id": entity_id, "type": ["https://uri.etsi.org/ngsi-ld/default-context/Evacuee"],
            "attrs": {PHONE: [{"type": "Property", "value": phone,
                               "observedAt": "2026-01-01T00:00:00Z", "datasetId": "urn:d"}]}}


async def test_sealed_instance_keeps_management_members_only(cipher: FieldCipher) -> None:
    sealed = cipher.seal_entity(entity("urn:a", "0761-1"))
    assert sealed is not None
    [instance] = sealed["attrs"][PHONE]  # type: ignore[index]
    assert set(instance) == {"type", "observedAt", "datasetId", SEALED}
    assert "0761-1" not in str(instance)
    assert cipher.open_entity(sealed) == entity("urn:a", "0761-1")


async def test_each_seal_uses_a_fresh_nonce(cipher: FieldCipher) -> None:
    one = cipher.seal_entity(entity("urn:a", "same"))
    two = cipher.seal_entity(entity("urn:a", "same"))
    assert one != two


async def test_a_ciphertext_moved_to_another_entity_does_not_open(cipher: FieldCipher) -> None:
    sealed = cipher.seal_entity(entity("urn:a", "0761-1"))
    assert sealed is not None
    cipher.open_entity(sealed)  # now in the cache of opened values
    moved = {**sealed, "id": "urn:b"}
    with pytest.raises(InvalidTag):
        cipher.open_entity(moved)


async def test_rotation_rewraps_and_old_ciphertexts_still_open(cipher: FieldCipher) -> None:
    sealed = cipher.seal_entity(entity("urn:a", "0761-1"))
    ring = cipher.keys.ring.with_new_master_key()
    assert await cipher.keys.rotate(ring) == 1
    fresh = DataKeyring(cipher.keys.store, ring.without({k for k in ring.master_keys
                                                        if k != ring.active}))
    await fresh.load()
    reopened = FieldCipher(fresh, cipher.personal).open_entity(sealed)
    assert reopened == entity("urn:a", "0761-1")
