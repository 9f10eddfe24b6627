"""The sweeper of transient entities and attributes (ETSI GS CIM 009 V1.9.1 §4.22).

Reads hide expired data at once; this job removes it from storage soon after, so an expired
entity's id can be created again and counts stay true.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math

from cityos.broker.entities import EntityService

log = logging.getLogger(__name__)
SWEEP_BATCH = 500


class ExpirySweeper:
    def __init__(self, entities: EntityService, interval: float) -> None:
        self._entities = entities
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._interval > 0 and math.isfinite(self._interval):
            self._task = asyncio.create_task(self._run(), name="cityos-expiry-sweeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                # A full batch means more may be due: keep going without waiting.
                while await self._entities.sweep_expired(SWEEP_BATCH) >= SWEEP_BATCH:
                    pass
            except Exception:  # a failed sweep is retried at the next tick
                log.exception("sweeping expired entities failed")

