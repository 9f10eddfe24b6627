"""Shelters are ordinary NGSI-LD entities: a subscription on EvacuationShelter is notified
of a staff change made in the shelter app (real server, real HTTP receiver)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from tests.apps.shelters.support import KINMEI, STAFF_HEADERS
from tests.e2e.server import ServerProcess


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()


def test_a_subscription_sees_a_staff_change(tmp_path: Path, receiver: HTTPServer) -> None:
    server = ServerProcess(tmp_path / "s.db", None, "--demo")
    try:
        endpoint = f"http://127.0.0.1:{receiver.server_address[1]}/notify"
        created = httpx.post(server.url + "/ngsi-ld/v1/subscriptions", json={
            "type": "Subscription", "entities": [{"type": "EvacuationShelter"}],
            "watchedAttributes": ["crowdingLevel"],
            "notification": {"endpoint": {"uri": endpoint, "accept": "application/json"},
                             "attributes": ["crowdingLevel", "peopleOccupancy"],
                             "format": "keyValues"}})
        assert created.status_code == 201, created.text
        changed = httpx.patch(f"{server.url}/shelters/api/shelters/{KINMEI}",
                              headers=STAFF_HEADERS, json={"status": "open",
                                                           "capacity": 100, "occupancy": 85})
        assert changed.status_code == 200
        deadline = time.monotonic() + 20
        while not _Receiver.received and time.monotonic() < deadline:
            time.sleep(0.05)
        [notification] = _Receiver.received
        [entity] = notification["data"]
        assert (entity["id"], entity["crowdingLevel"], entity["peopleOccupancy"]) == \
            (KINMEI, "full", 85)
    finally:
        server.stop()
