"""Batches (several entities in one `apply`): every row read and locked in one query, the
mutators run in Python, then the writes sent set-based (batch_rows: one statement per
table and kind of change) in one pipeline, whatever the batch size. Nothing is written
for an entity its mutator refuses, and what PostgreSQL could refuse is checked
beforehand (`document_text`), so each entity succeeds or fails alone without a SAVEPOINT
per entity.

An entity changed several times in a batch is written once, in its final state; the
write observers still see every change, in order (`observe_batch` when an observer has
it, else one call per change). New entities get their primary keys from the identity
sequence up front, so that index rows can be written without waiting for `RETURNING`.
Two transactions creating the same id at once: the later one fails on the unique key and
the store runs it again, when the row is visible and locked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection

from cityos.ngsild.errors import NgsiLdError
from cityos.ngsild.types import JsonObject
from cityos.storage.base import MutationResult, Mutator
from cityos.storage.postgres.batch_rows import RowChanges
from cityos.storage.postgres.entity_rows import (
    EntityChange,
    WriteObserver,
    document_text,
    notify_observers,
)

_LOCK = ("SELECT id, pk, doc FROM entities WHERE tenant = %s AND id = ANY(%s) "
         "ORDER BY id FOR UPDATE")
_NEW_KEYS = "SELECT nextval(pg_get_serial_sequence('entities', 'pk')) FROM generate_series(1, %s)"


@dataclass
class _Outcome:
    """One entity's net effect on its rows over the batch."""

    pk: int | None  # of the stored row, None if there was none
    stored: JsonObject | None
    after: JsonObject | None = None
    doc: str | None = None
    ended: bool = False  # deleted at some point in the batch (a re-creation is new)
    # createdAt of the write that created the new row (the column, like the
    # single-entity UPDATE, keeps it when later writes in the batch change the document)
    created_at: str | None = None

    @property
    def replaces_row(self) -> bool:
        return self.pk is not None and (self.after is None or self.ended)

    @property
    def new_row(self) -> bool:
        return self.after is not None and (self.pk is None or self.ended)


async def apply_batch(conn: AsyncConnection[Any], tenant: str,
                      mutations: Sequence[tuple[str, Mutator]],
                      observers: Sequence[WriteObserver]) -> list[MutationResult]:
    ids = list(dict.fromkeys(entity_id for entity_id, _ in mutations))
    rows = await (await conn.execute(_LOCK, (tenant, ids))).fetchall()
    stored: dict[str, tuple[int, JsonObject]] = {entity_id: (pk, doc)
                                                 for entity_id, pk, doc in rows}
    current: dict[str, JsonObject | None] = {i: doc for i, (_, doc) in stored.items()}
    results: list[MutationResult] = []
    changes: list[EntityChange] = []
    outcomes: dict[str, _Outcome] = {}
    for entity_id, mutator in mutations:
        before = current.get(entity_id)
        try:
            after = mutator(before)
            doc = document_text(tenant, after) if after is not None else None
        except NgsiLdError as error:
            results.append(MutationResult(entity_id, None, None, error))
            continue
        results.append(MutationResult(entity_id, before, after))
        if before is None and after is None:
            continue
        changes.append(EntityChange(entity_id, before, after))
        outcome = outcomes.get(entity_id)
        if outcome is None:
            outcome = outcomes[entity_id] = _Outcome(*stored.get(entity_id, (None, None)))
        outcome.after, outcome.doc = after, doc
        outcome.ended = outcome.ended or after is None
        if before is None and after is not None:
            outcome.created_at = after["createdAt"]
        current[entity_id] = after
    rows_changes = await _row_changes(conn, outcomes)
    async with conn.pipeline():  # one round trip for every statement below
        await rows_changes.write(conn, tenant)
        await notify_observers(conn, tenant, observers, changes)
    return results


async def _row_changes(conn: AsyncConnection[Any],
                       outcomes: dict[str, _Outcome]) -> RowChanges:
    fresh = sum(1 for o in outcomes.values() if o.new_row)
    keys: list[int] = []
    if fresh:
        cursor = await conn.execute(_NEW_KEYS, (fresh,))
        keys = [row[0] for row in await cursor.fetchall()]
    new_keys = iter(keys)
    changes = RowChanges()
    for outcome in outcomes.values():
        if outcome.replaces_row:
            assert outcome.pk is not None
            changes.delete(outcome.pk)
        if outcome.after is None:
            continue
        assert outcome.doc is not None
        if outcome.new_row:
            assert outcome.created_at is not None
            changes.insert(next(new_keys), outcome.after, outcome.doc, outcome.created_at)
        else:
            assert outcome.pk is not None and outcome.stored is not None
            changes.update(outcome.pk, outcome.stored, outcome.after, outcome.doc)
    return changes
