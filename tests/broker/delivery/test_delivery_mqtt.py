"""MQTT notifications through the real Mosquitto at 127.0.0.1:1883: the §7.3 payload,
QoS and protocol version per endpoint, one reused connection, reconnection after loss."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import orjson
import pytest
from tests.conftest import IN_CI
from tests.delivery_support import running_broker

from cityos.broker.delivery.mqtt_sender import MqttSender, mqtt_target
from cityos.broker.delivery.senders import DeliveryFailed
from cityos.broker.delivery.service import DeliveryConfig
from cityos.broker.notification import Endpoint, OutgoingNotification

MOSQUITTO = ("127.0.0.1", 1883)
LINK = '<https://example.org/ctx.jsonld>; rel="http://www.w3.org/ns/json-ld#context"'


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    try:
        socket.create_connection(MOSQUITTO, timeout=1).close()
    except OSError:
        if IN_CI:
            pytest.fail("Mosquitto must run at 127.0.0.1:1883 in CI")
        pytest.skip("no MQTT broker at 127.0.0.1:1883")


@contextlib.asynccontextmanager
async def listening(topic: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(*MOSQUITTO, identifier=f"test-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic, qos=2)
        yield client


async def next_messages(client: aiomqtt.Client, count: int,
                        timeout: float = 5.0) -> list[aiomqtt.Message]:
    messages: list[aiomqtt.Message] = []

    async def collect() -> None:
        async for message in client.messages:
            messages.append(message)
            if len(messages) == count:
                return

    await asyncio.wait_for(collect(), timeout)
    return messages


def notification(uri: str, value: int, **notifier: str) -> OutgoingNotification:
    body = orjson.dumps({"id": f"urn:ngsi-ld:Notification:{value}", "type": "Notification",
                         "subscriptionId": "urn:sub:1",
                         "data": [{"id": "urn:ngsi-ld:Counter:1", "type": "Counter",
                                   "count": value}]})
    endpoint = Endpoint(uri, receiver_info=(("test-receiver-key", "test-receiver-info"),),
                        notifier_info=tuple(notifier.items()))
    return OutgoingNotification("", "urn:sub:1", endpoint, "application/json", body,
                                (("Link", LINK), ("test-receiver-key", "test-receiver-info")),
                                ordering_key="urn:ngsi-ld:Counter:1")


class CuttableProxy:
    """A TCP relay to Mosquitto that counts connections and can cut them all."""

    def __init__(self) -> None:
        self.connections = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.Server | None = None

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection(*MOSQUITTO)
        self._writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    async def stop(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


@pytest.mark.parametrize(("version", "qos"), [(None, None), ("mqtt3.1.1", "1"),
                                              ("mqtt5.0", "2"), ("mqtt5.0", "0")])
async def test_changes_are_published_as_metadata_and_body(
        tmp_path: Path, version: str | None, qos: str | None) -> None:
    topic = f"cityos-test/{uuid.uuid4().hex}"
    notifier = tuple((k, v) for k, v in (("MQTT-Version", version), ("MQTT-QoS", qos)) if v)
    endpoint = Endpoint(f"mqtt://127.0.0.1:1883/{topic}",
                        receiver_info=(("test-receiver-key", "test-receiver-info"),),
                        notifier_info=notifier)
    async with listening(topic) as client, running_broker(
            tmp_path / "db", DeliveryConfig(), [("urn:sub:1", endpoint)]) as broker:
        await broker.set_count("urn:ngsi-ld:Counter:1", 41)
        await broker.set_count("urn:ngsi-ld:Counter:1", 42)
        first, second = await next_messages(client, 2)
    assert first.qos == int(qos or 0)
    payload = orjson.loads(first.payload)  # type: ignore[arg-type]
    assert payload["metadata"]["Content-Type"] == "application/json"
    assert payload["body"]["type"] == "Notification"
    assert payload["body"]["data"] == [{"id": "urn:ngsi-ld:Counter:1", "count": 41}]
    assert orjson.loads(second.payload)["body"]["data"][0]["count"] == 42  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    assert broker.status.delivered_to == ["urn:sub:1", "urn:sub:1"]


async def test_payload_carries_link_and_receiver_info_as_metadata() -> None:
    topic = f"cityos-test/{uuid.uuid4().hex}"
    sender = MqttSender()
    try:
        async with listening(topic) as client:
            await sender.send(notification(f"mqtt://127.0.0.1/{topic}", 1))
            [message] = await next_messages(client, 1)
    finally:
        await sender.aclose()
    payload = orjson.loads(message.payload)  # type: ignore[arg-type]
    assert payload["metadata"] == {"Content-Type": "application/json", "Link": LINK,
                                   "test-receiver-key": "test-receiver-info"}
    assert payload["body"]["data"][0]["id"] == "urn:ngsi-ld:Counter:1"


async def test_one_connection_is_reused_and_reopened_after_it_is_lost() -> None:
    proxy = CuttableProxy()
    port = await proxy.start()
    topic = f"cityos-test/{uuid.uuid4().hex}"
    uri = f"mqtt://user:secret@127.0.0.1:{port}/{topic}"
    sender = MqttSender(connect_timeout=2.0, publish_timeout=2.0)
    try:
        async with listening(topic) as client:
            for value in range(10):
                await sender.send(notification(uri, value, **{"MQTT-QoS": "1"}))
            assert proxy.connections == 1
            proxy.cut()  # the broker connection drops between two notifications
            await asyncio.sleep(0.1)
            await sender.send(notification(uri, 10, **{"MQTT-QoS": "1"}))
            messages = await next_messages(client, 11)
        assert proxy.connections == 2
        counts = [orjson.loads(m.payload)["body"]["data"][0]["count"]  # type: ignore[arg-type]
                  for m in messages]
        assert counts == list(range(11))
    finally:
        await sender.aclose()
        await proxy.stop()


async def test_an_unreachable_broker_is_a_failed_attempt() -> None:
    sender = MqttSender(connect_timeout=1.0)
    try:
        with pytest.raises(DeliveryFailed) as failure:
            await sender.send(notification("mqtt://127.0.0.1:9/topic", 1))
        assert failure.value.unreachable
    finally:
        await sender.aclose()


def test_endpoint_uri_names_broker_credentials_topic_and_options() -> None:
    target = mqtt_target(Endpoint("mqtts://us%40er:p%3Ass@broker.example:8884/city/kaga/%23x",
                                  notifier_info=(("MQTT-QoS", "2"),
                                                 ("MQTT-Version", "mqtt5.0"))))
    assert (target.broker.host, target.broker.port, target.broker.secure) == (
        "broker.example", 8884, True)
    assert (target.broker.username, target.broker.password) == ("us@er", "p:ss")
    assert (target.topic, target.qos) == ("city/kaga/#x", 2)
    assert target.broker.version == aiomqtt.ProtocolVersion.V5
    plain = mqtt_target(Endpoint("mqtt://broker.example/t"))
    assert (plain.broker.port, plain.qos, plain.broker.username) == (1883, 0, None)
    with pytest.raises(DeliveryFailed):
        mqtt_target(Endpoint("mqtt://broker.example/t", notifier_info=(("MQTT-QoS", "3"),)))
    with pytest.raises(DeliveryFailed):
        mqtt_target(Endpoint("mqtt://broker.example/"))
