"""Operators see notification delivery in /metrics: what was sent, what failed, what waits."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings


@pytest.fixture
def sqlite_client(tmp_path: Path) -> Iterator[TestClient]:
    """Subscriptions and delivery live on the SQLite backend so far."""
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'cityos.db'}",
                              "dev": True}, environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026") as test_client:
        yield test_client


def metric(text: str, name: str) -> float:
    found = re.search(rf"^cityos_notifications_{name} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} missing from /metrics"
    return float(found.group(1))


def test_metrics_show_failed_attempts_and_the_waiting_notification(
        sqlite_client: TestClient) -> None:
    client = sqlite_client
    response = client.post("/ngsi-ld/v1/subscriptions", json={
        "id": "urn:ngsi-ld:Subscription:m", "type": "Subscription",
        "entities": [{"type": "Shelter"}],
        "notification": {"endpoint": {"uri": "http://127.0.0.1:9/unreachable"}}})
    assert response.status_code == 201, response.text
    response = client.post("/ngsi-ld/v1/entities", json={
        "id": "urn:ngsi-ld:Shelter:1", "type": "Shelter",
        "capacity": {"type": "Property", "value": 80}})
    assert response.status_code == 201
    deadline = time.monotonic() + 5
    while True:
        text = client.get("/metrics").text
        if metric(text, "failed_attempts_total") >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert metric(text, "failed_attempts_total") >= 1
    assert metric(text, "outbox_backlog") == 1
    assert metric(text, "delivered_total") == 0
