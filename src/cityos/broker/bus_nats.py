"""The event bus between City OS processes: NATS JetStream.

Several `cityos serve` processes on one PostgreSQL share their entity events through one
JetStream stream. Two ways to consume it:

- `listen(handler)`: fan-out. Every process sees every event of every process, in stream
  order (caches, live pages, anything that mirrors state per process). Each process reads
  with its own ordered consumer from the moment it starts.
- `work_queue(group, handler)`: each event is handled by exactly one process of the group,
  through one durable JetStream consumer the group shares. A message is acknowledged only
  after its handler returned; if the process dies first, JetStream redelivers it to another
  (or the restarted) process after `ack_wait`, so nothing is lost while a node restarts.
  Handlers of a work queue must therefore be idempotent (at-least-once).

Beside the stream, a plain NATS subject (`<stream subject>.subscriptions`) carries "a
Subscription changed" announcements: nothing is stored for them, since a process that
missed one catches up from the store (cityos.broker.subscriptions.sharing).

Publishing never blocks the write path: events are queued and published in order by a
background task; each message carries a `Nats-Msg-Id` (process id + sequence) so a retried
publish is stored once (JetStream de-duplication window).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cityos.broker.events import EntityEvent, EventHandler

log = logging.getLogger(__name__)
SUBJECT = "cityos.events"
MAX_MESSAGE_BYTES = 900_000  # below the NATS server's default max_payload of 1 MiB


@dataclass(frozen=True)
class NatsBusConfig:
    """One stream per city installation; its subject is derived from the stream's name
    unless given, so several installations can share a NATS server."""

    url: str
    stream: str = "CITYOS_EVENTS"
    subject: str = ""
    max_age_seconds: float = 86_400.0
    ack_wait_seconds: float = 30.0

    @property
    def stream_subject(self) -> str:
        return self.subject or f"{SUBJECT}.{self.stream}"

    @property
    def notice_subject(self) -> str:
        """Subscription change announcements (not a subject of the stream)."""
        return f"{self.stream_subject}.subscriptions"


def encode_events(events: Sequence[EntityEvent]) -> list[bytes]:
    """Events as JSON messages, split so none exceeds MAX_MESSAGE_BYTES (a batch of large
    entities becomes several messages, in order)."""
    messages: list[bytes] = []
    chunk: list[dict[str, Any]] = []
    size = 0
    for event in events:
        item = {"kind": event.kind, "tenant": event.tenant, "id": event.entity_id,
                "before": event.before, "after": event.after}
        item_size = len(orjson.dumps(item))
        if chunk and size + item_size > MAX_MESSAGE_BYTES:
            messages.append(orjson.dumps(chunk))
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        messages.append(orjson.dumps(chunk))
    return messages


def decode_events(payload: bytes) -> list[EntityEvent]:
    items = orjson.loads(payload)
    return [EntityEvent(kind=item["kind"], tenant=item["tenant"], entity_id=item["id"],
                        before=item["before"], after=item["after"]) for item in items]


class NatsEventBus:
    """An EventBus whose events reach every process through NATS JetStream."""

    def __init__(self, config: NatsBusConfig) -> None:
        self.config = config
        self.process_id = uuid.uuid4().hex[:12]
        self._handlers: list[EventHandler] = []
        self._groups: list[tuple[str, EventHandler]] = []
        self._notice_handlers: list[Callable[[], Awaitable[None]]] = []
        self._outgoing: asyncio.Queue[list[bytes]] | None = None
        self._sequence = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Any = None
        self._js: Any = None
        self._fanout: Any = None

    def listen(self, handler: EventHandler) -> None:
        """Receive every event of every process, from now on (before or after start)."""
        self._handlers.append(handler)

    def work_queue(self, group: str, handler: EventHandler) -> None:
        """Handle each event in exactly one process of `group` (call before start)."""
        self._groups.append((group, handler))

    def on_subscription_change(self, handler: Callable[[], Awaitable[None]]) -> None:
        """Be told whenever any process announces a Subscription change."""
        self._notice_handlers.append(handler)

    async def announce_subscription_change(self) -> None:
        """Tell every process (this one too) that a Subscription changed."""
        if self._nc is not None:
            await self._nc.publish(self.config.notice_subject, self.process_id.encode())

    async def _on_notice(self, message: Any) -> None:
        for handler in self._notice_handlers:
            try:
                await handler()
            except Exception:
                log.exception("subscription change handler failed")

    async def start(self) -> None:
        import nats
        self._nc = await nats.connect(servers=[self.config.url], name=f"cityos-{self.process_id}",
                                      max_reconnect_attempts=-1, reconnect_time_wait=1)
        self._js = self._nc.jetstream()
        await self._ensure_stream()
        self._outgoing = asyncio.Queue()
        self._tasks.append(asyncio.create_task(self._publish_loop()))
        # Listeners may register after start (plugins do in their startup hook): the
        # fan-out consumer always runs and dispatches to whoever listens by then.
        await self._start_fanout()
        await self._nc.subscribe(self.config.notice_subject, cb=self._on_notice)
        for group, handler in self._groups:
            self._tasks.append(asyncio.create_task(self._work_loop(group, handler)))

    async def _ensure_stream(self) -> None:
        from nats.js.api import StreamConfig
        from nats.js.errors import NotFoundError
        config = StreamConfig(name=self.config.stream, subjects=[self.config.stream_subject],
                              max_age=self.config.max_age_seconds, duplicate_window=120.0)
        try:
            await self._js.stream_info(self.config.stream)
            await self._js.update_stream(config)
        except NotFoundError:
            await self._js.add_stream(config)

    async def _start_fanout(self) -> None:
        from nats.js.api import DeliverPolicy

        async def on_message(message: Any) -> None:
            await self._dispatch(self._handlers, decode_events(message.data))

        self._fanout = await self._js.subscribe(self.config.stream_subject, cb=on_message,
                                                ordered_consumer=True,
                                                deliver_policy=DeliverPolicy.NEW,
                                                stream=self.config.stream)

    async def publish(self, events: Sequence[EntityEvent]) -> None:
        if not events:
            return
        if self._outgoing is None:
            raise RuntimeError("the NATS event bus is not started")
        self._outgoing.put_nowait(encode_events(events))

    async def _publish_loop(self) -> None:
        assert self._outgoing is not None
        while True:
            messages = await self._outgoing.get()
            try:
                for payload in messages:
                    await self._publish_one(payload)
            finally:
                self._outgoing.task_done()

    async def _publish_one(self, payload: bytes) -> None:
        self._sequence += 1
        message_id = f"{self.process_id}-{self._sequence}"
        delay = 0.1
        while True:
            try:
                await self._js.publish(self.config.stream_subject, payload,
                                       headers={"Nats-Msg-Id": message_id})
                return
            except Exception as error:  # server away: retry with back-off, keep order
                log.warning("publishing to NATS failed (%s); retrying in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _work_loop(self, group: str, handler: EventHandler) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
        config = ConsumerConfig(durable_name=group, ack_policy=AckPolicy.EXPLICIT,
                                deliver_policy=DeliverPolicy.NEW,
                                ack_wait=self.config.ack_wait_seconds, max_ack_pending=1000)
        subscription = await self._js.pull_subscribe(self.config.stream_subject, durable=group,
                                                     stream=self.config.stream, config=config)
        while True:
            await self._work_batch(subscription, handler)

    async def _work_batch(self, subscription: Any, handler: EventHandler) -> None:
        from nats.errors import TimeoutError as FetchTimeout
        try:
            messages = await subscription.fetch(batch=100, timeout=1.0)
        except FetchTimeout:
            return
        except Exception as error:
            log.warning("fetching from NATS failed (%s)", error)
            await asyncio.sleep(1.0)
            return
        for message in messages:
            try:
                await handler(decode_events(message.data))
            except Exception:
                log.exception("work-queue handler failed; the events will be redelivered")
                await message.nak(delay=1.0)
                continue
            await message.ack()

    @staticmethod
    async def _dispatch(handlers: Sequence[EventHandler], events: list[EntityEvent]) -> None:
        for handler in handlers:
            try:
                await handler(events)
            except Exception:  # one failing listener must not stop the others
                log.exception("event handler %r failed", handler)

    async def drain(self) -> None:
        """Wait until every queued event is stored in the stream."""
        if self._outgoing is not None:
            await self._outgoing.join()

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.drain(), timeout=5.0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._nc is not None:
            with contextlib.suppress(Exception):
                await self._nc.close()
        self._nc = self._js = self._fanout = self._outgoing = None

