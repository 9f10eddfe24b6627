"""Lockout and back-off after failed logins, per username (known or not, so probing
for names gains nothing): after `threshold` failures in a row the account is locked for
`delay` seconds, doubling with each further failure up to `max_delay`. Reaching the
threshold raises a `loginFailureBurst` security event; every failure is counted on
/metrics (cityos_auth_failures_total)."""

from __future__ import annotations

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
                details={"failures": failures, "lockSeconds": lock, "lastClient": client,
                         "stage": stage}))

    async def succeeded(self, username: str) -> None:
        await self._records.delete_record(FAILURES, username)
