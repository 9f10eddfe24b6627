"""The ingestion subscriber's own MQTT connection against a real mosquitto: QoS 1 messages
are acknowledged (with one in-flight slot, an unacknowledged message would stop the
broker), messages published before SUBACK are kept, and a broker that stops answering
is noticed through keep-alive."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

import aiomqtt

from cityos.iot.mqtt_connection import SubscriberConnection
from cityos.iot.mqtt_wire import Publish
from tests.iot.support import PrivateMosquitto


def single_slot_broker(directory: Path) -> PrivateMosquitto:
    broker = PrivateMosquitto(directory)
    broker.config.write_text(broker.config.read_text() + "max_inflight_messages 1\n")
    broker.start()
    return broker


async def test_qos1_messages_are_acknowledged_in_order(tmp_path: Path) -> None:
    broker = single_slot_broker(tmp_path)
    received: list[Publish] = []

    async def take(publishes: list[Publish]) -> None:
        received.extend(publishes)

    try:
        connection = await SubscriberConnection.open(
            "127.0.0.1", broker.port, None, client_id="ingest-test", username=None,
            password=None, filters=["city/+/attrs"], keepalive=30)
        reading = asyncio.create_task(connection.receive(take))
        async with aiomqtt.Client("127.0.0.1", broker.port) as device:
            for n in range(50):
                await device.publish("city/d1/attrs", f"c|{n}".encode(), qos=1)
            await device.publish("elsewhere/d1/attrs", b"c|x", qos=1)
        deadline = time.monotonic() + 10
        while len(received) < 50:
            assert time.monotonic() < deadline, f"only {len(received)} arrived"
            await asyncio.sleep(0.02)
        assert [p.payload for p in received] == [f"c|{n}".encode() for n in range(50)]
        assert all(p.qos == 1 and p.packet_id is not None for p in received)
        reading.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reading
        connection.close()
    finally:
        broker.kill()


async def test_a_broker_that_stops_answering_is_dropped(tmp_path: Path) -> None:
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    assert broker.process is not None
    try:
        connection = await SubscriberConnection.open(
            "127.0.0.1", broker.port, None, client_id="keepalive-test", username=None,
            password=None, filters=["city/#"], keepalive=2)

        async def ignore(_: list[Publish]) -> None:
            return None

        os.kill(broker.process.pid, signal.SIGSTOP)
        started = time.monotonic()
        try:
            await asyncio.wait_for(connection.receive(ignore), 10)
        except TimeoutError as ended:
            waited = time.monotonic() - started
            assert 2.5 <= waited <= 6, (waited, ended)
            assert "keep-alive" in str(ended)
        else:
            raise AssertionError("receive returned while the broker was frozen")
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
            connection.close()
    finally:
        broker.kill()
