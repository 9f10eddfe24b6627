"""The NATS JetStream event bus against the real NATS server at 127.0.0.1:4222: fan-out to
every process, work queues handled once per group, redelivery after a process dies."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence

import pytest

from cityos.broker.bus_nats import (
    MAX_MESSAGE_BYTES,
    NatsBusConfig,
    NatsEventBus,
    decode_events,
    encode_events,
)
from cityos.broker.events import EntityEvent

NATS_URL = os.environ.get("CITYOS_TEST_NATS_URL", "nats://127.0.0.1:4222")


def _nats_reachable() -> bool:
    host, port = NATS_URL.removeprefix("nats://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def require_nats() -> None:
    if not _nats_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is required under CI at {NATS_URL}")
        pytest.skip(f"no NATS at {NATS_URL}")


def event(number: int, tenant: str = "") -> EntityEvent:
    entity = {"id": f"urn:ngsi-ld:Sensor:{number}", "type": ["https://example.org/Sensor"],
              "attrs": {}}
    return EntityEvent(kind="created", tenant=tenant, entity_id=entity["id"], before=None,
                       after=entity)


@pytest.fixture
async def stream_config(require_nats: None) -> AsyncIterator[Callable[..., NatsBusConfig]]:
    name = f"TEST_{uuid.uuid4().hex[:10]}"
    subject = f"cityos.test.{name}"

    def config(**overrides: float) -> NatsBusConfig:
        return NatsBusConfig(url=NATS_URL, stream=name, subject=subject, **overrides)

    yield config
    import nats
    nc = await nats.connect(NATS_URL)
    with contextlib.suppress(Exception):
        await nc.jetstream().delete_stream(name)
    await nc.close()


class Recorder:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, events: Sequence[EntityEvent]) -> None:
        self.ids.extend(e.entity_id for e in events)


async def eventually(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


def test_large_batches_are_split_into_messages_that_fit() -> None:
    big = {"id": "x", "type": ["t"], "attrs": {"p": [{"value": "a" * 300_000}]}}
    events = [EntityEvent("created", "", f"urn:x:{i}", None, {**big, "id": f"urn:x:{i}"})
              for i in range(7)]
    messages = encode_events(events)
    assert len(messages) > 1
    assert all(len(m) <= MAX_MESSAGE_BYTES for m in messages)
    decoded = [e for m in messages for e in decode_events(m)]
    assert decoded == events


async def test_every_process_sees_every_event_in_order(
        stream_config: Callable[..., NatsBusConfig]) -> None:
    node_a, node_b = NatsEventBus(stream_config()), NatsEventBus(stream_config())
    seen_a, seen_b = Recorder(), Recorder()
    node_a.listen(seen_a)
    node_b.listen(seen_b)
    await node_a.start()
    await node_b.start()
    try:
        for number in range(50):
            await (node_a if number % 2 else node_b).publish([event(number)])
            await (node_a if number % 2 else node_b).drain()
        expected = [f"urn:ngsi-ld:Sensor:{n}" for n in range(50)]
        await eventually(lambda: len(seen_a.ids) == 50 and len(seen_b.ids) == 50)
        assert seen_a.ids == expected
        assert seen_b.ids == expected
    finally:
        await node_a.close()
        await node_b.close()


async def test_a_work_queue_handles_each_event_once_across_processes(
        stream_config: Callable[..., NatsBusConfig]) -> None:
    nodes = [NatsEventBus(stream_config()) for _ in range(2)]
    handled = Recorder()
    for node in nodes:
        node.work_queue("subscriptions", handled)
        await node.start()
    try:
        await asyncio.sleep(0.5)  # both consumers bound before the first event
        await nodes[0].publish([event(n) for n in range(100)])
        await nodes[1].publish([event(n) for n in range(100, 200)])
        await eventually(lambda: len(handled.ids) >= 200)
        await asyncio.sleep(1.0)  # no late duplicates
        assert sorted(handled.ids) == sorted(f"urn:ngsi-ld:Sensor:{n}" for n in range(200))
    finally:
        for node in nodes:
            await node.close()


async def test_events_of_a_process_that_dies_mid_batch_are_redelivered(
        stream_config: Callable[..., NatsBusConfig]) -> None:
    stuck = asyncio.Event()

    async def dies(events: Sequence[EntityEvent]) -> None:
        stuck.set()
        await asyncio.sleep(3600)  # the process "hangs" and is then killed

    node_a = NatsEventBus(stream_config(ack_wait_seconds=2.0))
    node_a.work_queue("subscriptions", dies)
    await node_a.start()
    await asyncio.sleep(0.5)
    await node_a.publish([event(n) for n in range(10)])
    await asyncio.wait_for(stuck.wait(), 10)
    await node_a.close()  # killed: nothing acknowledged

    handled = Recorder()
    node_b = NatsEventBus(stream_config(ack_wait_seconds=2.0))
    node_b.work_queue("subscriptions", handled)
    await node_b.start()
    try:
        await eventually(lambda: set(handled.ids) >= {f"urn:ngsi-ld:Sensor:{n}"
                                                      for n in range(10)})
    finally:
        await node_b.close()
