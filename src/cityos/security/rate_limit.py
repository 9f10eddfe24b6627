"""Rate limits: a token bucket per caller (principal subject) and one per client IP.

Each bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
takes one. A request finding either bucket empty is answered 429 TooManyRequests
(ProblemDetails) with Retry-After (whole seconds until a token is back) and counted on
/metrics. A rate of 0 turns that limit off. /health is never limited.

Buckets live in the memory of the process. On the embedded database (one process) that
is all; with several processes on one PostgreSQL database the buckets are `shared`:
each process counts what it takes, and every fraction of a second
(cityos.security.rate_limit_sharing) adds it to the database's bucket and adopts that
bucket's level, so the processes together keep to the limit.
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from cityos.metrics import Counters
from cityos.ngsild.errors import TooManyRequests
from cityos.security.principal import principal_of

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
EXEMPT_PATHS = frozenset({"/health"})
MAX_BUCKETS = 100_000
RECENT_SECONDS = 10.0  # shared limits: how long an idle key's level is still exchanged


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets by key; `take` returns 0 when a token was taken, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic,
                 *, shared: bool = False):
        self.rate = rate
        self.burst = max(1, burst)
        self.shared = shared
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}
        # shared: tokens taken per key since the last exchange, and when each key was
        # last asked for (keys asked for recently are exchanged even when idle, so their
        # level here is never older than one exchange)
        self._taken: dict[str, int] = {}
        self._seen: dict[str, float] = {}

    def take(self, key: str) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if self.shared:
            self._seen[key] = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            if self.shared:
                self._taken[key] = self._taken.get(key, 0) + 1
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    # -- sharing between processes (rate_limit_sharing) --------------------------------------
    def usage(self) -> dict[str, int]:
        """The tokens taken per key since the last call, for every key asked for within
        the last RECENT_SECONDS (0 when none was taken)."""
        taken, self._taken = self._taken, {}
        horizon = self._clock() - RECENT_SECONDS
        self._seen = {key: at for key, at in self._seen.items() if at >= horizon}
        return {key: taken.get(key, 0) for key in self._seen} | taken

    def give_back(self, usage: dict[str, int]) -> None:
        """An exchange failed: count this usage again with the next one."""
        for key, taken in usage.items():
            self._taken[key] = self._taken.get(key, 0) + taken

    def adopt(self, levels: dict[str, float]) -> None:
        """Set each bucket to the shared level (tokens after the exchange), less what
        this process took while the exchange was under way (counted for the next)."""
        now = self._clock()
        for key, tokens in levels.items():
            since = self._taken.get(key, 0)
            self._buckets[key] = Bucket(min(float(self.burst), tokens - since), now)

    def _forget_full(self, now: float) -> None:
        """Drop buckets that have refilled completely (they hold no state worth keeping)."""
        full = [k for k, b in self._buckets.items()
                if b.tokens + (now - b.updated) * self.rate >= self.burst]
        for key in full:
            del self._buckets[key]


class RateLimitMiddleware:
    """Inside authentication (it reads the principal)."""

    def __init__(self, app: ASGIApp, *, per_client: TokenBuckets | None,
                 per_ip: TokenBuckets | None, counters: Counters) -> None:
        self.app = app
        self.per_client = per_client
        self.per_ip = per_ip
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in EXEMPT_PATHS:
            await self.app(scope, receive, send)
            return
        wait, limit = self._wait(scope)
        if wait > 0:
            self.counters.inc("cityos_rate_limited_total",
                              "Requests refused with 429 by a rate limit.", limit=limit)
            await _refuse(send, math.ceil(wait), limit)
            return
        await self.app(scope, receive, send)

    def _wait(self, scope: Scope) -> tuple[float, str]:
        if self.per_ip is not None:
            client = scope.get("client")
            wait = self.per_ip.take(client[0] if client else "unknown")
            if wait > 0:
                return wait, "ip"
        if self.per_client is not None:
            principal = principal_of(scope)
            if not principal.is_anonymous:
                wait = self.per_client.take(principal.subject)
                if wait > 0:
                    return wait, "client"
        return 0.0, ""


async def _refuse(send: Send, retry_after: int, limit: str) -> None:
    who = "this client" if limit == "client" else "this address"
    error = TooManyRequests(f"Rate limit of {who} exceeded; retry after {retry_after} s")
    body = orjson.dumps(error.problem())
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"retry-after", str(retry_after).encode())]})
    await send({"type": "http.response.body", "body": body})
