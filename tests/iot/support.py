"""Helpers for IoT tests: the shared Mosquitto (127.0.0.1:1883), a private Mosquitto that
a test may stop and restart, an in-process City OS with MQTT ingestion on, provisioning."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.iot.plugin import IotPlugin
from cityos.iot.service import IotService
from tests.conftest import IN_CI
from tests.e2e.server import free_port

SHARED_BROKER = ("127.0.0.1", 1883)
MOSQUITTO_BINARY = "/usr/sbin/mosquitto"


def require_mosquitto() -> None:
    try:
        socket.create_connection(SHARED_BROKER, timeout=1).close()
    except OSError:
        if IN_CI:
            pytest.fail("Mosquitto must run at 127.0.0.1:1883 in CI")
        pytest.skip("no MQTT broker at 127.0.0.1:1883")


def unique_prefix() -> str:
    return f"cityos-test-{uuid.uuid4().hex[:10]}"


class PrivateMosquitto:
    """A mosquitto process of this test only, on its own port (the shared one is never
    stopped)."""

    def __init__(self, directory: Path) -> None:
        if not Path(MOSQUITTO_BINARY).exists():
            if IN_CI:
                pytest.fail("the mosquitto binary is required in CI")
            pytest.skip("mosquitto binary not installed")
        self.port = free_port()
        self.config = directory / "mosquitto.conf"
        self.config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
                               "persistence false\n")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([MOSQUITTO_BINARY, "-c", str(self.config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private mosquitto did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def iot_app(database: Path | str, *, mqtt_url: str = "", prefix: str = "",
            raise_server_exceptions: bool = True, **settings: Any) -> Iterator[TestClient]:
    """A City OS on `database` (a SQLite file, or a postgresql:// URL). With
    `raise_server_exceptions=False` an unexpected error is answered 500, as a real server
    answers it, instead of being raised in the test."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    values = {"database_url": url, "dev": True, "iot_mqtt_url": mqtt_url,
              "iot_mqtt_topic_prefix": prefix, **settings}
    app = build_app(load_settings(values, environ={}))
    with TestClient(app, base_url="http://127.0.0.1:1026",
                    raise_server_exceptions=raise_server_exceptions) as client:
        yield client


def iot_service(client: TestClient) -> IotService:
    for plugin in client.app.state.plugins:  # type: ignore[attr-defined]
        if isinstance(plugin, IotPlugin) and plugin.service is not None:
            return plugin.service
    raise AssertionError("the IoT plugin is not running")


def wait_connected(client: TestClient, timeout: float = 15.0) -> None:
    mqtt = iot_service(client).mqtt
    assert mqtt is not None
    deadline = time.monotonic() + timeout
    while not mqtt.connected.is_set():
        assert time.monotonic() < deadline, "the IoT MQTT subscriber did not connect"
        time.sleep(0.05)


RIVER_GAUGE = {"device_id": "gauge-1", "entity_type": "WaterObserved",
               "attributes": [{"object_id": "l", "name": "height", "type": "Number",
                               "unitCode": "MTR", "scale": 0.01},
                              {"object_id": "c", "name": "count", "type": "Integer"}],
               "location": {"type": "Point", "coordinates": [136.31, 36.305]},
               "purpose": "大聖寺川の水位監視", "operator": "加賀市"}


def provision(client: TestClient, device: dict[str, Any] | None = None,
              **extra: Any) -> dict[str, Any]:
    body = {**(device or RIVER_GAUGE), **extra}
    response = client.post("/iot/devices", json={"devices": [body]})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()["devices"][0]
    return created


def entity(client: TestClient, entity_id: str) -> dict[str, Any] | None:
    response = client.get(f"/ngsi-ld/v1/entities/{entity_id}")
    return response.json() if response.status_code == 200 else None


async def wait_for_value(client: TestClient, entity_id: str, attribute: str, value: Any,
                         timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        found = entity(client, entity_id)
        if found is not None and found.get(attribute, {}).get("value") == value:
            return found
        assert time.monotonic() < deadline, f"{attribute}={value!r} never arrived: {found}"
        await asyncio.sleep(0.05)


async def publish(port: int, topic: str, *payloads: bytes) -> None:
    async with aiomqtt.Client("127.0.0.1", port,
                              identifier=f"test-pub-{uuid.uuid4().hex[:8]}") as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)
