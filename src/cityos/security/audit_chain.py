"""The audit hash chain: sealing entries and verifying a sequence of records (pure).

record.hash = SHA-256(prev_hash ‖ canonical JSON of [seq, entry fields…]), hex. The first
record's prev_hash is the genesis (64 zeros), or after retention the hash of the last
deleted record, which a signed checkpoint (the anchor) vouches for. Editing a record breaks
its own hash; removing one leaves a gap in seq; re-ordering breaks the link to the
previous hash; rewriting the whole tail is caught by a signed checkpoint.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityos.storage.audit import AuditEntry, AuditHead, AuditRecord, AuditRow


def record_hash(seq: int, entry: AuditEntry, prev_hash: str) -> str:
    content = orjson.dumps([seq, *entry])
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def seal_rows(head: AuditHead, entries: Iterable[tuple[Any, ...]]) -> Iterator[AuditRow]:
    """As `seal`, for the write path: each entry's fields as a tuple in, each record as
    its table row `(seq, *fields, prev_hash, hash)` out, one at a time while the backend
    inserts them (no batch of objects for Python's cycle collector to chase)."""
    seq, prev = head.seq, head.hash
    for fields in entries:
        seq += 1
        content = (seq, *fields)
        digest = hashlib.sha256(prev.encode() + b"\n" + orjson.dumps(content)).hexdigest()
        yield (*content, prev, digest)
        prev = digest


def seal(head: AuditHead, entries: Sequence[AuditEntry]) -> list[AuditRecord]:
    """Chain `entries` after `head`: consecutive seq numbers, each hash over the previous."""
    sealed = []
    seq, prev = head.seq, head.hash
    for entry in entries:
        seq += 1
        digest = record_hash(seq, entry, prev)
        sealed.append(AuditRecord(seq, entry, prev, digest))
        prev = digest
    return sealed


@dataclass(frozen=True)
class ChainBreak:
    """The first record that does not verify: seq and what is wrong
    ("edited", "removed", "re-ordered", "truncated")."""

    seq: int
    problem: str
    detail: str


class ChainVerifier:
    """Feeds records in seq order (in pages) and remembers the first break."""

    def __init__(self, start: AuditHead) -> None:
        self.head = start
        self.checked = 0
        self.broken: ChainBreak | None = None

    def feed(self, records: Iterable[AuditRecord]) -> None:
        for record in records:
            if self.broken is not None:
                return
            self.broken = self._check(record)
            self.checked += 1
            self.head = AuditHead(record.seq, record.hash)

    def _check(self, record: AuditRecord) -> ChainBreak | None:
        expected = self.head.seq + 1
        if record.seq != expected:
            return ChainBreak(expected, "removed",
                              f"records {expected}..{record.seq - 1} are missing")
        links = record.prev_hash == self.head.hash
        intact = record_hash(record.seq, record.entry, record.prev_hash) == record.hash
        if links and not intact:
            return ChainBreak(record.seq, "edited",
                              "the record's content does not match its hash")
        if not links:
            return ChainBreak(record.seq, "re-ordered",
                              "the record does not follow the previous record "
                              "(previous hash does not link)")
        return None
