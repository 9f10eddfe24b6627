"""What the audit trail needs of a storage backend: an append-only, hash-chained log.

Records are appended in batches; each batch is sealed (sequence numbers and hashes assigned)
inside the transaction that inserts it, after reading the current head under a lock, so
several server processes sharing one database still build one unbroken chain. Retention
deletes the oldest records and keeps, in the same transaction, the checkpoint that anchors
the first record kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

GENESIS_HASH = "0" * 64


class AuditEntry(NamedTuple):
    """One audited action, before it is sealed into the chain (a named tuple: one is made
    per request, and tuples are the cheapest to make and to hash). `time` is ISO 8601 UTC;
    `result` the HTTP status code, or an admin action's outcome ("ok", "denied"…)."""

    time: str
    subject: str
    kind: str
    client_id: str | None
    issuer: str | None
    tenant: str | None
    operation: str
    target: str | None
    purpose: str | None
    result: str
    remote: str | None
    request_id: str | None


class AuditRecord(NamedTuple):
    """A sealed entry: `hash` covers seq, the entry and `prev_hash` (a named tuple: one
    is made per request in each batch)."""

    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class AuditHead:
    """The last sealed record (or the anchor of retention, or the genesis)."""

    seq: int
    hash: str


GENESIS = AuditHead(0, GENESIS_HASH)

# One sealed record as its table row: (seq, the 12 entry fields in order, prev_hash,
# hash), a plain tuple.
AuditRow = tuple[Any, ...]

# Seals a batch on top of the head into rows, lazily: pure
# (cityos.security.audit.seal_queued, which builds the entries of the queue and chains
# them with cityos.security.audit_chain.seal_rows).
Sealer = Callable[[AuditHead, Sequence[Any]], Iterator[AuditRow]]


class AuditLog(Protocol):
    async def append(self, entries: Sequence[Any], seal: Sealer) -> None:
        """In one transaction: read the head under a lock, seal `entries` on top of it
        (the sealer decides what they are) and insert the rows as it yields them."""
        ...

    async def records(self, after_seq: int, limit: int, *, since: str | None = None,
                      until: str | None = None) -> list[AuditRecord]:
        """Up to `limit` records with seq > `after_seq` in seq order, optionally only
        those with since <= time < until."""
        ...

    async def head(self) -> AuditHead:
        """The last record, or the anchor when retention deleted everything, or GENESIS."""
        ...

    async def anchor(self) -> dict[str, Any] | None:
        """The checkpoint of the last record retention deleted (the chain continues from
        it), or None if nothing was ever deleted."""
        ...

    async def purge_through(self, seq: int, anchor: dict[str, Any]) -> int:
        """Delete the records with seq <= `seq` and keep `anchor` (the checkpoint of
        record `seq`) in the same transaction; returns how many were deleted."""
        ...

    async def save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Keep a signed checkpoint (its "size" is the seq it covers)."""
        ...

    async def latest_checkpoint(self) -> dict[str, Any] | None: ...
