"""Subscriptions shared by several `cityos serve` processes on one PostgreSQL.

The store is the truth: every Subscription change increments a generation counter in the
same transaction, and `SubscriptionService.refresh()` reloads a process's index when the
counter moved. Three things call it:

- `FreshMatcher`, before every matching pass: the process holding the matching lock reads
  the journal first and the generation second, so a change committed after a Subscription
  was created is never matched against an index that lacks it;
- announcements on the NATS bus (a core NATS subject beside the event stream), so every
  process (its `exists` checks, its periodic timers) learns of a change within
  milliseconds;
- a periodic reconciliation (`SubscriptionService.reconcile_interval`), for announcements
  lost while a process was disconnected.

With NATS configured (several nodes), the change journal stays on whether or not this
process knows of a Subscription: a write on node B must be journaled if a Subscription
exists anywhere, and presence learnt through an announcement would come too late for a
write racing it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, runtime_checkable

from cityos.broker.notification import ChangeRecord, OutgoingNotification
from cityos.broker.subscriptions.service import SubscriptionService

Notice = Callable[[], Awaitable[None]]


@runtime_checkable
class SubscriptionNotices(Protocol):
    """A bus that carries "a Subscription changed" between processes."""

    def on_subscription_change(self, handler: Notice) -> None: ...

    async def announce_subscription_change(self) -> None: ...


class FreshMatcher:
    """The subscription matcher, made current with the store before each pass."""

    def __init__(self, service: SubscriptionService) -> None:
        self._service = service

    async def match(self, changes: Sequence[ChangeRecord]) -> list[OutgoingNotification]:
        await self._service.refresh()
        return await self._service.matcher.match(changes)


def share_subscriptions(service: SubscriptionService, bus: object,
                        journal_presence: Callable[[bool], None]) -> bool:
    """Wire announcements and the always-on journal when `bus` links processes; whether
    it does (False: one process, or several relying on the periodic reconciliation)."""
    if not isinstance(bus, SubscriptionNotices):
        return False
    service.announce = bus.announce_subscription_change

    async def on_notice() -> None:
        await service.refresh()

    bus.on_subscription_change(on_notice)
    service.on_presence_changed = lambda _present: journal_presence(True)
    return True
