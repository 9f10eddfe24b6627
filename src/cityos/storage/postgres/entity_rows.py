"""What every entity write shares: the observer hook, the stored text of a document and
the refusal of what PostgreSQL cannot store."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from psycopg import AsyncConnection

from cityos.ngsild.errors import BadRequestData, NgsiLdError
from cityos.ngsild.types import JsonObject

# Called inside the write transaction after each entity change that was written
# (conn, tenant, entity id, before, after; after is None for a deletion). Whatever an
# observer writes commits or rolls back together with the entity itself.
WriteObserver = Callable[[AsyncConnection[Any], str, str, JsonObject | None,
                          JsonObject | None], Awaitable[None]]



@dataclass(frozen=True)
class EntityChange:
    """One written change of a batch, as a write observer sees it."""

    entity_id: str
    before: JsonObject | None
    after: JsonObject | None


class BatchWriteObserver(Protocol):
    """A WriteObserver that can also take a whole batch's changes (in order) at once:
    one statement per batch instead of one per change."""

    async def observe_batch(self, conn: AsyncConnection[Any], tenant: str,
                            changes: Sequence[EntityChange]) -> None: ...


async def notify_observers(conn: AsyncConnection[Any], tenant: str,
                           observers: Sequence[WriteObserver],
                           changes: Sequence[EntityChange]) -> None:
    """Hand a batch's changes to each observer: whole, when it has `observe_batch`."""
    if not changes:
        return
    for observe in observers:
        batch = getattr(observe, "observe_batch", None)
        if batch is not None:
            await batch(conn, tenant, changes)
            continue
        for change in changes:
            await observe(conn, tenant, change.entity_id, change.before, change.after)


MAX_KEY_BYTES = 2000  # tenant + id: a btree entry holds ~2.7 kB


def document_text(tenant: str, entity: JsonObject) -> str:
    """The JSON text stored for an entity; BadRequestData for what PostgreSQL cannot
    store (checked before writing, so that a refused entity never aborts a batch)."""
    doc = orjson.dumps(entity).decode()
    if "\\u0000" in doc:
        raise BadRequestData("PostgreSQL cannot store the NUL character (\\u0000) in text")
    if len(tenant.encode()) + len(entity["id"].encode()) > MAX_KEY_BYTES:
        raise BadRequestData("the entity id is too long for the PostgreSQL backend")
    return doc


def refused(error: Exception) -> NgsiLdError:
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return BadRequestData(f"the database cannot store this entity: {first_line}"[:300])
