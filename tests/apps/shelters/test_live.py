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


def test_the_feed_catches_up_with_writes_of_other_processes() -> None:
    from cityos.apps.shelters.feed import ShelterFeed
    from cityos.apps.shelters.model import Shelter

    def shelter(n: int, status: str = "closed") -> Shelter:
        return Shelter(id=f"urn:ngsi-ld:EvacuationShelter:{n}", name=str(n), lon=136.3,
                       lat=36.3, status=status)

    async def scenario() -> None:
        hub = LiveHub(max_clients=10)
        feed = ShelterFeed(hub)
        feed.load([shelter(1), shelter(2)])
        stream = hub.stream()
        await _next(stream)
        before = feed.body()[1]
        assert feed.reconcile([shelter(1, "open"), shelter(3)]) == 3
        assert {s.id[-1] for s in feed.shelters} == {"1", "3"}
        assert feed.body()[1] != before
        events = {(await _next(stream)).split(b"\n")[0] for _ in range(3)}
        assert events == {b"event: shelter", b"event: removed"}
        assert feed.reconcile([shelter(1, "open"), shelter(3)]) == 0
        await stream.aclose()  # type: ignore[attr-defined]
    asyncio.run(scenario())
