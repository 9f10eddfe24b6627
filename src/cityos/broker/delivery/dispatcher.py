"""Sends the outbox: in order per (subscription, entity), in parallel across them.

Each (tenant, subscription, ordering key) has its own queue, served by its own task while
it has work: only the head of a queue is ever being sent, so a later notification about an
entity never overtakes an earlier one, and a failing head holds back only its own queue.
Failures are retried with exponential backoff; the attempt count and the next attempt time
are written to the outbox, so a restart keeps the schedule. Queues share nothing but their
endpoint's gate (concurrency slots and outage state) and a global limit on sends in flight.

Guarantee: at-least-once, in order per entity per subscription. A notification is
removed from the outbox only after its endpoint accepted it; a crash between acceptance
and removal sends it again after the restart.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.gate import EndpointGate
from cityos.broker.delivery.records import outgoing
from cityos.broker.delivery.reporter import StatusReporter
from cityos.broker.delivery.senders import DeliveryFailed, Sender, endpoint_origin
from cityos.broker.notification import OutgoingNotification
from cityos.storage.delivery import DeliveryLog, OutboxEntry

log = logging.getLogger(__name__)
QueueKey = tuple[str, str, str]  # tenant, subscription id, ordering key
REMOVE_EVERY = 0.05  # seconds between two removals of delivered notifications at most


@dataclass
class _Item:
    entry_id: int
    notification: OutgoingNotification
    created_at: float
    attempts: int
    next_attempt_at: float

    @property
    def key(self) -> QueueKey:
        n = self.notification
        return n.tenant, n.subscription_id, n.ordering_key


class Dispatcher:
    def __init__(self, outbox: DeliveryLog, sender: Sender, reporter: StatusReporter, *,
                 retry: RetryPolicy, endpoint_concurrency: int = 8,
                 max_in_flight: int = 1024) -> None:
        self._outbox = outbox
        self._sender = sender
        self._reporter = reporter
        self._retry = retry
        self._endpoint_concurrency = endpoint_concurrency
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._queues: dict[QueueKey, deque[_Item]] = {}
        self._tasks: dict[QueueKey, asyncio.Task[None]] = {}
        self._idle: dict[QueueKey, asyncio.Task[None]] = {}  # waiting for a due time
        self._gates: dict[str, EndpointGate] = {}
        self._removals: list[int] = []
        # Ids queued, in flight, or delivered and not yet removed from the outbox: what
        # `reclaim` must not queue a second time.
        self._known: set[int] = set()
        self._removal_wanted = asyncio.Event()
        self._remover: asyncio.Task[None] | None = None
        self._closing = False
        self.counters: Counter[str] = Counter()
        # Whether a subscription still exists (tenant, id): notifications of a deleted
        # subscription are dropped, not sent or retried. None: all are wanted.
        self.wanted: Callable[[str, str], bool] | None = None

    # -- intake ---------------------------------------------------------------------------
    def add(self, entries: Sequence[OutboxEntry],
            notifications: Sequence[OutgoingNotification] | None = None) -> None:
        """Queue stored notifications (with their decoded form when the caller has it)."""
        for i, entry in enumerate(entries):
            notification = notifications[i] if notifications is not None else outgoing(entry)
            self._queue_item(_Item(entry.id, notification, entry.created_at, entry.attempts,
                                   entry.next_attempt_at))

    def _queue_item(self, item: _Item) -> None:
        if item.entry_id in self._known:
            return
        self._known.add(item.entry_id)
        key = item.key
        queue = self._queues.setdefault(key, deque())
        if queue and queue[-1].entry_id > item.entry_id:
            # Concurrent inserts may hand items over out of id order; the head may be in
            # flight already, so never insert before it.
            position = bisect.bisect([i.entry_id for i in queue], item.entry_id)
            queue.insert(max(position, 1), item)
        else:
            queue.append(item)
        if key not in self._tasks and not self._closing:
            self._tasks[key] = asyncio.create_task(self._serve(key, queue))

    async def load(self, page: int = 1000, *, take_over: bool = False) -> int:
        """Queue everything the outbox still holds (after a restart), in id order. With
        `take_over` (a database several processes share): what processes that ended left
        behind; nothing this process holds is queued twice."""
        after, loaded = 0, 0
        claim = self._outbox.take_over if take_over else self._outbox.pending
        while True:
            entries = await claim(after, page)
            self.add(entries)
            loaded += len(entries)
            if len(entries) < page:
                return loaded
            after = entries[-1].id

    # -- one queue --------------------------------------------------------------------------
    async def _serve(self, key: QueueKey, queue: deque[_Item]) -> None:
        try:
            while queue:
                try:
                    if not await self._serve_head(key, queue):
                        return  # shutting down; the rest stays in the outbox
                except Exception:  # a bug here must not silently stop this queue
                    log.exception("notification queue %s failed; retrying", key)
                    await self._wait(key, asyncio.sleep(1.0))
        finally:
            self._tasks.pop(key, None)
            if not queue and self._queues.get(key) is queue:
                del self._queues[key]

    async def _serve_head(self, key: QueueKey, queue: deque[_Item]) -> bool:
        """Try the head of the queue once; False when shutdown stopped it from being sent."""
        item = queue[0]
        if self._retry.expired(item.created_at, time.time()):
            queue.popleft()
            self._give_up(item)
            return True
        if self._drop_if_unsubscribed(queue):
            return True
        gate = self._gate(item.notification.endpoint.uri)
        while True:
            probe = await self._await_turn(key, item, gate)
            if probe is None:
                return False
            # The subscription may have been deleted while this waited for its turn.
            if self._drop_if_unsubscribed(queue):
                if probe:
                    gate.release_probe()
                return True
            async with gate.slots:
                if not probe and gate.failures:
                    continue  # the endpoint went down while this waited for a slot
                async with self._in_flight:
                    error = await self._send(item.notification)
                break
        gate.record(probe=probe, reached=error is None or not error.unreachable,
                    retry=self._retry)
        if error is None:
            queue.popleft()
            self._delivered(item)
        else:
            await self._failed(item, error)
        return True

    def _drop_if_unsubscribed(self, queue: deque[_Item]) -> bool:
        """Drop the head when its subscription no longer exists: a deleted subscription
        must stop notifying, retries included."""
        n = queue[0].notification
        if self.wanted is None or self.wanted(n.tenant, n.subscription_id):
            return False
        item = queue.popleft()
        self.counters["unsubscribed"] += 1
        self._remove(item.entry_id)
        return True

    async def _await_turn(self, key: QueueKey, item: _Item,
                          gate: EndpointGate) -> bool | None:
        """Wait until the item is due and its endpoint admits it; whether it goes as the
        endpoint's probe, or None when shutdown came first."""
        while True:
            delay = item.next_attempt_at - time.time()
            if delay > 0:
                if self._closing:
                    return None
                await self._wait(key, asyncio.sleep(min(delay, self._retry.cap)))
                continue
            admission, wait = gate.admission()
            if admission != "wait":
                return admission == "probe"
            if self._closing:
                return None
            await self._wait(key, gate.changed(wait))

    async def _wait(self, key: QueueKey, waiting: Awaitable[None]) -> None:
        """Wait in a way shutdown may cut short (it cancels idle queues)."""
        task = asyncio.current_task()
        assert task is not None
        self._idle[key] = task
        try:
            await waiting
        finally:
            self._idle.pop(key, None)

    async def _send(self, notification: OutgoingNotification) -> DeliveryFailed | None:
        try:
            await self._sender.send(notification)
        except DeliveryFailed as error:
            return error
        except Exception as error:  # a sender bug is a failed attempt, not a lost queue
            log.exception("sending a notification to %s failed", notification.endpoint.uri)
            return DeliveryFailed(f"internal error: {type(error).__name__}")
        return None

    # -- outcomes ---------------------------------------------------------------------------
    def _delivered(self, item: _Item) -> None:
        self.counters["delivered"] += 1
        self._remove(item.entry_id)
        n = item.notification
        self._reporter.delivered(n.tenant, n.subscription_id)

    async def _failed(self, item: _Item, error: DeliveryFailed) -> None:
        self.counters["failed_attempts"] += 1
        item.attempts += 1
        item.next_attempt_at = time.time() + self._retry.delay(item.attempts)
        n = item.notification
        log.info("notification for %s to %s failed (attempt %d): %s", n.subscription_id,
                 n.endpoint.uri, item.attempts, error.reason)
        self._reporter.failed(n.tenant, n.subscription_id, error.reason)
        try:
            await self._outbox.reschedule(item.entry_id, item.attempts, item.next_attempt_at,
                                          error.reason)
        except Exception:  # the in-memory schedule still holds; a restart retries sooner
            log.exception("could not save the retry schedule of a notification")

    def _give_up(self, item: _Item) -> None:
        self.counters["dropped"] += 1
        n = item.notification
        reason = (f"gave up after {item.attempts} attempts over "
                  f"{self._retry.give_up_after:.0f} s")
        log.warning("notification for %s to %s dropped: %s", n.subscription_id,
                    n.endpoint.uri, reason)
        self._remove(item.entry_id)
        self._reporter.failed(n.tenant, n.subscription_id, reason)

    def _remove(self, entry_id: int) -> None:
        # Removals are batched: one write for many deliveries. The writer commits them in
        # submission order, so a crash can only leave a suffix of delivered notifications,
        # which are then sent again in order.
        self._removals.append(entry_id)
        self._removal_wanted.set()
        if self._remover is None:
            self._remover = asyncio.create_task(self._remove_batches(), name="outbox-removal")

    async def _remove_batches(self) -> None:
        """At most one removal write every REMOVE_EVERY seconds: under load one write
        removes many delivered notifications instead of one each (a crash in between
        only makes those few be sent again, in order, as after any crash)."""
        while True:
            await self._removal_wanted.wait()
            self._removal_wanted.clear()
            started = time.monotonic()
            await self._flush_removals()
            await asyncio.sleep(max(0.0, REMOVE_EVERY - (time.monotonic() - started)))

    async def _flush_removals(self) -> None:
        ids, self._removals = self._removals, []
        if not ids:
            return
        try:
            await self._outbox.remove(ids)
            self._known.difference_update(ids)
        except Exception:
            log.exception("could not remove delivered notifications; they may be re-sent")
            self._removals[:0] = ids
            await asyncio.sleep(1.0)
            self._removal_wanted.set()

    def _gate(self, uri: str) -> EndpointGate:
        origin = endpoint_origin(uri)
        gate = self._gates.get(origin)
        if gate is None:
            gate = self._gates[origin] = EndpointGate(self._endpoint_concurrency)
        return gate

    # -- lifecycle ---------------------------------------------------------------------------
    def waiting(self) -> int:
        """Notifications queued in this process, in flight included."""
        return sum(len(q) for q in self._queues.values())

    async def stop(self, drain_timeout: float) -> None:
        """Send what is due within `drain_timeout` seconds; what waits for a retry (or is
        still unsent then) stays in the outbox for the next start."""
        self._closing = True
        for task in list(self._idle.values()):
            task.cancel()
        tasks = list(self._tasks.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=drain_timeout)
            for task in late:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._remover is not None:
            self._remover.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._remover
        await self._flush_removals()
