"""Admitted measurements waiting for the IoT writer, bounded by how many measurements they
hold (not how many items: one item may be a single HTTP message or a burst of hundreds of
MQTT messages). A producer waits while the backlog is at its limit; the writer takes items
in arrival order."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sized
from typing import Generic, TypeVar

Item = TypeVar("Item", bound=Sized)  # len(item): the measurements it holds


class Backlog(Generic[Item]):
    def __init__(self, limit: int) -> None:
        self._items: deque[Item] = deque()
        self._size = 0
        self._limit = limit
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()

    @property
    def size(self) -> int:
        """Measurements waiting."""
        return self._size

    def empty(self) -> bool:
        return not self._items

    async def put(self, item: Item) -> None:
        """Queue `item`, first waiting while the backlog is at its limit (an item larger
        than the limit still goes in once the backlog is below it)."""
        while self._size >= self._limit:
            self._room.clear()
            await self._room.wait()
        self._items.append(item)
        self._size += len(item)
        self._ready.set()

    async def get(self) -> Item:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self.get_nowait()

    def get_nowait(self) -> Item:
        item = self._items.popleft()
        self._size -= len(item)
        if self._size < self._limit:
            self._room.set()
        return item
