"""Lockout and back-off after failed logins, per username (known or not, so probing
for names gains nothing): after `threshold` failures in a row the account is locked for
`delay` seconds, doubling with each further failure up to `max_delay`. Reaching the
threshold raises a `loginFailureBurst` security event; every failure is counted on
/metrics (cityos_auth_failures_total).

Failures across all accounts are watched too (password spraying tries few passwords on
many accounts, below any account's threshold): `burst_threshold` failures within
`burst_window` seconds raise a `loginFailureBurst` event of scope "all accounts", at most
one per window. This count is kept in memory, per process."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from cityos.metrics import Counters
from cityos.security.clock import Clock
from cityos.security.events import SecurityEvent, SecurityEvents
from cityos.storage.security import SecurityRecords

FAILURES = "login-failures"
SOURCE = "cityos.security.login"


@dataclass(frozen=True)
class LockoutPolicy:
    threshold: int
    delay: float
    max_delay: float
    burst_threshold: int = 20
    burst_window: float = 60.0

    def lock_seconds(self, failures: int) -> float:
        if failures < self.threshold:
            return 0.0
        return float(min(self.delay * 2 ** (failures - self.threshold), self.max_delay))


class Lockout:
    def __init__(self, records: SecurityRecords, policy: LockoutPolicy, clock: Clock,
                 counters: Counters, events: SecurityEvents | None) -> None:
        self._records = records
        self.policy = policy
        self._clock = clock
        self._counters = counters
        self._events = events
        self._recent: deque[tuple[float, str]] = deque()  # (time, username) of failures
        self._last_burst_event = float("-inf")

    async def locked_for(self, username: str) -> float:
        """Seconds the account stays locked (0: not locked)."""
        doc = await self._records.get_record(FAILURES, username)
        if doc is None:
            return 0.0
        return max(0.0, float(doc.get("locked_until") or 0.0) - self._clock.now())

    async def failed(self, username: str, stage: str, client: str) -> None:
        """Record one failed attempt (stage: password, totp, recovery, locked)."""
        self._counters.inc("cityos_auth_failures_total",
                           "Failed operator logins and token checks, by stage.", stage=stage)
        doc = await self._records.get_record(FAILURES, username) or {}
        failures = int(doc.get("failures") or 0) + 1
        now = self._clock.now()
        lock = self.policy.lock_seconds(failures)
        await self._records.put_record(
            FAILURES, username, {"failures": failures, "locked_until": now + lock},
            expires_at=now + self.policy.max_delay * 4)
        if failures == self.policy.threshold and self._events is not None:
            await self._events.raise_event(SecurityEvent(
                sub_category="loginFailureBurst", severity="high", source=SOURCE,
                subject=f"operator:{username}",
                description=f"{failures} failed logins in a row for {username!r}; "
                            f"account locked for {lock:.0f} s",
                details={"scope": "account", "failures": failures, "lockSeconds": lock,
                         "lastClient": client, "stage": stage}))
        await self._watch_all_accounts(username, now)

    async def _watch_all_accounts(self, username: str, now: float) -> None:
        policy = self.policy
        if policy.burst_threshold <= 0:
            return
        self._recent.append((now, username))
        while self._recent and self._recent[0][0] < now - policy.burst_window:
            self._recent.popleft()
        if len(self._recent) < policy.burst_threshold or \
                now - self._last_burst_event < policy.burst_window:
            return
        self._last_burst_event = now
        accounts = len({name for _, name in self._recent})
        if self._events is not None:
            await self._events.raise_event(SecurityEvent(
                sub_category="loginFailureBurst", severity="high", source=SOURCE,
                description=f"{len(self._recent)} failed logins on {accounts} accounts "
                            f"within {policy.burst_window:.0f} s",
                details={"scope": "all accounts", "failures": len(self._recent),
                         "accounts": accounts, "windowSeconds": policy.burst_window}))

    async def succeeded(self, username: str) -> None:
        await self._records.delete_record(FAILURES, username)
