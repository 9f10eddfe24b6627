"""Two City OS apps on one PostgreSQL with the NATS JetStream event bus: a change written
through one is seen by the other's event listeners (live pages, caches, wake-ups)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.broker.events import EntityEvent
from cityos.config import load_settings
from cityos.plugins import CityPlugin, Platform
from tests.broker.test_bus_nats import NATS_URL, _nats_reachable
from tests.postgres_support import fresh_schema


class Watcher(CityPlugin):
    name = "watcher"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    async def startup(self, platform: Platform) -> None:
        async def record(events: Sequence[EntityEvent]) -> None:
            self.seen.extend((e.kind, e.entity_id) for e in events)
        platform.bus.listen(record)


def test_a_change_on_one_node_reaches_the_listeners_of_the_other() -> None:
    import os

    import pytest
    if not _nats_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is required under CI at {NATS_URL}")
        pytest.skip(f"no NATS at {NATS_URL}")
    stream = f"TEST_{uuid.uuid4().hex[:10]}"
    with fresh_schema() as url:
        settings = load_settings({"database_url": url, "dev": True, "event_bus": NATS_URL,
                                  "event_bus_stream": stream}, environ={})
        watcher_a, watcher_b = Watcher(), Watcher()
        with TestClient(build_app(settings, plugins=[watcher_a])) as node_a, \
                TestClient(build_app(settings, plugins=[watcher_b])) as node_b:
            entity = {"id": "urn:ngsi-ld:EvacuationShelter:nodes", "type": "EvacuationShelter",
                      "status": {"type": "Property", "value": "open"}}
            assert node_b.post("/ngsi-ld/v1/entities", json=entity).status_code == 201
            assert node_a.get(f"/ngsi-ld/v1/entities/{entity['id']}").status_code == 200
            deadline = time.monotonic() + 10
            while ("created", entity["id"]) not in watcher_a.seen:
                assert time.monotonic() < deadline, "node A never heard of node B's change"
                time.sleep(0.05)
            assert ("created", entity["id"]) in watcher_b.seen
        _delete_stream(stream)


def _delete_stream(name: str) -> None:
    import asyncio
    import contextlib

    import nats

    async def delete() -> None:
        nc = await nats.connect(NATS_URL)
        with contextlib.suppress(Exception):
            await nc.jetstream().delete_stream(name)
        await nc.close()
    asyncio.run(delete())
