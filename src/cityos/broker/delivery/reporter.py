"""Reports every delivery outcome to the subscription's status (§5.2.12 timesSent,
lastSuccess, lastFailure, consecutiveErrors…) off the sending path, in outcome order.

Outcomes are handed over in batches: whatever has arrived since the last report, at most
every `interval` seconds. The status folds the outcomes of one subscription into one
counter update, so the cost of keeping the status true no longer grows with the
notification rate. Stopping reports what is still queued."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime

from cityos.broker.notification import DeliveryOutcome, DeliveryStatus

log = logging.getLogger(__name__)
REPORT_INTERVAL = 0.1  # seconds between two status writes at most


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StatusReporter:
    def __init__(self, status: DeliveryStatus | None, *,
                 interval: float = REPORT_INTERVAL) -> None:
        self._status = status
        self._interval = interval
        self._pending: list[DeliveryOutcome] = []
        self._arrived = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self.reports = 0  # status writes so far (batches handed to the status)

    def delivered(self, tenant: str, subscription_id: str) -> None:
        self._put(DeliveryOutcome(tenant, subscription_id, utc_now()))

    def failed(self, tenant: str, subscription_id: str, reason: str) -> None:
        self._put(DeliveryOutcome(tenant, subscription_id, utc_now(), reason))

    def _put(self, outcome: DeliveryOutcome) -> None:
        if self._status is None:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(self._status), name="delivery-status")
        self._pending.append(outcome)
        self._idle.clear()
        self._arrived.set()

    async def _run(self, status: DeliveryStatus) -> None:
        while True:
            await self._arrived.wait()
            started = time.monotonic()
            await self._report(status)
            await asyncio.sleep(max(0.0, self._interval - (time.monotonic() - started)))

    async def _report(self, status: DeliveryStatus) -> None:
        self._arrived.clear()
        batch, self._pending = self._pending, []
        try:
            if batch:
                self.reports += 1
                await status.record(batch)
        except Exception:  # a status that cannot be saved must not stop delivery
            log.exception("could not record the delivery status of %d notifications",
                          len(batch))
        finally:
            if not self._pending:
                self._idle.set()

    async def close(self, timeout: float) -> None:
        """Report what is queued (within `timeout` seconds), then stop. The reporting task
        is only cancelled between two reports (or after the timeout)."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
