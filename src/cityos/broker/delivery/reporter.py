"""Reports every delivery outcome to the subscription's status (§5.2.12 timesSent,
lastSuccess, lastFailure, consecutiveErrors…) off the sending path, in outcome order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from cityos.broker.notification import DeliveryStatus

log = logging.getLogger(__name__)
_Outcome = tuple[str, str, str, str | None]  # tenant, subscription id, at, failure reason


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StatusReporter:
    def __init__(self, status: DeliveryStatus | None) -> None:
        self._status = status
        self._queue: asyncio.Queue[_Outcome] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def delivered(self, tenant: str, subscription_id: str) -> None:
        self._put((tenant, subscription_id, utc_now(), None))

    def failed(self, tenant: str, subscription_id: str, reason: str) -> None:
        self._put((tenant, subscription_id, utc_now(), reason))

    def _put(self, outcome: _Outcome) -> None:
        if self._status is None:
            return
        if self._task is None:
            self._task = asyncio.create_task(self._run(self._status), name="delivery-status")
        self._queue.put_nowait(outcome)

    async def _run(self, status: DeliveryStatus) -> None:
        while True:
            tenant, subscription_id, at, reason = await self._queue.get()
            try:
                if reason is None:
                    await status.delivered(tenant, subscription_id, at)
                else:
                    await status.failed(tenant, subscription_id, at, reason)
            except Exception:  # a status that cannot be saved must not stop delivery
                log.exception("could not record the delivery status of %s", subscription_id)
            finally:
                self._queue.task_done()

    async def close(self, timeout: float) -> None:
        """Report what is queued (within `timeout` seconds), then stop."""
        if self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
