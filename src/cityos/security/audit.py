"""The audit trail: who did what, to which target, for what purpose, with what result.

Every API call (see audit_middleware) and every admin action (`record_admin_action`)
becomes an `AuditEntry`. Entries wait in memory and are sealed into the hash chain in
batches by a background task, one transaction per batch, every `flush_interval` seconds
(sooner when `BATCH_MAX` wait): a request never waits for the audit write. The price: a
crash of the process loses at most the entries of the last `flush_interval` seconds;
a clean shutdown loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cityos.metrics import Counters
from cityos.security.audit_chain import ChainBreak, ChainVerifier, seal_rows
from cityos.security.audit_checkpoint import checkpoint_problem, sign_checkpoint
from cityos.security.audit_queue import WIDTH, entry_fields, queued_entry
from cityos.security.events import SecurityEvent, SecurityEvents
from cityos.security.keys import KeyRing
from cityos.security.principal import Principal
from cityos.storage.audit import (
    GENESIS,
    AuditEntry,
    AuditHead,
    AuditLog,
    AuditRecord,
    AuditRow,
)

log = logging.getLogger("cityos.audit")
BATCH_MAX = 2000
# Entries kept while the database cannot be written; beyond, new entries are dropped and
# counted (cityos_audit_dropped_total) rather than exhausting memory.
MAX_PENDING = 200_000
PAGE = 2000


_second: list[Any] = [-1, ""]  # the last whole second formatted, reused within it


def now_text() -> str:
    """The current time, ISO 8601 UTC with microseconds (cheap: once per request)."""
    now = time.time()
    whole = int(now)
    if whole != _second[0]:
        _second[:] = [whole, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))]
    return f"{_second[1]}.{int((now - whole) * 1_000_000):06d}Z"


def seal_queued(head: AuditHead, queue: Sequence[Any]) -> Iterator[AuditRow]:
    """The sealer the trail hands the backend: builds each queued entry's fields and
    chains them into rows, lazily, while the backend inserts them (in its write, off the
    request path)."""
    return seal_rows(head, entry_fields(queue))


def record_json(record: AuditRecord) -> dict[str, Any]:
    """The export form of a record (one JSON line of `cityos audit export`)."""
    entry = record.entry._asdict()
    return {"seq": record.seq, **{_camel(k): v for k, v in entry.items()},
            "prevHash": record.prev_hash, "hash": record.hash}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class AuditReport:
    """The outcome of `AuditTrail.verify`: `broken` names the first record that does not
    verify; `problems` lists checkpoint failures."""

    checked: int
    head: AuditHead
    broken: ChainBreak | None
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.broken is None and not self.problems

    def describe(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.checked} records verified, head {self.head.seq}"
        lines = [f"audit trail BROKEN after checking {self.checked} records"]
        if self.broken is not None:
            lines.append(f"record {self.broken.seq}: {self.broken.problem}: "
                         f"{self.broken.detail}")
        lines += self.problems
        return "\n".join(lines)


class AuditTrail:
    """Reachable as `platform.audit` and `app.state.audit`. With `log` None (CITYOS_AUDIT
    off) every call is accepted and nothing is recorded."""

    def __init__(self, audit_log: AuditLog | None, counters: Counters, *,
                 keys: KeyRing | None = None, flush_interval: float = 0.2,
                 retention_days: float = 0.0) -> None:
        self.log = audit_log
        self.keys = keys
        self._counters = counters
        self._flush_interval = flush_interval
        self._retention_days = retention_days
        self._pending: list[Any] = []  # WIDTH items per entry (audit_queue)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flush_lock = asyncio.Lock()

    @property
    def enabled(self) -> bool:
        return self.log is not None

    def record(self, entry: AuditEntry) -> None:
        """Queue one entry (cheap, never blocks); the flusher seals and stores it."""
        self.record_request(queued_entry(entry))

    def record_request(self, items: tuple[Any, ...]) -> None:
        """Queue one entry as its `WIDTH` queue items (cityos.security.audit_queue)."""
        if self.log is None:
            return
        pending = self._pending
        if len(pending) >= MAX_PENDING * WIDTH:
            self._counters.inc("cityos_audit_dropped_total",
                               "Audit entries dropped: the database could not be "
                               "written and the queue was full.")
            return
        pending.extend(items)
        if len(pending) >= BATCH_MAX * WIDTH:
            self._wake.set()

    @property
    def queued(self) -> int:
        """Entries waiting to be sealed."""
        return len(self._pending) // WIDTH

    def record_admin_action(self, principal: Principal, action: str, target: str | None,
                            result: str, *, tenant: str | None = None,
                            purpose: str | None = None, remote: str | None = None,
                            request_id: str | None = None) -> None:
        """Audit an admin action (operation "ADMIN <action>"), e.g.
        record_admin_action(principal, "apikey.revoke", "key:42", "ok")."""
        self.record(AuditEntry(
            time=now_text(), subject=principal.subject, kind=principal.kind,
            client_id=principal.client_id, issuer=principal.issuer, tenant=tenant,
            operation=f"ADMIN {action}", target=target, purpose=purpose, result=str(result),
            remote=remote, request_id=request_id))

    async def flush(self) -> int:
        """Seal and store what is queued; returns how many records were written."""
        if self.log is None:
            return 0
        async with self._flush_lock:
            batch, self._pending = self._pending, []
            if not batch:
                return 0
            try:
                await self.log.append(batch, seal_queued)
            except Exception:
                self._pending[:0] = batch  # kept for the next try, in order
                self._counters.inc("cityos_audit_write_failures_total",
                                   "Audit batches that could not be stored (retried).")
                raise
            self._counters.inc("cityos_audit_records_total", "Audit records stored.",
                               amount=len(batch) // WIDTH)
            return len(batch) // WIDTH

    async def start(self) -> None:
        if self.log is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="cityos-audit-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._flush_interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("audit flush failed; retrying")

    # -- verification, checkpoints, export, retention --------------------------------------
    async def verify(self, extra_checkpoints: Sequence[dict[str, Any]] = (),
                     public_key: str | None = None) -> AuditReport:
        """Recompute the chain from its anchor; check the stored checkpoints (and
        `extra_checkpoints`, e.g. exported earlier) against it and their signatures."""
        assert self.log is not None, "audit is off"
        await self.flush()
        key = public_key or (self.keys.public_key_text() if self.keys else None)
        anchor = await self.log.anchor()
        start = GENESIS if anchor is None else AuditHead(int(anchor["size"]), anchor["head"])
        checkpoints = [c for c in [anchor, await self.log.latest_checkpoint(),
                                   *extra_checkpoints] if c is not None]
        problems = [f"checkpoint {c.get('size')}: {p}" for c in checkpoints
                    if key is not None and (p := checkpoint_problem(c, key)) is not None]
        expected = {int(c["size"]): str(c["head"]) for c in checkpoints
                    if int(c["size"]) > start.seq}
        verifier = ChainVerifier(start)
        while verifier.broken is None:
            page = await self.log.records(verifier.head.seq, PAGE)
            if not page:
                break
            verifier.feed(page)
            problems += _checkpoint_mismatches(page, expected)
        for size in sorted(s for s in expected if s > verifier.head.seq):
            problems.append(f"checkpoint {size}: records after {verifier.head.seq} are "
                            f"missing (truncated)")
        return AuditReport(verifier.checked, verifier.head, verifier.broken, tuple(problems))

    async def checkpoint(self) -> dict[str, Any]:
        """Sign the current head with the audit key and keep the checkpoint."""
        assert self.log is not None, "audit is off"
        if self.keys is None:
            raise RuntimeError("signed checkpoints need a key file (CITYOS_KEY_FILE)")
        await self.flush()
        signed = sign_checkpoint(await self.log.head(), self.keys)
        await self.log.save_checkpoint(signed)
        return signed

    async def export(self, since: str | None = None,
                     until: str | None = None) -> AsyncIterator[dict[str, Any]]:
        assert self.log is not None, "audit is off"
        await self.flush()
        after = 0
        while page := await self.log.records(after, PAGE, since=since, until=until):
            for record in page:
                yield record_json(record)
            after = page[-1].seq

    async def apply_retention(self, now: datetime | None = None) -> int:
        """Delete records older than the retention, anchoring the chain with a signed
        checkpoint of the last deleted record. Nothing is deleted from a broken chain."""
        if self.log is None or self._retention_days <= 0 or self.keys is None:
            return 0
        cutoff = ((now or datetime.now(UTC)) - timedelta(days=self._retention_days))
        last = await self._last_before(cutoff.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        if last is None or not (await self.verify()).ok:
            return 0
        anchor = sign_checkpoint(AuditHead(last.seq, last.hash), self.keys)
        return await self.log.purge_through(last.seq, anchor)

    async def _last_before(self, cutoff: str) -> AuditRecord | None:
        assert self.log is not None
        last: AuditRecord | None = None
        after = (await self.log.anchor() or {"size": 0})["size"]
        while page := await self.log.records(int(after), PAGE):
            for record in page:
                if record.entry.time >= cutoff:
                    return last
                last = record
            after = page[-1].seq
        return last


def _checkpoint_mismatches(page: Sequence[AuditRecord], expected: dict[int, str]) -> list[str]:
    return [f"checkpoint {r.seq}: the record's hash differs from the signed checkpoint "
            "(the chain was rewritten)" for r in page
            if r.seq in expected and expected[r.seq] != r.hash]


class AuditSelfCheck:
    """Verifies the trail (and applies retention) every `interval` seconds; a failure is
    raised as a security event (an Alert in the admin tenant), once per distinct break."""

    def __init__(self, trail: AuditTrail, events: SecurityEvents, interval: float) -> None:
        self._trail = trail
        self._events = events
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self._reported: str | None = None

    async def run_once(self) -> AuditReport:
        report = await self._trail.verify()
        if report.ok:
            self._reported = None
            await self._trail.apply_retention()
            return report
        description = report.describe()
        if description != self._reported:
            self._reported = description
            await self._events.raise_event(SecurityEvent(
                sub_category="auditVerificationFailed", severity="critical",
                description=description, source="cityos.audit",
                details={"firstBadRecord": report.broken.seq if report.broken else None,
                         "problem": report.broken.problem if report.broken else None}))
        return report

    def start(self) -> None:
        if self._trail.enabled and self._interval > 0 and self._task is None:
            self._task = asyncio.create_task(self._loop(), name="cityos-audit-verify")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.run_once()
            except Exception:
                log.exception("audit self-verification could not run")
