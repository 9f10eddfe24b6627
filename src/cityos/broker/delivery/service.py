"""Notification delivery as one service: what the app wires and the subscriptions use.

Lifecycle: create it before the store opens (it registers the journal observer and its
tables), `start(matcher, status)` after the store opened, `stop()` before the store closes.
The subscription service calls `on_presence_changed(True)` when the first subscription
appears (and at start if any exist) and `on_presence_changed(False)` when the last one
goes, so entity writes only pay for the journal while somebody listens. Periodic and
on-demand notifications go through `enqueue` (the contract's `Outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cityos.broker.delivery.backoff import RetryPolicy
from cityos.broker.delivery.dispatcher import Dispatcher
from cityos.broker.delivery.engine import MatchingEngine
from cityos.broker.delivery.http_sender import HttpSender
from cityos.broker.delivery.mqtt_sender import MqttSender
from cityos.broker.delivery.records import stored
from cityos.broker.delivery.reporter import StatusReporter
from cityos.broker.delivery.senders import Sender, SenderRouter
from cityos.broker.delivery.targets import TargetGuard, TargetPolicy
from cityos.broker.events import EventBus
from cityos.broker.notification import DeliveryStatus, NotificationMatcher, OutgoingNotification
from cityos.config import Settings
from cityos.storage.delivery import DeliveryLog

log = logging.getLogger(__name__)
RECLAIM_INTERVAL = 10.0  # seconds between looks for notifications of ended processes
_METRICS = [
    ("delivered_total", "counter", "Notifications their endpoint accepted."),
    ("failed_attempts_total", "counter", "Notification attempts that failed (retried)."),
    ("dropped_total", "counter", "Notifications given up after CITYOS_NOTIFICATION_GIVE_UP_AFTER."),
    ("journal_backlog", "gauge", "Committed changes not yet matched against subscriptions."),
    ("outbox_backlog", "gauge", "Notifications stored and not yet delivered."),
]


@dataclass(frozen=True)
class DeliveryConfig:
    policy: TargetPolicy = field(default_factory=TargetPolicy)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls_verify: bool = True
    endpoint_concurrency: int = 8
    endpoint_connections: int = 2
    poll_interval: float = 1.0
    drain_timeout: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> DeliveryConfig:
        """ValueError for settings that cannot work (bad CIDR, negative waits)."""
        return cls(
            policy=TargetPolicy.from_lists(settings.notification_allow,
                                           settings.notification_deny),
            retry=RetryPolicy(settings.notification_retry_initial,
                              settings.notification_retry_max,
                              settings.notification_retry_jitter,
                              settings.notification_give_up_after),
            connect_timeout=settings.notification_connect_timeout,
            read_timeout=settings.notification_read_timeout,
            tls_verify=settings.notification_tls_verify,
            endpoint_concurrency=max(1, settings.notification_endpoint_concurrency),
            endpoint_connections=max(1, settings.notification_endpoint_connections),
            poll_interval=settings.notification_poll_interval,
            drain_timeout=settings.notification_drain_timeout)


def default_sender(config: DeliveryConfig) -> Sender:
    return SenderRouter(
        TargetGuard(config.policy),
        HttpSender(connect_timeout=config.connect_timeout, read_timeout=config.read_timeout,
                   verify=config.tls_verify, connections=config.endpoint_connections),
        MqttSender(connect_timeout=config.connect_timeout,
                   publish_timeout=config.read_timeout, verify=config.tls_verify))


class NotificationDelivery:
    """Change journal → matcher → outbox → senders, with the status reported back."""

    def __init__(self, log_store: DeliveryLog, config: DeliveryConfig | None = None,
                 sender: Sender | None = None) -> None:
        self.config = config or DeliveryConfig()
        self._log = log_store
        self._sender = sender
        self._engine: MatchingEngine | None = None
        self._dispatcher: Dispatcher | None = None
        self._reporter: StatusReporter | None = None
        self._active_sender: Sender | None = None
        self._reclaimer: asyncio.Task[None] | None = None

    @property
    def target_policy(self) -> TargetPolicy:
        """For validating endpoints when subscriptions are created or changed."""
        return self.config.policy

    def on_presence_changed(self, present: bool) -> None:
        """Journal entity changes only while at least one subscription exists."""
        self._log.set_journal_active(present)

    def matches_here(self) -> bool:
        """Whether this process is the one matching changes (always, unless several
        processes share the delivery log and another holds the matcher lock)."""
        session = getattr(self._log, "session", None)
        return session is None or bool(session.leader)

    def listen(self, bus: EventBus) -> None:
        """Be woken by every commit announced on `bus` (call before the app starts)."""
        bus.listen(self._on_events)

    async def _on_events(self, events: Sequence[object]) -> None:
        if self._engine is not None:
            self._engine.wake()

    async def start(self, matcher: NotificationMatcher,
                    status: DeliveryStatus | None = None,
                    wanted: Callable[[str, str], bool] | None = None) -> None:
        """Resume: queue what the outbox holds, then match what the journal holds.
        `wanted(tenant, subscription id)` tells whether a subscription still exists."""
        self._reporter = StatusReporter(status)
        self._active_sender = self._sender or default_sender(self.config)
        self._dispatcher = Dispatcher(
            self._log, self._active_sender, self._reporter,
            retry=self.config.retry, endpoint_concurrency=self.config.endpoint_concurrency)
        self._dispatcher.wanted = wanted
        resumed = await self._dispatcher.load()
        if resumed:
            log.info("resuming delivery of %d stored notifications", resumed)
        self._engine = MatchingEngine(self._log, matcher, self._dispatcher.add,
                                      poll_interval=self.config.poll_interval)
        await self._engine.start()
        self._engine.wake()
        if self._log.shared:
            self._reclaimer = asyncio.create_task(self._reclaim(self._dispatcher),
                                                  name="outbox-reclaim")

    async def _reclaim(self, dispatcher: Dispatcher) -> None:
        """On a database several processes share: take over, every RECLAIM_INTERVAL
        seconds, the notifications of processes that ended (the log hands over only rows
        no live process owns)."""
        while True:
            await asyncio.sleep(RECLAIM_INTERVAL)
            try:
                taken = await dispatcher.load(take_over=True)
            except Exception:
                log.exception("could not look for notifications left by ended processes")
                continue
            if taken:
                log.info("took over %d notifications of ended processes", taken)

    async def enqueue(self, notifications: Sequence[OutgoingNotification]) -> None:
        """The contract's Outbox: persist, then deliver as soon as possible."""
        if not notifications:
            return
        entries = await self._log.add([stored(n) for n in notifications])
        if self._dispatcher is not None:
            self._dispatcher.add(entries, notifications)

    async def catch_up(self) -> None:
        """Match every change committed so far (tests and tools; the engine does it alone)."""
        if self._engine is not None:
            await self._engine.catch_up()

    async def stop(self) -> None:
        """Match what is committed, send what is due (within the drain timeout), close
        connections. Whatever is left is in the outbox for the next start."""
        if self._reclaimer is not None:
            self._reclaimer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reclaimer
            self._reclaimer = None
        if self._engine is not None:
            await self._engine.stop()
        if self._dispatcher is not None:
            await self._dispatcher.stop(self.config.drain_timeout)
        if self._reporter is not None:
            await self._reporter.close(self.config.drain_timeout)
        if self._active_sender is not None:
            await self._active_sender.aclose()
        self._engine = self._dispatcher = self._reporter = self._active_sender = None

    async def metrics_text(self) -> str:
        """The counters in Prometheus text format (for /metrics)."""
        stats = await self.stats()
        lines = []
        for name, kind, help_text in _METRICS:
            lines += [f"# HELP cityos_notifications_{name} {help_text}",
                      f"# TYPE cityos_notifications_{name} {kind}",
                      f"cityos_notifications_{name} {stats[name.removesuffix('_total')]}"]
        return "\n".join(lines) + "\n"

    async def stats(self) -> dict[str, int]:
        """Counters for /metrics: delivered, failed attempts, dropped, backlogs."""
        journal, outbox = await self._log.backlog()
        counters = dict(self._dispatcher.counters) if self._dispatcher else {}
        return {"delivered": counters.get("delivered", 0),
                "failed_attempts": counters.get("failed_attempts", 0),
                "dropped": counters.get("dropped", 0),
                "journal_backlog": journal, "outbox_backlog": outbox}
