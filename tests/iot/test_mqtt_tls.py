"""MQTT over TLS (`mqtts://`) with a user name and password, against a real mosquitto
with a throwaway CA. Ingestion: measurements arrive; a broker certificate from another CA
and a wrong password are refused, each with a log line that says what to check and a
count on cityos_iot_mqtt_connect_failures_total{reason}. Notifications to an mqtts://
endpoint: delivered, and refused for a wrong password or an untrusted broker."""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import orjson
import pytest
from starlette.testclient import TestClient

from cityos.broker.delivery.mqtt_sender import MqttSender
from cityos.broker.delivery.senders import DeliveryFailed
from cityos.broker.notification import Endpoint, OutgoingNotification
from cityos.iot.mqtt import connect_failure
from cityos.iot.mqtt_connection import SubscriberConnection
from cityos.iot.mqtt_wire import BrokerRefused
from tests.iot.support import iot_app, iot_service, provision, wait_connected, wait_for_value
from tests.iot.tls_broker import TlsMosquitto, make_authority

USER, PASSWORD = "cityos-ingest", "tls-test-password-7f3a"
GAUGE = "urn:ngsi-ld:WaterObserved:gauge-1"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[TlsMosquitto]:
    directory = tmp_path / "broker"
    directory.mkdir()
    mosquitto = TlsMosquitto(directory, USER, PASSWORD).start()
    try:
        yield mosquitto
    finally:
        mosquitto.stop()


def url(broker: TlsMosquitto, password: str = PASSWORD) -> str:
    return f"mqtts://{USER}:{password}@127.0.0.1:{broker.port}"


def connect_failures(client: TestClient, reason: str) -> int:
    return iot_service(client).platform.counters.value(
        "cityos_iot_mqtt_connect_failures_total", reason=reason)


def wait_for_failure(client: TestClient, reason: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while connect_failures(client, reason) == 0:
        assert time.monotonic() < deadline, f"no connection failure counted as {reason}"
        time.sleep(0.05)


async def test_measurements_arrive_over_tls_with_a_password(
        tmp_path: Path, broker: TlsMosquitto) -> None:
    with iot_app(tmp_path / "db.sqlite", mqtt_url=url(broker), prefix="city",
                 iot_mqtt_ca_file=str(broker.authority.cert_file)) as client:
        apikey = provision(client)["apikey"]
        wait_connected(client)
        async with aiomqtt.Client("127.0.0.1", broker.port, username=USER, password=PASSWORD,
                                  tls_context=broker.client_context()) as device:
            await device.publish(f"city/{apikey}/gauge-1/attrs", b"l|321", qos=1)
        found = await wait_for_value(client, GAUGE, "height", 3.21)
        assert found["height"]["unitCode"] == "MTR"
        assert iot_service(client).mqtt.connections == 1  # type: ignore[union-attr]
        metrics = client.get("/metrics").text
        assert "cityos_iot_mqtt_connect_failures_total" not in metrics


async def test_a_broker_certificate_of_another_ca_is_refused(
        tmp_path: Path, broker: TlsMosquitto, caplog: pytest.LogCaptureFixture) -> None:
    stranger = make_authority(tmp_path, "some-other-ca")
    caplog.set_level(logging.WARNING, logger="cityos.iot.mqtt")
    with iot_app(tmp_path / "db.sqlite", mqtt_url=url(broker), prefix="city",
                 iot_mqtt_ca_file=str(stranger.cert_file)) as client:
        wait_for_failure(client, "tls")
        mqtt = iot_service(client).mqtt
        assert mqtt is not None and not mqtt.connected.is_set() and mqtt.connections == 0
        assert connect_failures(client, "credentials") == 0
        assert 'cityos_iot_mqtt_connect_failures_total{reason="tls"}' in \
            client.get("/metrics").text
    [line] = {r.getMessage() for r in caplog.records if "CERTIFICATE_VERIFY_FAILED" in
              r.getMessage()} or [""]
    assert "not trusted" in line and "CITYOS_IOT_MQTT_CA_FILE" in line, caplog.text


async def test_a_wrong_password_is_refused(
        tmp_path: Path, broker: TlsMosquitto, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="cityos.iot.mqtt")
    with iot_app(tmp_path / "db.sqlite", mqtt_url=url(broker, "not-the-password"),
                 prefix="city", iot_mqtt_ca_file=str(broker.authority.cert_file)) as client:
        wait_for_failure(client, "credentials")
        mqtt = iot_service(client).mqtt
        assert mqtt is not None and mqtt.connections == 0
        assert connect_failures(client, "tls") == 0
    refused = [r.getMessage() for r in caplog.records if "user name or password" in
               r.getMessage()]
    assert refused and "not authorized (code 5)" in refused[0], caplog.text


async def test_plain_mqtt_to_a_tls_listener_is_not_a_credentials_problem(
        broker: TlsMosquitto) -> None:
    with pytest.raises((ConnectionError, TimeoutError)) as raised:
        await SubscriberConnection.open("127.0.0.1", broker.port, None, client_id="plain",
                                        username=USER, password=PASSWORD,
                                        filters=["city/#"], keepalive=30)
    assert connect_failure(raised.value) == "unreachable"


def test_connect_failure_reasons() -> None:
    assert connect_failure(BrokerRefused(5)) == "credentials"
    assert connect_failure(BrokerRefused(4)) == "credentials"
    assert connect_failure(BrokerRefused(3)) == "refused"
    assert connect_failure(ssl.SSLCertVerificationError(1, "certificate verify failed")) \
        == "tls"
    assert connect_failure(ConnectionRefusedError(111, "Connection refused")) == "unreachable"


def tls_notification(uri: str, value: int) -> OutgoingNotification:
    body = orjson.dumps({"id": f"urn:ngsi-ld:Notification:{value}", "type": "Notification",
                         "subscriptionId": "urn:sub:tls", "data": [
                             {"id": GAUGE, "type": "WaterObserved", "height": value}]})
    return OutgoingNotification("", "urn:sub:tls", Endpoint(uri), "application/json", body,
                                (), ordering_key=GAUGE)


async def test_notifications_to_an_mqtts_endpoint(
        tmp_path: Path, broker: TlsMosquitto, monkeypatch: pytest.MonkeyPatch) -> None:
    """Notification delivery verifies the broker against the default trust store, which
    SSL_CERT_FILE points at a private CA."""
    endpoint = f"127.0.0.1:{broker.port}/alerts/river"
    monkeypatch.setenv("SSL_CERT_FILE", str(broker.authority.cert_file))
    sender = MqttSender()
    try:
        async with aiomqtt.Client("127.0.0.1", broker.port, username=USER,
                                  password=PASSWORD,
                                  tls_context=broker.client_context()) as listener:
            await listener.subscribe("alerts/river", qos=1)
            await sender.send(tls_notification(f"mqtts://{USER}:{PASSWORD}@{endpoint}", 7))
            message = await asyncio.wait_for(anext(aiter(listener.messages)), 10)
            assert isinstance(message.payload, bytes)
            assert orjson.loads(message.payload)["body"]["data"][0]["height"] == 7
        with pytest.raises(DeliveryFailed, match="not reachable"):
            await sender.send(tls_notification(f"mqtts://{USER}:wrong@{endpoint}", 8))
    finally:
        await sender.aclose()
    stranger = make_authority(tmp_path, "another-ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(stranger.cert_file))
    distrustful = MqttSender()
    try:
        with pytest.raises(DeliveryFailed, match="CERTIFICATE_VERIFY_FAILED"):
            await distrustful.send(
                tls_notification(f"mqtts://{USER}:{PASSWORD}@{endpoint}", 9))
    finally:
        await distrustful.aclose()
