"""Notifications survive what happens in real deployments, against a real `cityos serve`:
a receiver that is down for a minute under a stream of changes, and SIGKILL of the broker
in the middle of a stream. Every change is delivered, in order per entity, none lost;
duplicates only as at-least-once allows (a suffix re-sent after a crash). Both run on
SQLite and on PostgreSQL (`database_url`)."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.notification_receiver import NotificationReceiver, Received

API = "/ngsi-ld/v1"
ENTITIES = [f"urn:ngsi-ld:Counter:{n}" for n in range(10)]


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # The server reads its settings from the environment it is started with.
    monkeypatch.setenv("CITYOS_NOTIFICATION_RETRY_INITIAL", "0.2")
    monkeypatch.setenv("CITYOS_NOTIFICATION_RETRY_MAX", "2")


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    server = await NotificationReceiver().start()
    yield server
    await server.stop()


async def subscribe(client: httpx.AsyncClient, uri: str) -> None:
    response = await client.post(f"{API}/subscriptions", json={
        "id": "urn:ngsi-ld:Subscription:counters", "type": "Subscription",
        "entities": [{"type": "Counter"}], "notification": {"endpoint": {"uri": uri}}})
    assert response.status_code == 201, response.text


async def write_stream(client: httpx.AsyncClient, entity_id: str, acked: dict[str, int],
                       stop_at: float, pause: float) -> None:
    """Create the entity, then count up one PATCH at a time until `stop_at`."""
    n = 0
    while time.monotonic() < stop_at:
        try:
            if n == 0:
                response = await client.post(f"{API}/entities", json={
                    "id": entity_id, "type": "Counter", "n": {"type": "Property", "value": 0}})
                ok = response.status_code == 201
            else:
                response = await client.patch(f"{API}/entities/{entity_id}/attrs/n",
                                              json={"value": n})
                ok = response.status_code == 204
        except httpx.TransportError:
            return  # the broker is gone
        if ok:
            acked[entity_id] = n
            n += 1
        await asyncio.sleep(pause)


def values_by_entity(received: list[Received]) -> dict[str, list[int]]:
    seen: dict[str, list[int]] = defaultdict(list)
    for notification in received:
        for entity in notification.body["data"]:
            seen[entity["id"]].append(entity["n"]["value"])
    return dict(seen)


async def all_delivered(receiver: NotificationReceiver, acked: dict[str, int],
                        timeout: float) -> dict[str, list[int]]:
    deadline = time.monotonic() + timeout
    while True:
        seen = values_by_entity(receiver.received)
        if all(last in seen.get(e, []) for e, last in acked.items()):
            return seen
        assert time.monotonic() < deadline, {e: (acked[e], seen.get(e, [])[-3:])
                                             for e in acked}
        await asyncio.sleep(0.2)


async def test_a_receiver_down_for_a_minute_gets_every_change_in_order(
        database_url: str, receiver: NotificationReceiver) -> None:
    server = await asyncio.to_thread(ServerProcess, database_url)
    acked: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
            await subscribe(client, receiver.url)
            stop_at = time.monotonic() + 66
            writers = [asyncio.create_task(write_stream(client, e, acked, stop_at, 0.5))
                       for e in ENTITIES]
            await asyncio.sleep(3)
            await receiver.stop()  # refused connections for the next 60 s
            await asyncio.sleep(60)
            await receiver.start()  # same port
            await asyncio.gather(*writers)
            seen = await all_delivered(receiver, acked, timeout=30)
            status = (await client.get(
                f"{API}/subscriptions/urn:ngsi-ld:Subscription:counters")).json()
    finally:
        server.stop()
    assert sum(acked.values()) > 1000  # a real stream ran through the outage
    for entity_id, last in acked.items():
        # No crash here, so exactly once: every value, in order, no duplicates.
        assert seen[entity_id] == list(range(last + 1)), entity_id
    assert status["notification"]["timesFailed"] > 0
    assert status["notification"]["status"] == "ok"


async def test_sigkill_of_the_broker_mid_stream_loses_no_notification(
        database_url: str, receiver: NotificationReceiver) -> None:
    database = database_url
    server = await asyncio.to_thread(ServerProcess, database)
    acked: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
        await subscribe(client, receiver.url)
        stop_at = time.monotonic() + 30
        writers = [asyncio.create_task(write_stream(client, e, acked, stop_at, 0.0))
                   for e in ENTITIES]
        while sum(acked.values()) < 500 and time.monotonic() < stop_at - 5:
            await asyncio.sleep(0.05)
        server.kill()  # SIGKILL with changes committed, matched, queued and in flight
        await asyncio.gather(*writers)
    assert sum(acked.values()) >= 500, "the stream did not get going before the kill"

    restarted = await asyncio.to_thread(ServerProcess, database)
    try:
        seen = await all_delivered(receiver, acked, timeout=30)
    finally:
        restarted.stop()
    total = sum(len(values) for values in seen.values())
    for entity_id, last in acked.items():
        values = seen[entity_id]
        firsts = list(dict.fromkeys(values))
        # Every acknowledged change arrived, first arrivals in commit order; a write
        # committed just before the kill may arrive though its answer never did.
        assert firsts[:last + 1] == list(range(last + 1)), entity_id
        assert firsts == list(range(len(firsts))), entity_id
    # Re-sent after the restart: at most what was queued or in flight at the kill.
    assert total - sum(len(set(v)) for v in seen.values()) < 0.2 * total
