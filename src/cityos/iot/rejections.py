"""Refused messages: counted every one on /metrics, raised as security events at most once
per device, reason and minute (a burst of bad messages must not become a burst of Alert
writes), logged at debug level otherwise."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Literal

from cityos.metrics import Counters
from cityos.security.events import SecurityEvent, SecurityEvents

log = logging.getLogger("cityos.iot")
RejectReason = Literal["deviceUnknown", "deviceSignatureInvalid", "payloadReplayed",
                       "payloadMalformed"]
ALERT_PERIOD = 60.0
MAX_TRACKED = 10_000
_SEVERITY = {"deviceUnknown": "low", "deviceSignatureInvalid": "high",
             "payloadReplayed": "high", "payloadMalformed": "low"}


class Rejected(Exception):
    def __init__(self, reason: RejectReason, detail: str, device_id: str) -> None:
        super().__init__(detail)
        self.reason: RejectReason = reason
        self.detail = detail
        self.device_id = device_id


class RejectionReporter:
    def __init__(self, counters: Counters, events: SecurityEvents,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._counters = counters
        self._events = events
        self._clock = clock
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}
        self._pending: set[asyncio.Task[str]] = set()

    def report(self, rejected: Rejected, transport: str, known_device: bool) -> None:
        self._counters.inc("cityos_iot_rejected_total",
                           "IoT messages refused, by reason and transport.",
                           reason=rejected.reason, transport=transport)
        # Unknown device ids are chosen by whoever sends them: one window for all of them,
        # so hostile ids cannot grow the table or multiply the Alerts.
        subject = rejected.device_id if known_device else "*"
        key = (subject, rejected.reason)
        now = self._clock()
        started, suppressed = self._windows.get(key, (-ALERT_PERIOD, 0))
        if now - started < ALERT_PERIOD:
            self._windows[key] = (started, suppressed + 1)
            log.debug("iot message refused (%s, %s): %s", rejected.reason,
                      rejected.device_id[:64], rejected.detail)
            return
        if len(self._windows) >= MAX_TRACKED:
            self._windows = {k: v for k, v in self._windows.items()
                             if now - v[0] < ALERT_PERIOD}
        self._windows[key] = (now, 0)
        self._raise(rejected, transport, subject, suppressed)

    def _raise(self, rejected: Rejected, transport: str, subject: str,
               suppressed: int) -> None:
        event = SecurityEvent(
            sub_category=rejected.reason, severity=_SEVERITY[rejected.reason],  # type: ignore[arg-type]
            description=f"IoT {transport} message refused: {rejected.detail}",
            source="cityos.iot", subject=None if subject == "*" else subject,
            details={"transport": transport, "deviceId": rejected.device_id[:128],
                     "refusedSinceLastAlert": suppressed})
        task = asyncio.get_running_loop().create_task(self._events.raise_event(event))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def drain(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
