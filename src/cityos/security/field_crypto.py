"""Field-level encryption of personal attributes (CITYOS_PERSONAL_ATTRIBUTES).

Each instance of a personal attribute is stored sealed: the members that carry data
(value, object, json, languageMap, sub-attributes…) are encrypted together with
AES-256-GCM under a data key; what the broker needs to manage the instance (type,
datasetId, createdAt, modifiedAt, observedAt, expiresAt) stays readable. The sealed form,
beside those members, is `{"cityos:sealed": {"dk": DATA_KEY_ID, "n": NONCE, "ct":
CIPHERTEXT}}`; the entity id and attribute IRI are bound in as associated data, so a
ciphertext moved to another entity or attribute no longer opens. Data keys are stored
wrapped by a master key of the key file (cityos.security.keys) and held unwrapped in
memory only.
"""

from __future__ import annotations

import base64
import os
import secrets
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cityos.ngsild.types import JsonObject
from cityos.security.keys import KeyFileError, KeyRing
from cityos.security.personal import PersonalAttributes
from cityos.storage.data_keys import DataKeyStore, WrappedDataKey

SEALED = "cityos:sealed"
OPENED_CACHE = 10_000  # plaintexts of recently opened values kept in memory
DECISION_CACHE = 10_000
KEPT = frozenset({"type", "datasetId", "createdAt", "modifiedAt", "observedAt",
                  "expiresAt", "deletedAt", "instanceId"})


class UnknownDataKey(Exception):
    """A value was sealed with a data key this process has not loaded (yet)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def wrap_key(ring: KeyRing, key_id: str, key: bytes) -> WrappedDataKey:
    nonce = os.urandom(12)
    aad = f"{ring.active}\n{key_id}".encode()
    sealed = AESGCM(ring.active_key).encrypt(nonce, key, aad)
    return WrappedDataKey(key_id, ring.active, _b64(nonce + sealed),
                          datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))


def unwrap_key(ring: KeyRing, wrapped: WrappedDataKey) -> bytes:
    master = ring.master_keys.get(wrapped.master_key_id)
    if master is None:
        raise KeyFileError(f"data key {wrapped.id} is wrapped by master key "
                           f"{wrapped.master_key_id}, which the key file does not hold")
    raw = base64.b64decode(wrapped.wrapped)
    aad = f"{wrapped.master_key_id}\n{wrapped.id}".encode()
    try:
        return AESGCM(master).decrypt(raw[:12], raw[12:], aad)
    except InvalidTag as error:
        raise KeyFileError(f"data key {wrapped.id} does not unwrap with master key "
                           f"{wrapped.master_key_id}") from error


class DataKeyring:
    """The data keys, unwrapped, and the one new values are sealed with (the oldest, so
    that processes starting together agree)."""

    def __init__(self, store: DataKeyStore, ring: KeyRing) -> None:
        self.store = store
        self.ring = ring
        self._keys: dict[str, AESGCM] = {}
        self.active_id = ""

    async def load(self) -> None:
        wrapped = await self.store.data_keys()
        if not wrapped:
            await self.store.add_data_key(
                wrap_key(self.ring, "dk-" + secrets.token_hex(8), AESGCM.generate_key(256)))
            wrapped = await self.store.data_keys()
        self._keys = {w.id: AESGCM(unwrap_key(self.ring, w)) for w in wrapped}
        self.active_id = wrapped[0].id

    def active(self) -> tuple[str, AESGCM]:
        return self.active_id, self._keys[self.active_id]

    def get(self, key_id: str) -> AESGCM:
        key = self._keys.get(key_id)
        if key is None:
            raise UnknownDataKey(key_id)
        return key

    async def rotate(self, new_ring: KeyRing) -> int:
        """Re-wrap every data key with `new_ring`'s active master key (one transaction);
        values are not re-encrypted. Returns how many keys were re-wrapped."""
        wrapped = await self.store.data_keys()
        plain = [(w.id, unwrap_key(self.ring, w)) for w in wrapped]
        await self.store.rewrap([wrap_key(new_ring, key_id, key) for key_id, key in plain])
        self.ring = new_ring
        return len(plain)


class FieldCipher:
    """Seals and opens the personal attributes of entities in the internal form."""

    def __init__(self, keys: DataKeyring, personal: PersonalAttributes) -> None:
        self.keys = keys
        self.personal = personal
        self._decisions: dict[tuple[tuple[str, ...], str], bool] = {}
        # Recently opened ciphertexts → plaintext JSON: the same stored value is opened by
        # every read and write of its entity; AES-GCM and base64 are then skipped.
        # Keyed with the entity and attribute too: a ciphertext copied elsewhere must still
        # fail the associated-data check.
        self._opened: dict[tuple[str, str, str], bytes] = {}

    def _is_personal(self, types: tuple[str, ...], name: str) -> bool:
        key = (types, name)
        decision = self._decisions.get(key)
        if decision is None:
            if len(self._decisions) > DECISION_CACHE:
                self._decisions.clear()
            decision = self._decisions[key] = self.personal.is_personal(types, name)
        return decision

    def _personal_attrs(self, doc: JsonObject) -> list[str]:
        types = tuple(doc.get("type") or ())
        return [name for name in doc.get("attrs", {}) if self._is_personal(types, name)]

    def seal_entity(self, doc: JsonObject | None, previous_sealed: JsonObject | None = None,
                    previous_plain: JsonObject | None = None) -> JsonObject | None:
        """`doc` with its personal attributes sealed; an attribute unchanged since
        `previous_plain` keeps its sealed form from `previous_sealed` (no needless
        re-encryption, so the history sees no change)."""
        if doc is None:
            return None
        names = self._personal_attrs(doc)
        if not names:
            return doc
        attrs = dict(doc["attrs"])
        old_plain = (previous_plain or {}).get("attrs", {})
        old_sealed = (previous_sealed or {}).get("attrs", {})
        for name in names:
            if name in old_sealed and old_plain.get(name) == attrs[name]:
                attrs[name] = old_sealed[name]
            else:
                attrs[name] = [self.seal_instance(doc["id"], name, i) for i in attrs[name]]
        return {**doc, "attrs": attrs}

    def open_entity(self, doc: JsonObject | None) -> JsonObject | None:
        if doc is None:
            return None
        attrs = doc.get("attrs")
        if not attrs or not any(SEALED in i for insts in attrs.values() for i in insts):
            return doc
        opened = {name: [self.open_instance(doc["id"], name, i) for i in instances]
                  for name, instances in attrs.items()}
        return {**doc, "attrs": opened}

    def seal_instance(self, entity_id: str, name: str, instance: JsonObject) -> JsonObject:
        if SEALED in instance:
            return instance
        secret = {k: v for k, v in instance.items() if k not in KEPT}
        key_id, key = self.keys.active()
        nonce = os.urandom(12)
        ciphertext = key.encrypt(nonce, orjson.dumps(secret), _aad(entity_id, name))
        kept = {k: v for k, v in instance.items() if k in KEPT}
        return {**kept, SEALED: {"dk": key_id, "n": _b64(nonce), "ct": _b64(ciphertext)}}

    def open_instance(self, entity_id: str, name: str, instance: JsonObject) -> JsonObject:
        envelope: dict[str, Any] | None = instance.get(SEALED)
        if envelope is None:
            return instance
        ciphertext = str(envelope["ct"])
        cache_key = (entity_id, name, ciphertext)
        secret = self._opened.get(cache_key)
        if secret is None:
            key = self.keys.get(str(envelope["dk"]))
            secret = key.decrypt(base64.b64decode(envelope["n"]), base64.b64decode(ciphertext),
                                 _aad(entity_id, name))
            if len(self._opened) >= OPENED_CACHE:
                self._opened.pop(next(iter(self._opened)))
            self._opened[cache_key] = secret
        kept = {k: v for k, v in instance.items() if k != SEALED}
        return {**kept, **orjson.loads(secret)}


def _aad(entity_id: str, name: str) -> bytes:
    return f"{entity_id}\n{name}".encode()
