"""Retention of temporal history: instances older than their entity type's retention are
deleted by a background job, in bounded batches so that the single writer is never held
for long (each batch is one short write transaction).

The setting `CITYOS_TEMPORAL_RETENTION` is `DAYS[,TYPE=DAYS…]`: a default number of days
(0 keeps history forever) and overrides per entity type, named by IRI or by a term of the
default @context (`Vehicle` → https://uri.etsi.org/ngsi-ld/default-context/Vehicle).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cityos.ngsild.temporal.times import to_micros
from cityos.storage.base import TemporalStore

log = logging.getLogger(__name__)
DEFAULT_VOCAB = "https://uri.etsi.org/ngsi-ld/default-context/"
BATCH = 10_000


@dataclass(frozen=True)
class RetentionPolicy:
    default_days: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str) -> RetentionPolicy:
        """`"365,Vehicle=30,https://example.org/Sensor=7"`; raises ValueError if malformed."""
        default = 0
        by_type: dict[str, int] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, sep, days = part.rpartition("=")
            if not sep:
                default = _days(part)
                continue
            iri = name.strip() if ":" in name else DEFAULT_VOCAB + name.strip()
            by_type[iri] = _days(days)
        return cls(default, by_type)


def _days(text: str) -> int:
    value = int(text.strip())
    if value < 0:
        raise ValueError(f"retention days must be 0 or more, not {value}")
    return value


async def purge_expired(history: TemporalStore, policy: RetentionPolicy,
                        now: datetime | None = None, batch: int = BATCH) -> int:
    """Delete every instance past its retention, batch after batch; returns how many."""
    moment = now or datetime.now(UTC)
    total = 0
    rules: list[tuple[frozenset[str] | None, int]] = [
        (frozenset({iri}), days) for iri, days in policy.by_type.items() if days > 0]
    if policy.default_days > 0:
        rules.append((None, policy.default_days))
    overridden = frozenset(policy.by_type)
    for types, days in rules:
        cutoff = to_micros(moment - timedelta(days=days))
        while True:
            deleted = await history.purge_before(None, types, overridden, cutoff, batch)
            total += deleted
            if deleted < batch:
                break
            await asyncio.sleep(0)  # let requests queued behind the writer through
    return total


class RetentionJob:
    """Runs purge_expired every `interval` seconds while the app runs."""

    def __init__(self, history: TemporalStore, policy: RetentionPolicy,
                 interval: float) -> None:
        self.history = history
        self.policy = policy
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.policy.default_days or any(self.policy.by_type.values()):
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                deleted = await purge_expired(self.history, self.policy)
                if deleted:
                    log.info("temporal retention deleted %d instances", deleted)
            except Exception:  # the job must survive a failing round
                log.exception("temporal retention failed")
            await asyncio.sleep(self.interval)
