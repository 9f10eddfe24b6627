"""Every feature is on every backend: subscriptions and the temporal API answer the same
on SQLite and PostgreSQL (once 501 on PostgreSQL)."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"


def test_subscriptions_and_temporal_answer_on_every_backend(client: TestClient) -> None:
    assert client.get(f"{API}/subscriptions").json() == []
    missing = client.get(f"{API}/temporal/entities/urn:ngsi-ld:Sensor:1")
    assert missing.status_code == 404
    assert missing.json()["type"].endswith("/ResourceNotFound")
