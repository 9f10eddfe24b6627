"""What shared rate limits need of a backend: token buckets several server processes add
their usage to (PostgreSQL: storage.postgres.rate_limits). The embedded SQLite database
serves one process, whose buckets stay in its memory (cityos.security.rate_limit)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class SharedBuckets(Protocol):
    async def exchange(self, kind: str, rate: float, burst: int,
                       usage: Sequence[tuple[str, int]]) -> dict[str, float]:
        """Take `taken` tokens from each bucket (kind, key) of `usage` — refilled at `rate`
        per second up to `burst` since it was last touched, by the database's clock — and
        return each one's tokens afterwards (negative: overspent, to be waited off)."""
        ...

    async def forget_full(self, kind: str, rate: float, burst: int) -> int:
        """Delete the buckets of `kind` that have refilled completely (they hold nothing
        worth keeping); returns how many."""
        ...
