"""MQTT ingestion end to end over a real Mosquitto: publish → entity updated (read through
the NGSI-LD API) → subscription notified; signed payloads; a broker restart the subscriber
recovers from by itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import orjson
import pytest

from cityos.iot.mqtt import BrokerSettings, parse_topic, subscriptions
from cityos.iot.signatures import sign
from tests.iot.support import (
    SHARED_BROKER,
    PrivateMosquitto,
    iot_app,
    iot_service,
    provision,
    publish,
    require_mosquitto,
    unique_prefix,
    wait_connected,
    wait_for_value,
)
from tests.notification_receiver import NotificationReceiver

GAUGE = "urn:ngsi-ld:WaterObserved:gauge-1"
PORT = SHARED_BROKER[1]


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_mosquitto()


async def test_publish_updates_entity_and_notifies_subscription(tmp_path: Path) -> None:
    receiver = await NotificationReceiver().start()
    prefix = unique_prefix()
    try:
        with iot_app(tmp_path / "db.sqlite", mqtt_url="mqtt://127.0.0.1:1883",
                     prefix=prefix) as client:
            apikey = provision(client)["apikey"]
            subscription = client.post("/ngsi-ld/v1/subscriptions", json={
                "type": "Subscription", "entities": [{"type": "WaterObserved"}],
                "watchedAttributes": ["height"],
                "notification": {"endpoint": {"uri": receiver.url}}})
            assert subscription.status_code == 201, subscription.text
            wait_connected(client)
            await publish(PORT, f"{prefix}/{apikey}/gauge-1/attrs", b"l|123")
            found = await wait_for_value(client, GAUGE, "height", 1.23)
            assert found["height"]["unitCode"] == "MTR" and "observedAt" in found["height"]
            assert found["location"]["value"]["coordinates"] == [136.31, 36.305]
            [notified] = await receiver.wait_for(1)
            assert notified.body["data"][0]["height"]["value"] == 1.23

            # JSON on the /json/ topic, with the device's own time; other attributes stay
            await publish(PORT, f"{prefix}/json/{apikey}/gauge-1/attrs",
                          b'{"c": 7, "TimeInstant": "2026-11-26T00:00:00Z"}')
            found = await wait_for_value(client, GAUGE, "count", 7)
            assert found["count"]["observedAt"] == "2026-11-26T00:00:00.000000Z"
            assert found["height"]["value"] == 1.23
    finally:
        await receiver.stop()


async def test_signed_payloads_over_mqtt(tmp_path: Path) -> None:
    prefix = unique_prefix()
    with iot_app(tmp_path / "db.sqlite", mqtt_url="mqtt://127.0.0.1:1883",
                 prefix=prefix) as client:
        created = provision(client, signed=True, hmac=True)
        apikey, key = created["apikey"], created["hmac_key"].encode()
        wait_connected(client)
        topic = f"{prefix}/ul/{apikey}/gauge-1/attrs"
        good = sign(key, "gauge-1", b"l|200", int(time.time())).encode() + b"\nl|200"
        forged = sign(b"x" * 32, "gauge-1", b"l|999", int(time.time())).encode() + b"\nl|999"
        await publish(PORT, topic, b"l|300", forged, good, good)
        await wait_for_value(client, GAUGE, "height", 2.0)
        metrics = client.get("/metrics").text
        deadline = time.monotonic() + 10
        while 'reason="payloadReplayed"' not in metrics:
            assert time.monotonic() < deadline, metrics
            await asyncio.sleep(0.05)
            metrics = client.get("/metrics").text
        assert 'cityos_iot_rejected_total{reason="deviceSignatureInvalid",transport="mqtt"} 2' \
            in metrics  # the unsigned one and the forged one
        alerts = client.get("/ngsi-ld/v1/entities", params={"type": "Alert"},
                            headers={"NGSILD-Tenant": "cityos-admin"}).json()
        reasons = sorted(a["subCategory"]["value"] for a in alerts)
        assert reasons == ["deviceSignatureInvalid", "payloadReplayed"]  # one per minute


async def test_ingestion_resumes_after_broker_restart(tmp_path: Path) -> None:
    broker = PrivateMosquitto(tmp_path)
    broker.start()
    try:
        with iot_app(tmp_path / "db.sqlite", mqtt_url=f"mqtt://127.0.0.1:{broker.port}",
                     prefix="kaga") as client:
            apikey = provision(client)["apikey"]
            wait_connected(client)
            topic = f"kaga/{apikey}/gauge-1/attrs"
            await publish(broker.port, topic, b"c|1")
            await wait_for_value(client, GAUGE, "count", 1)

            broker.kill()
            mqtt = iot_service(client).mqtt
            assert mqtt is not None
            deadline = time.monotonic() + 15
            while mqtt.connected.is_set():
                assert time.monotonic() < deadline, "the loss was not noticed"
                await asyncio.sleep(0.05)
            await asyncio.sleep(1.5)  # a few reconnection attempts fail meanwhile
            broker.start()
            wait_connected(client, timeout=45)  # back-off is at most 30 s
            await publish(broker.port, topic, b"c|2")
            await wait_for_value(client, GAUGE, "count", 2)
            assert mqtt.connections >= 2 and mqtt.alive
            assert "cityos_iot_mqtt_disconnects_total" in client.get("/metrics").text
    finally:
        broker.kill()


async def test_many_measurements_are_written_together(tmp_path: Path) -> None:
    """Measurements that arrive while a write is in flight go into the next write as one
    batch upsert (one storage transaction): far fewer writes than messages."""
    prefix = unique_prefix()
    with iot_app(tmp_path / "db.sqlite", mqtt_url="mqtt://127.0.0.1:1883",
                 prefix=prefix) as client:
        keys = [provision(client, device_id=f"c{n}")["apikey"] for n in range(20)]
        wait_connected(client)
        stats = iot_service(client).ingester.stats
        async with aiomqtt.Client("127.0.0.1", PORT) as publisher:
            for round_number in range(25):
                for n, key in enumerate(keys):
                    await publisher.publish(f"{prefix}/{key}/c{n}/attrs",
                                            f"c|{round_number}".encode(), qos=0)
        await wait_for_value(client, "urn:ngsi-ld:WaterObserved:c19", "count", 24)
        deadline = time.monotonic() + 10
        while stats.written < 500:
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.05)
        assert stats.written == 500
        assert stats.batches < 250, orjson.dumps(stats.__dict__)
        writes = metric_value(client.get("/metrics").text, "cityos_iot_writes_total")
        assert stats.batches <= writes < 250  # one batch upsert per round of a batch


async def test_refused_messages_in_a_burst_cost_only_themselves(tmp_path: Path) -> None:
    """Messages are taken from the connection in bursts and admitted one by one: a
    refused message (wrong key, malformed) or one on a topic that is not ours, in the
    middle of a burst, loses nothing else."""
    prefix = unique_prefix()
    with iot_app(tmp_path / "db.sqlite", mqtt_url="mqtt://127.0.0.1:1883",
                 prefix=prefix) as client:
        keys = [provision(client, device_id=f"c{n}")["apikey"] for n in range(10)]
        wait_connected(client)
        stats = iot_service(client).ingester.stats
        async with aiomqtt.Client("127.0.0.1", PORT) as publisher:
            for number in range(200):
                n = number % 10
                await publisher.publish(f"{prefix}/{keys[n]}/c{n}/attrs",
                                        f"c|{number}".encode(), qos=0)
                if number % 20 == 5:
                    await publisher.publish(f"{prefix}/wrong-key/c{n}/attrs", b"c|-1")
                    await publisher.publish(f"{prefix}/{keys[n]}/c{n}/attrs", b"c|x")
                    await publisher.publish(f"{prefix}/{keys[n]}/c{n}/cmd", b"c|-2")
        await wait_for_value(client, "urn:ngsi-ld:WaterObserved:c9", "count", 199)
        deadline = time.monotonic() + 10
        while stats.written < 200:
            assert time.monotonic() < deadline, stats
            await asyncio.sleep(0.05)
        metrics = client.get("/metrics").text
        assert stats.written == 200
        assert 'cityos_iot_messages_total{transport="mqtt"} 220' in metrics
        assert 'cityos_iot_rejected_total{reason="deviceUnknown",transport="mqtt"} 10' \
            in metrics
        assert 'cityos_iot_rejected_total{reason="payloadMalformed",transport="mqtt"} 10' \
            in metrics
        for n in range(10):
            found = await wait_for_value(client, f"urn:ngsi-ld:WaterObserved:c{n}", "count",
                                         190 + n)
            assert found["count"]["value"] == 190 + n


async def test_processes_of_a_shared_group_split_the_messages(tmp_path: Path) -> None:
    prefix, group = unique_prefix(), unique_prefix()
    key = "shared-apikey-for-the-test"
    devices = [{"device_id": f"s{n}", "entity_type": "CrowdFlowObserved", "apikey": key,
                "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}]}
               for n in range(10)]
    options = {"mqtt_url": "mqtt://127.0.0.1:1883", "prefix": prefix,
               "iot_mqtt_shared_group": group}
    with iot_app(tmp_path / "a.sqlite", **options) as first, \
            iot_app(tmp_path / "b.sqlite", **options) as second:
        for client in (first, second):
            for device in devices:
                provision(client, device)
            wait_connected(client)
        await publish(PORT, f"{prefix}/{key}/s0/attrs", b"c|0")
        async with aiomqtt.Client("127.0.0.1", PORT) as publisher:
            for n in range(1, 40):
                await publisher.publish(f"{prefix}/{key}/s{n % 10}/attrs", f"c|{n}".encode(),
                                        qos=1)
        stats = [iot_service(client).ingester.stats for client in (first, second)]
        deadline = time.monotonic() + 15
        while sum(s.written for s in stats) < 40:
            assert time.monotonic() < deadline, [s.written for s in stats]
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert sum(s.written for s in stats) == 40  # each message once
        assert all(0 < s.written < 40 for s in stats)  # both took a share


def test_topics_of_the_fiware_convention() -> None:
    assert parse_topic("/k1/d1/attrs", "") == ("k1", "d1", "auto")
    assert parse_topic("/ul/k1/d1/attrs", "") == ("k1", "d1", "ul")
    assert parse_topic("kaga/json/k1/d1/attrs", "kaga") == ("k1", "d1", "json")
    for other in ("/k1/d1/cmd", "/k1/attrs", "kaga/k1/d1/attrs", "/xml/k1/d1/attrs",
                  "/k1/d1/attrs/extra"):
        assert parse_topic(other, "" if not other.startswith("kaga") else "other") is None
    assert subscriptions("kaga", "g") == ["$share/g/kaga/+/+/attrs",
                                          "$share/g/kaga/ul/+/+/attrs",
                                          "$share/g/kaga/json/+/+/attrs"]


def test_broker_urls() -> None:
    plain = BrokerSettings.parse("mqtt://iot%40kaga:p%2Fw@broker.example:1884")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == (
        "broker.example", 1884, "iot@kaga", "p/w", None)
    secure = BrokerSettings.parse("mqtts://broker.example")
    assert secure.port == 8883 and secure.tls is not None
    for bad in ("http://broker", "mqtt://", "broker:1883"):
        with pytest.raises(ValueError):
            BrokerSettings.parse(bad)


def metric_value(text: str, name: str) -> float:
    return next(float(line.split()[1]) for line in text.splitlines()
                if line.startswith(f"{name} "))
