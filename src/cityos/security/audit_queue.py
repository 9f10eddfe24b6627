"""The in-memory audit queue: entries wait here, as scalars, until a batch is sealed.

Each queued entry is `WIDTH` consecutive items of one flat list — strings, numbers and
None, never a tuple or object per entry. Python's cycle collector counts every container
allocated and not yet freed; thousands of queued named tuples (one per request) made it
run its generational passes, full passes over the whole heap included, and that cost
about as much as building, sealing and storing the entries together (measured: ~10 µs
per request at a few thousand requests/s). Strings and numbers are not collector objects,
so the flat queue costs it nothing; the batch is turned into rows lazily, one row at a
time, while the backend inserts them.

Layout of one entry: `at, subject, kind, client_id, issuer, tenant, operation, template,
target, purpose, result, remote, request_id`. A request is queued with `at` as epoch
seconds, `operation` the method and `template` the route template, `result` the status
code; the time text, "METHOD template" and the result text are formatted in the batch.
An admin action is queued with `at` already formatted and `template` None.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from cityos.storage.audit import AuditEntry

WIDTH = 13


def time_formatter() -> Callable[[float], str]:
    """Formats epoch seconds as ISO 8601 UTC with microseconds, each whole second once
    (one formatter per batch: its entries span a few seconds at most)."""
    seconds: dict[int, str] = {}

    def text(at: float) -> str:
        whole = int(at)
        head = seconds.get(whole)
        if head is None:
            head = seconds[whole] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        return f"{head}.{int((at - whole) * 1_000_000):06d}Z"
    return text


def queued_entry(entry: AuditEntry) -> tuple[Any, ...]:
    """The queue items of a finished entry (admin actions)."""
    return (entry.time, entry.subject, entry.kind, entry.client_id, entry.issuer,
            entry.tenant, entry.operation, None, entry.target, entry.purpose, entry.result,
            entry.remote, entry.request_id)


def entry_fields(queue: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """The `AuditEntry` fields of each queued entry, in order, one tuple at a time."""
    text = time_formatter()
    for start in range(0, len(queue) - WIDTH + 1, WIDTH):
        (at, subject, kind, client_id, issuer, tenant, operation, template, target,
         purpose, result, remote, request_id) = queue[start:start + WIDTH]
        if template is not None:
            at, operation, result = text(at), f"{operation} {template}", str(result)
        yield (at, subject, kind, client_id, issuer, tenant, operation, target, purpose,
               result, remote, request_id)


def entries(queue: Sequence[Any]) -> list[AuditEntry]:
    """The queued entries as `AuditEntry`s (tests, diagnostics)."""
    return [AuditEntry(*fields) for fields in entry_fields(queue)]
