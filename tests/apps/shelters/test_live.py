"""The live-update hub: every client gets each change; a slow client is dropped, not
waited for; the number of clients is bounded."""

from __future__ import annotations

import asyncio

import pytest

from cityos.apps.shelters.live import QUEUE_SIZE, LiveHub, TooManyListeners


async def _next(stream: object) -> bytes:
    return await asyncio.wait_for(stream.__anext__(), 2)  # type: ignore[attr-defined]


def test_clients_receive_changes_and_heartbeats() -> None:
    async def scenario() -> None:
        hub = LiveHub(max_clients=10, heartbeat=0.05)
        stream = hub.stream()
        assert (await _next(stream)).startswith(b"retry: 3000\nevent: hello")
        hub.publish("shelter", b'{"id":"a"}')
        assert await _next(stream) == b'event: shelter\ndata: {"id":"a"}\n\n'
        assert await _next(stream) == b": keep-alive\n\n"
        await stream.aclose()  # type: ignore[attr-defined]
        assert hub.client_count == 0
    asyncio.run(scenario())


def test_a_client_that_does_not_keep_up_is_dropped() -> None:
    async def scenario() -> None:
        hub = LiveHub(max_clients=10)
        stream = hub.stream()
        await _next(stream)
        for n in range(QUEUE_SIZE + 1):
            hub.publish("shelter", str(n).encode())
        assert hub.client_count == 0
        with pytest.raises(StopAsyncIteration):
            await _next(stream)
    asyncio.run(scenario())


def test_clients_are_bounded() -> None:
    hub = LiveHub(max_clients=1)
    hub.stream()
    with pytest.raises(TooManyListeners):
        hub.stream()
