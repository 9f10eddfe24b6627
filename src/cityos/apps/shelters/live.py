"""Live updates for open pages: Server-Sent Events fed by the event bus.

Each client has a small queue; a client that does not keep up (queue full) is dropped and
its browser reconnects (EventSource does that by itself) and reloads the feed. The number
of clients is bounded; beyond it the stream answers 503 with Retry-After."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 64
_DROPPED = b""


class TooManyListeners(Exception):
    pass


class LiveHub:
    def __init__(self, max_clients: int, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.max_clients = max_clients
        self.heartbeat = heartbeat
        self._clients: set[asyncio.Queue[bytes]] = set()

    @property
    def client_count(self) -> int:
        return len(self._clients)

    def publish(self, event: str, data: bytes) -> None:
        message = b"event: " + event.encode() + b"\ndata: " + data + b"\n\n"
        for queue in list(self._clients):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(queue)

    def _drop(self, queue: asyncio.Queue[bytes]) -> None:
        self._clients.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(_DROPPED)

    def stream(self) -> AsyncIterator[bytes]:
        if len(self._clients) >= self.max_clients:
            raise TooManyListeners()
        queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self._clients.add(queue)
        return self._messages(queue)

    async def _messages(self, queue: asyncio.Queue[bytes]) -> AsyncIterator[bytes]:
        try:
            yield b"retry: 3000\nevent: hello\ndata: {}\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), self.heartbeat)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if message == _DROPPED:
                    return
                yield message
        finally:
            self._clients.discard(queue)

    def close(self) -> None:
        for queue in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                self._drop(queue)
