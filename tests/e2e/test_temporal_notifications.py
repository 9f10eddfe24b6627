"""Writes through the temporal API notify subscriptions, against a real `cityos serve` on
SQLite and PostgreSQL: a temporal POST whose instance is the latest changes the current
entity, the change journal records it in the same transaction, and the subscriber's
webhook receives the notification (ETSI GS CIM 009 §5.6.11–§5.6.16, §5.8)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.server import ServerProcess
from tests.notification_receiver import NotificationReceiver

API = "/ngsi-ld/v1"
SENSOR = "urn:ngsi-ld:CrowdSensor:gate"


@pytest.fixture
async def receiver() -> AsyncIterator[NotificationReceiver]:
    server = await NotificationReceiver().start()
    yield server
    await server.stop()


def _people(notification: Any) -> list[Any]:
    return [e.get("people", {}).get("value") for e in notification.body["data"]]


async def _subscribe(client: httpx.AsyncClient, uri: str) -> None:
    response = await client.post(f"{API}/subscriptions", json={
        "id": "urn:ngsi-ld:Subscription:crowd", "type": "Subscription",
        "entities": [{"type": "CrowdSensor"}],
        "notification": {"endpoint": {"uri": uri},
                         "attributes": ["people"]},
        "notificationTrigger": ["entityCreated", "entityUpdated", "attributeDeleted",
                                "entityDeleted"]})
    assert response.status_code == 201, response.text


async def test_temporal_writes_reach_a_subscribers_webhook(
        database_url: str, receiver: NotificationReceiver) -> None:
    server = await asyncio.to_thread(ServerProcess, database_url)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10.0) as client:
            await _subscribe(client, receiver.url)
            created = await client.post(f"{API}/temporal/entities", json={
                "id": SENSOR, "type": "CrowdSensor", "people": [
                    {"type": "Property", "value": 5, "observedAt": "2024-05-01T08:00:00Z"},
                    {"type": "Property", "value": 9, "observedAt": "2024-05-01T08:10:00Z"}]})
            assert created.status_code == 201, created.text
            [first] = await receiver.wait_for(1)
            assert _people(first) == [9]  # the latest instance is the current value

            appended = await client.post(f"{API}/temporal/entities/{SENSOR}/attrs", json={
                "people": [{"type": "Property", "value": 12,
                            "observedAt": "2024-05-01T08:20:00Z"}]})
            assert appended.status_code == 204, appended.text
            second = (await receiver.wait_for(2))[1]
            assert _people(second) == [12]

            current = (await client.get(f"{API}/entities/{SENSOR}")).json()
            assert current["people"]["value"] == 12

            deleted = await client.delete(f"{API}/temporal/entities/{SENSOR}")
            assert deleted.status_code == 204, deleted.text
            third = (await receiver.wait_for(3))[2]
            assert [e["id"] for e in third.body["data"]] == [SENSOR]
            assert (await client.get(f"{API}/entities/{SENSOR}")).status_code == 404
    finally:
        server.stop()
