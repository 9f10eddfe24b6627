"""Rate limits: a token bucket per caller (principal subject) and one per client IP.

Each bucket holds up to `burst` tokens and refills at `rate` tokens per second; a request
takes one. A request finding either bucket empty is answered 429 TooManyRequests
(ProblemDetails) with Retry-After (whole seconds until a token is back) and counted on
/metrics. A rate of 0 turns that limit off. /health is never limited. Buckets live in the
memory of one process: with N processes behind a balancer the effective limit is N times
the setting.
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


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets by key; `take` returns 0 when a token was taken, else the seconds to wait."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate = rate
        self.burst = max(1, burst)
        self._clock = clock
        self._buckets: dict[str, Bucket] = {}

    def take(self, key: str) -> float:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._forget_full(now)
            bucket = self._buckets[key] = Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

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
