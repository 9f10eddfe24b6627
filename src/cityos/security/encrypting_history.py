"""The temporal history and the change journal around field-level encryption.

`SealingHistory` wraps a TemporalStore: instances written through the temporal API are
sealed before they are stored (as the entity store's write observer already records sealed
instances), and instances read back are opened. Aggregation over a personal attribute is
refused: its values are not readable by the database. `OpeningJournal` wraps the
notification DeliveryLog so that subscriptions match, and notify with, opened entities,
while the notification bodies waiting in the outbox are sealed too (they may carry
personal attributes).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.temporal.diff import HistoryRecord
from cityos.ngsild.types import JsonObject
from cityos.security.encrypting_store import EncryptingStore
from cityos.security.field_crypto import FieldCipher
from cityos.storage.base import (
    AggregateRequest,
    Mutator,
    SeriesFollower,
    TemporalEntityRecord,
    TemporalSelection,
    TemporalWrite,
)
from cityos.storage.delivery import JournalEntry, NotificationRecord, OutboxEntry

OUTBOX_AAD = b"cityos:outbox"
SEALED_BODY = b"cityos:sealed:"


class SealingHistory:
    def __init__(self, inner: Any, store: EncryptingStore) -> None:
        self.inner = inner
        self.store = store
        self.cipher: FieldCipher = store.cipher

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # head, candidates, deletes, purge

    def _seal_records(self, entity_id: str, types: list[str],
                      records: Sequence[Any]) -> list[Any]:
        sealed = []
        for record in records:
            if isinstance(record, HistoryRecord) and \
                    self.cipher.personal.is_personal(types, record.attribute):
                record = HistoryRecord(record.attribute, self.cipher.seal_instance(
                    entity_id, record.attribute, record.instance))
            sealed.append(record)
        return sealed

    def _mutator(self, mutator: Mutator | None) -> Mutator | None:
        return None if mutator is None else self.store._sealing(mutator)

    def _opened(self, write: TemporalWrite) -> TemporalWrite:
        """The current entity's change as events carry it: opened."""
        if write.change is None:
            return write
        change = replace(write.change, before=self.cipher.open_entity(write.change.before),
                         after=self.cipher.open_entity(write.change.after))
        return replace(write, change=change)

    def _follower(self, entity_id: str, attribute: str,
                  follow: SeriesFollower | None) -> SeriesFollower | None:
        """`follow` given opened instances, its mutator sealing what it writes."""
        if follow is None:
            return None
        cipher = self.cipher

        def sealed_follow(touched: JsonObject, latest: JsonObject | None) -> Mutator | None:
            opened = None if latest is None else cipher.open_instance(entity_id, attribute,
                                                                      latest)
            return self._mutator(follow(cipher.open_instance(entity_id, attribute, touched),
                                        opened))
        return sealed_follow

    async def append(self, tenant: str, entity_id: str, types: list[str],
                     records: Sequence[Any], mutator: Mutator | None) -> TemporalWrite:
        return self._opened(await self.inner.append(
            tenant, entity_id, types, self._seal_records(entity_id, types, records),
            self._mutator(mutator)))

    async def delete_entity(self, tenant: str, entity_id: str,
                            mutator: Mutator | None) -> TemporalWrite:
        return self._opened(await self.inner.delete_entity(tenant, entity_id,
                                                           self._mutator(mutator)))

    async def delete_attribute(self, tenant: str, entity_id: str, attribute: str,
                               dataset_id: str | None, delete_all: bool,
                               mutator: Mutator | None = None) -> TemporalWrite:
        return self._opened(await self.inner.delete_attribute(
            tenant, entity_id, attribute, dataset_id, delete_all, self._mutator(mutator)))

    async def update_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str,
                              change: Callable[[JsonObject], JsonObject],
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        cipher = self.cipher

        def sealed_change(old: JsonObject) -> JsonObject:
            if "cityos:sealed" not in old:
                return change(old)
            new = change(cipher.open_instance(entity_id, attribute, old))
            return cipher.seal_instance(entity_id, attribute, new)

        return self._opened(await self.inner.update_instance(
            tenant, entity_id, attribute, instance_id, sealed_change,
            self._follower(entity_id, attribute, follow)))

    async def delete_instance(self, tenant: str, entity_id: str, attribute: str,
                              instance_id: str,
                              follow: SeriesFollower | None = None) -> TemporalWrite:
        return self._opened(await self.inner.delete_instance(
            tenant, entity_id, attribute, instance_id,
            self._follower(entity_id, attribute, follow)))

    async def instances(self, tenant: str, entity_ids: Sequence[str],
                        selection: TemporalSelection) -> dict[str, TemporalEntityRecord]:
        found: dict[str, TemporalEntityRecord] = await self.inner.instances(
            tenant, entity_ids, selection)
        for entity_id, record in found.items():
            record.attrs = {name: [self.cipher.open_instance(entity_id, name, instance)
                                   for instance in instances]
                            for name, instances in record.attrs.items()}
        return found

    async def aggregate(self, tenant: str, entity_ids: Sequence[str],
                        request: AggregateRequest) -> dict[str, dict[str, list[Any]]]:
        self._refuse_if_sealed(request.selection.attrs)
        result: dict[str, dict[str, list[Any]]] = await self.inner.aggregate(
            tenant, entity_ids, request)
        return result

    def _refuse_if_sealed(self, asked: frozenset[str] | None) -> None:
        personal = self.cipher.personal
        names = personal.everywhere | {attr for _, attr in personal.by_type}
        hit = sorted(names & (asked or frozenset()))
        if hit:
            raise BadRequestData(
                f"attribute(s) {', '.join(hit)} hold personal data stored encrypted; "
                "temporal aggregation cannot read them (select other attributes with attrs)")


class OpeningJournal:
    """A DeliveryLog whose journal entries come back with opened entities."""

    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self.inner = inner
        self.cipher = cipher

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set_journal_active(self, active: bool) -> None:
        self.inner.set_journal_active(active)

    async def read_changes(self, after: int, limit: int) -> list[JournalEntry]:
        entries: list[JournalEntry] = await self.inner.read_changes(after, limit)
        return [replace(e, before=self.cipher.open_entity(e.before),
                        after=self.cipher.open_entity(e.after)) for e in entries]

    def _seal(self, record: NotificationRecord) -> NotificationRecord:
        key_id, key = self.cipher.keys.active()
        nonce = os.urandom(12)
        sealed = key.encrypt(nonce, record.body, OUTBOX_AAD)
        return replace(record, body=SEALED_BODY + key_id.encode() + b":" + nonce + sealed)

    def _open(self, entry: OutboxEntry) -> OutboxEntry:
        body = entry.record.body
        if not body.startswith(SEALED_BODY):
            return entry
        key_id, rest = body[len(SEALED_BODY):].split(b":", 1)
        key = self.cipher.keys.get(key_id.decode())
        plain = key.decrypt(rest[:12], rest[12:], OUTBOX_AAD)
        return replace(entry, record=replace(entry.record, body=plain))

    async def commit_matched(self, records: Sequence[NotificationRecord],
                             cursor: int) -> list[OutboxEntry]:
        entries = await self.inner.commit_matched([self._seal(r) for r in records], cursor)
        return [self._open(e) for e in entries]

    async def add(self, records: Sequence[NotificationRecord]) -> list[OutboxEntry]:
        entries = await self.inner.add([self._seal(r) for r in records])
        return [self._open(e) for e in entries]

    async def pending(self, after_id: int, limit: int) -> list[OutboxEntry]:
        return [self._open(e) for e in await self.inner.pending(after_id, limit)]
