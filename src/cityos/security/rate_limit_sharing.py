"""Rate limits shared by the server processes of one PostgreSQL database.

Each process keeps answering from its in-memory token buckets (no database round trip in
a request) and counts the tokens it takes. Every `interval` seconds it adds those counts
to the database's bucket of each key asked for in the last seconds (storage.rate_limits)
and adopts the bucket's level: every token any process took is charged to the one shared
bucket, which refills at the configured rate by the database's clock.

What that guarantees: over any period, the processes together admit at most
`rate × period + burst` requests of one key, plus what they admit within one exchange
interval before they see each other's usage: at most (N − 1) × (the level seen at the
last exchange) for N processes — a burst arriving at every process within the same
fraction of a second can reach N × burst. A bucket overspent that way goes negative and
is waited off by all processes, so the long-run rate holds. If the database cannot be
reached, each process limits alone (its counts are kept and charged when the database
answers again).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cityos.security.rate_limit import TokenBuckets
from cityos.storage.rate_limits import SharedBuckets

log = logging.getLogger("cityos.security")
FORGET_EVERY = 300  # exchanges between deletions of buckets that have refilled


class SharedRateLimits:
    """Exchanges the usage of `limits` (kind → buckets, e.g. "client", "ip") with the
    database every `interval` seconds."""

    def __init__(self, store: SharedBuckets, limits: dict[str, TokenBuckets],
                 interval: float = 0.2) -> None:
        self.store = store
        self.limits = limits
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._rounds = 0

    async def exchange(self) -> None:
        """One exchange of every limit's usage (also called by tests)."""
        for kind, buckets in self.limits.items():
            usage = buckets.usage()
            if not usage:
                continue
            try:
                levels = await self.store.exchange(kind, buckets.rate, buckets.burst,
                                                   list(usage.items()))
            except Exception:
                buckets.give_back(usage)
                raise
            buckets.adopt(levels)
        self._rounds += 1
        if self._rounds % FORGET_EVERY == 0:
            for kind, buckets in self.limits.items():
                await self.store.forget_full(kind, buckets.rate, buckets.burst)

    def start(self) -> None:
        if self._task is None and self.limits:
            self._task = asyncio.create_task(self._run(), name="cityos-rate-limit-sharing")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.exchange()  # charge what this process took last

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.exchange()
            except Exception:
                log.exception("could not share the rate limits; each process limits alone "
                              "until the database answers")
