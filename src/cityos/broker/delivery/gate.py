"""One endpoint's share of the sending capacity, and its outage state.

Every endpoint (scheme, host, port) has its own concurrency slots, so a slow endpoint ties
up only its own. When an endpoint cannot be reached, every notification for it waits for
the endpoint's retry time instead of each hammering it on its own schedule; then one
notification goes first as a probe and the rest follow only if it got through.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Literal

from cityos.broker.delivery.backoff import RetryPolicy

Admission = Literal["open", "probe", "wait"]


class EndpointGate:
    def __init__(self, concurrency: int) -> None:
        self.slots = asyncio.Semaphore(concurrency)
        self.failures = 0  # consecutive attempts that found the endpoint unreachable
        self.reopens_at = 0.0  # wall-clock time of the next probe
        self._probe_out = False
        self._changed = asyncio.Event()

    def admission(self) -> tuple[Admission, float]:
        """('open', 0): send now; ('probe', 0): send now as the probe of an endpoint that was
        unreachable (the caller must `record` its outcome); ('wait', seconds): ask again then
        or when the gate changes, whichever is first."""
        if not self.failures:
            return "open", 0.0
        if self._probe_out:
            return "wait", math.inf
        remaining = self.reopens_at - time.time()
        if remaining > 0:
            return "wait", remaining
        self._probe_out = True
        return "probe", 0.0

    async def changed(self, timeout: float) -> None:
        """Wait until the gate's state changes or `timeout` seconds pass."""
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), None if math.isinf(timeout) else timeout)

    def release_probe(self) -> None:
        """The probe admitted was not sent after all: let another notification probe."""
        self._probe_out = False
        self._changed.set()
        self._changed = asyncio.Event()

    def record(self, *, probe: bool, reached: bool, retry: RetryPolicy) -> None:
        """The outcome of an attempt: `reached` is False when the endpoint itself was
        unreachable (an error answer still proves it is up)."""
        before = (self.failures, self._probe_out)
        if probe:
            self._probe_out = False
        if reached:
            self.failures = 0
        elif probe or not self.failures:
            # Only the probe (or the first failure) moves the schedule: sends that were
            # already under way when the endpoint went down must not multiply the wait.
            self.failures += 1
            self.reopens_at = time.time() + retry.delay(self.failures)
        if (self.failures, self._probe_out) != before or probe:
            self._changed.set()
            self._changed = asyncio.Event()
