"""MQTT notifications (ETSI GS CIM 009 §7.3 MQTT binding): the Notification is published to
the topic of the endpoint URI, mqtt[s]://[user[:password]@]host[:port]/topic, wrapped as
{"metadata": {Content-Type, Link, receiverInfo…}, "body": Notification}.

notifierInfo `MQTT-QoS` (0, 1 or 2; default 0) and `MQTT-Version` (mqtt3.1.1, the default,
or mqtt5.0) apply per endpoint. One connection per broker (address, credentials and
protocol version) is opened on first use and reused; a lost connection is reopened on the
next send, and a send that fails on a connection that had gone stale is tried once more on
a fresh one before the attempt counts as failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import aiomqtt
import orjson
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cityos.broker.delivery.senders import DeliveryFailed
from cityos.broker.notification import Endpoint, OutgoingNotification

log = logging.getLogger(__name__)
_VERSIONS = {"mqtt3.1.1": aiomqtt.ProtocolVersion.V311, "mqtt5.0": aiomqtt.ProtocolVersion.V5}
IDLE_SECONDS = 600.0  # a broker connection unused this long is closed


@dataclass(frozen=True)
class BrokerAddress:
    secure: bool
    host: str
    port: int
    username: str | None
    password: str | None
    version: aiomqtt.ProtocolVersion


@dataclass(frozen=True)
class MqttTarget:
    broker: BrokerAddress
    topic: str
    qos: int


def mqtt_target(endpoint: Endpoint) -> MqttTarget:
    """Broker, topic and QoS of an mqtt:// or mqtts:// endpoint; DeliveryFailed if the URI
    or its notifierInfo cannot be used."""
    parts = urlsplit(endpoint.uri)
    secure = parts.scheme.lower() == "mqtts"
    topic = unquote(parts.path.lstrip("/"))
    if not parts.hostname or not topic:
        raise DeliveryFailed(f"MQTT endpoint {endpoint.uri!r} needs a host and a topic")
    info = dict(endpoint.notifier_info)
    version = _VERSIONS.get(info.get("MQTT-Version", "mqtt3.1.1"))
    qos = info.get("MQTT-QoS", "0")
    if version is None or qos not in ("0", "1", "2"):
        raise DeliveryFailed("MQTT-Version must be mqtt3.1.1 or mqtt5.0 and MQTT-QoS 0, 1 or 2")
    broker = BrokerAddress(secure, parts.hostname, parts.port or (8883 if secure else 1883),
                           unquote(parts.username) if parts.username else None,
                           unquote(parts.password) if parts.password else None, version)
    return MqttTarget(broker, topic, int(qos))


def mqtt_payload(notification: OutgoingNotification) -> bytes:
    """The §7.3 message: the HTTP headers as metadata, the Notification as body."""
    metadata = {"Content-Type": notification.content_type, **dict(notification.headers)}
    try:
        body: object = orjson.loads(notification.body)
    except orjson.JSONDecodeError:
        body = notification.body.decode("utf-8", "replace")
    return orjson.dumps({"metadata": metadata, "body": body})


def _publish_properties(notification: OutgoingNotification) -> Properties:
    properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
    properties.ContentType = notification.content_type
    if notification.headers:
        properties.UserProperty = list(notification.headers)
    return properties


class _BrokerConnection:
    def __init__(self, address: BrokerAddress, connect_timeout: float,
                 publish_timeout: float, tls: ssl.SSLContext | None) -> None:
        self.address = address
        self.last_used = time.monotonic()
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._tls = tls
        self._client: aiomqtt.Client | None = None
        self._lock = asyncio.Lock()

    def _alive(self, client: aiomqtt.Client) -> bool:
        # aiomqtt resolves this future when the broker connection drops.
        disconnected: asyncio.Future[None] | None = getattr(client, "_disconnected", None)
        return disconnected is None or not disconnected.done()

    async def _connected(self) -> tuple[aiomqtt.Client, bool]:
        """The open client and whether it was already open before this call."""
        async with self._lock:
            if self._client is not None and self._alive(self._client):
                return self._client, True
            await self._close_client()
            a = self.address
            client = aiomqtt.Client(
                a.host, a.port, username=a.username, password=a.password, protocol=a.version,
                identifier=f"cityos-{uuid.uuid4().hex[:12]}", timeout=self._connect_timeout,
                tls_context=self._tls, keepalive=30)
            try:
                async with asyncio.timeout(self._connect_timeout):
                    await client.__aenter__()
            except (aiomqtt.MqttError, TimeoutError, OSError) as error:
                raise DeliveryFailed(f"MQTT broker {a.host}:{a.port} not reachable: "
                                     f"{error or type(error).__name__}",
                                     unreachable=True) from None
            self._client = client
            return client, False

    async def publish(self, target: MqttTarget, payload: bytes,
                      properties: Properties | None) -> None:
        self.last_used = time.monotonic()
        for _ in range(2):
            client, reused = await self._connected()
            try:
                await client.publish(target.topic, payload, qos=target.qos,
                                     properties=properties, timeout=self._publish_timeout)
                return
            except aiomqtt.MqttError as error:
                await self.close(client)
                if not reused:
                    raise DeliveryFailed(f"MQTT publish failed: {error}",
                                         unreachable=True) from None
                log.info("MQTT connection to %s:%s was lost; reconnecting",
                         self.address.host, self.address.port)
        raise DeliveryFailed("MQTT publish failed after reconnecting", unreachable=True)

    async def close(self, client: aiomqtt.Client | None = None) -> None:
        async with self._lock:
            if client is None or client is self._client:
                await self._close_client()

    async def _close_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await client.__aexit__(None, None, None)


class MqttSender:
    """Publishes notifications, one reused connection per broker."""

    def __init__(self, *, connect_timeout: float = 5.0, publish_timeout: float = 10.0,
                 verify: bool = True) -> None:
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        self._verify = verify
        self._tls: ssl.SSLContext | None = None
        self._connections: dict[BrokerAddress, _BrokerConnection] = {}

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:
            self._tls = ssl.create_default_context()
            if not self._verify:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        return self._tls

    async def send(self, notification: OutgoingNotification) -> None:
        target = mqtt_target(notification.endpoint)
        connection = self._connections.get(target.broker)
        if connection is None:
            await self._close_idle()
            tls = self._tls_context() if target.broker.secure else None
            connection = _BrokerConnection(target.broker, self._connect_timeout,
                                           self._publish_timeout, tls)
            self._connections[target.broker] = connection
        v5 = target.broker.version == aiomqtt.ProtocolVersion.V5
        await connection.publish(target, mqtt_payload(notification),
                                 _publish_properties(notification) if v5 else None)

    async def _close_idle(self) -> None:
        cutoff = time.monotonic() - IDLE_SECONDS
        for address, connection in list(self._connections.items()):
            if connection.last_used < cutoff:
                del self._connections[address]
                await connection.close()

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.close()
