"""A real server with personal attributes sealed at rest still notifies subscribers with
the plaintext (the change journal is opened before matching), over real HTTP."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from cityos.security.keys import generate_key_ring, write_key_ring
from tests.e2e.server import ServerProcess
from tests.notification_receiver import NotificationReceiver

SECRET = "0761-22-2222-PLAINTEXT"


async def test_subscribers_receive_personal_attributes_opened(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "cityos.keys"
    write_key_ring(key_file, generate_key_ring())
    monkeypatch.setenv("CITYOS_KEY_FILE", str(key_file))
    monkeypatch.setenv("CITYOS_PERSONAL_ATTRIBUTES", "phoneNumber")
    receiver = await NotificationReceiver().start()
    server = await asyncio.to_thread(ServerProcess, tmp_path / "cityos.db")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            subscription = {"id": "urn:ngsi-ld:Subscription:evacuees", "type": "Subscription",
                            "entities": [{"type": "Evacuee"}],
                            "notification": {"endpoint": {"uri": receiver.url}}}
            made = await client.post("/ngsi-ld/v1/subscriptions",
                                     content=orjson.dumps(subscription),
                                     headers={"Content-Type": "application/json"})
            assert made.status_code == 201, made.text
            entity = {"id": "urn:ngsi-ld:Evacuee:7", "type": "Evacuee",
                      "phoneNumber": {"type": "Property", "value": SECRET}}
            created = await client.post("/ngsi-ld/v1/entities", content=orjson.dumps(entity),
                                        headers={"Content-Type": "application/json"})
            assert created.status_code == 201, created.text
            received = await receiver.wait_for(1, timeout=20)
            data = received[0].body["data"][0]
            assert data["phoneNumber"]["value"] == SECRET
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("cityos.db*"))
        assert SECRET.encode() not in raw
    finally:
        await asyncio.to_thread(server.kill)
        await receiver.stop()


async def test_temporal_writes_of_personal_attributes_notify_opened_and_stay_sealed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "cityos.keys"
    write_key_ring(key_file, generate_key_ring())
    monkeypatch.setenv("CITYOS_KEY_FILE", str(key_file))
    monkeypatch.setenv("CITYOS_PERSONAL_ATTRIBUTES", "phoneNumber")
    receiver = await NotificationReceiver().start()
    server = await asyncio.to_thread(ServerProcess, tmp_path / "cityos.db")
    json_body = {"Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            subscription = {"id": "urn:ngsi-ld:Subscription:evacuees", "type": "Subscription",
                            "entities": [{"type": "Evacuee"}],
                            "notification": {"endpoint": {"uri": receiver.url}}}
            made = await client.post("/ngsi-ld/v1/subscriptions",
                                     content=orjson.dumps(subscription), headers=json_body)
            assert made.status_code == 201, made.text
            entity = {"id": "urn:ngsi-ld:Evacuee:8", "type": "Evacuee", "phoneNumber": [
                {"type": "Property", "value": SECRET, "observedAt": "2026-01-01T00:00:00Z"}]}
            created = await client.post("/ngsi-ld/v1/temporal/entities",
                                        content=orjson.dumps(entity), headers=json_body)
            assert created.status_code == 201, created.text
            received = await receiver.wait_for(1, timeout=20)
            assert received[0].body["data"][0]["phoneNumber"]["value"] == SECRET
        raw = b"".join(p.read_bytes() for p in tmp_path.glob("cityos.db*"))
        assert SECRET.encode() not in raw
    finally:
        await asyncio.to_thread(server.kill)
        await receiver.stop()
