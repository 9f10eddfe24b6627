"""What notification delivery needs of a storage backend: the change journal and the outbox.

The journal holds committed entity changes not yet matched against subscriptions; it is
written inside the entity's own write transaction, so a committed change is never lost to a
crash before matching. The outbox holds notifications not yet delivered; a notification is
in it before its first attempt and leaves it only when delivered (or given up). Matching a
batch of changes inserts its notifications, advances the journal cursor and prunes the
consumed changes in one transaction, so a change is matched exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cityos.ngsild.types import JsonObject


@dataclass(frozen=True)
class JournalEntry:
    """One committed change; `seq` grows in commit order."""

    seq: int
    tenant: str
    entity_id: str
    before: JsonObject | None
    after: JsonObject | None
    committed_at: str


@dataclass(frozen=True)
class NotificationRecord:
    """A notification as stored: `endpoint` is the endpoint's JSON form."""

    tenant: str
    subscription_id: str
    ordering_key: str
    endpoint: JsonObject
    content_type: str
    body: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class OutboxEntry:
    """A stored notification with its delivery state; ids grow in insertion order.
    Times are seconds since the epoch (they must mean the same after a restart)."""

    id: int
    record: NotificationRecord
    created_at: float
    attempts: int = 0
    next_attempt_at: float = 0.0


class DeliveryLog(Protocol):
    """Journal and outbox of one database. `shared`: several processes may deliver from
    it (PostgreSQL); `pending` then hands out only notifications no other live process
    owns, and the delivery service calls `take_over` periodically for those of ended
    ones."""

    shared: bool

    def set_journal_active(self, active: bool) -> None:
        """Record changes in the journal from now on (True) or stop recording (False)."""
        ...

    async def cursor(self) -> int:
        """The seq of the last change matched; changes after it are pending."""
        ...

    async def read_changes(self, after: int, limit: int) -> list[JournalEntry]:
        """Up to `limit` committed changes with seq > `after`, in seq order."""
        ...

    async def commit_matched(self, records: Sequence[NotificationRecord],
                             cursor: int) -> list[OutboxEntry]:
        """In one transaction: add `records` to the outbox, set the cursor, prune the
        journal up to it."""
        ...

    async def add(self, records: Sequence[NotificationRecord]) -> list[OutboxEntry]:
        """Add notifications that come from no journal change (periodic sends)."""
        ...

    async def pending(self, after_id: int, limit: int) -> list[OutboxEntry]:
        """Undelivered notifications with id > `after_id`, in id order (restart)."""
        ...

    async def take_over(self, after_id: int, limit: int) -> list[OutboxEntry]:
        """Undelivered notifications with id > `after_id` that nobody owns or whose
        owner process ended, claimed for this one, in id order (shared logs only)."""
        ...

    async def remove(self, ids: Sequence[int]) -> None:
        """Forget delivered (or abandoned) notifications."""
        ...

    async def reschedule(self, entry_id: int, attempts: int, next_attempt_at: float,
                         error: str) -> None:
        """Remember a failed attempt and when to try again."""
        ...

    async def backlog(self) -> tuple[int, int]:
        """(changes waiting to be matched, notifications waiting to be delivered)."""
        ...
