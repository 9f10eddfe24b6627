"""Typed entity events and the in-process event bus.

Every successful change is published once, after it is committed. Subscriptions, temporal
history, audit and apps listen here instead of being called from the write path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from cityos.ngsild.types import JsonObject

log = logging.getLogger(__name__)
EventKind = Literal["created", "updated", "replaced", "deleted"]


@dataclass(frozen=True)
class EntityEvent:
    kind: EventKind
    tenant: str
    entity_id: str
    before: JsonObject | None
    after: JsonObject | None


EventHandler = Callable[[Sequence[EntityEvent]], Awaitable[None]]


class EventBus(Protocol):
    async def publish(self, events: Sequence[EntityEvent]) -> None: ...

    def listen(self, handler: EventHandler) -> None: ...


class ProcessBus(EventBus, Protocol):
    """An event bus the application starts and stops (in-process or NATS JetStream)."""

    async def start(self) -> None: ...

    async def drain(self) -> None: ...

    async def close(self) -> None: ...


class InProcessBus:
    """Delivers events to handlers in this process, in publish order, off the write path."""

    def __init__(self) -> None:
        self._handlers: list[EventHandler] = []
        self._queue: asyncio.Queue[Sequence[EntityEvent]] | None = None
        self._task: asyncio.Task[None] | None = None

    def listen(self, handler: EventHandler) -> None:
        self._handlers.append(handler)

    async def start(self) -> None:
        """Nothing to connect: the queue starts with the first event."""

    async def publish(self, events: Sequence[EntityEvent]) -> None:
        if not events or not self._handlers:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = asyncio.create_task(self._deliver())
        self._queue.put_nowait(events)

    async def drain(self) -> None:
        """Wait until every published event has reached every handler (tests, shutdown)."""
        if self._queue is not None:
            await self._queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
        # Start afresh on the next publish: an app may be started again, on another loop.
        self._queue = None
        self._task = None

    async def _deliver(self) -> None:
        assert self._queue is not None
        while True:
            events = await self._queue.get()
            for handler in self._handlers:
                try:
                    await handler(events)
                except Exception:  # one failing listener must not stop the others
                    log.exception("event handler %r failed", handler)
            self._queue.task_done()
