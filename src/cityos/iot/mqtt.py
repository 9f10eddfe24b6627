"""MQTT ingestion: one subscriber connection to the broker (CITYOS_IOT_MQTT_URL), topics of
the FIWARE IoT Agent convention, reconnecting by itself with exponential back-off. The
connection is `mqtt_connection.SubscriberConnection` (MQTT 3.1.1 over asyncio streams):
every message of a read is admitted in one go.

Topics (under an optional prefix, CITYOS_IOT_MQTT_TOPIC_PREFIX):
`/{apikey}/{deviceId}/attrs` (JSON or UltraLight, told apart by the first byte),
`/ul/{apikey}/{deviceId}/attrs` and `/json/{apikey}/{deviceId}/attrs`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from cityos.iot.ingest import Ingester, Message
from cityos.iot.mqtt_connection import SubscriberConnection
from cityos.iot.mqtt_wire import BrokerRefused, Publish
from cityos.iot.payloads import PayloadFormat
from cityos.metrics import Counters

log = logging.getLogger("cityos.iot.mqtt")
BACKOFF_INITIAL = 0.5
BACKOFF_MAX = 30.0
KEEPALIVE = 30
# CONNACK codes meaning "who you are is not accepted" (4 bad user name or password,
# 5 not authorized).
_CREDENTIALS_REFUSED = frozenset({4, 5})
_HINTS = {"tls": "the broker's certificate is not trusted or TLS failed (check "
                 "CITYOS_IOT_MQTT_CA_FILE and the host name in CITYOS_IOT_MQTT_URL)",
          "credentials": "the broker refused the user name or password (check "
                         "CITYOS_IOT_MQTT_URL)",
          "refused": "the broker refused the connection",
          "unreachable": "the broker cannot be reached"}


@dataclass(frozen=True)
class BrokerSettings:
    host: str
    port: int
    username: str | None
    password: str | None
    tls: ssl.SSLContext | None

    @classmethod
    def parse(cls, url: str, ca_file: str = "") -> BrokerSettings:
        """mqtt://[user[:password]@]host[:port] or mqtts://… (TLS, CA from `ca_file` or
        the system store)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"IoT MQTT URL {url!r} must be mqtt://host[:port] or mqtts://…")
        secure = parts.scheme == "mqtts"
        tls = ssl.create_default_context(cafile=ca_file or None) if secure else None
        return cls(parts.hostname, parts.port or (8883 if secure else 1883),
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, tls)


def connect_failure(error: BaseException) -> str:
    """Why a connection could not be opened: `tls`, `credentials`, `refused` (another
    CONNACK code) or `unreachable`."""
    if isinstance(error, BrokerRefused):
        return "credentials" if error.code in _CREDENTIALS_REFUSED else "refused"
    if isinstance(error, ssl.SSLError):
        return "tls"
    return "unreachable"


def subscriptions(prefix: str, shared_group: str = "") -> list[str]:
    """The topic filters; with a shared group, as shared subscriptions, so processes of
    one group split the messages between them."""
    filters = [f"{prefix}/+/+/attrs", f"{prefix}/ul/+/+/attrs", f"{prefix}/json/+/+/attrs"]
    return [f"$share/{shared_group}/{f}" for f in filters] if shared_group else filters


def parse_topic(topic: str, prefix: str) -> tuple[str, str, PayloadFormat] | None:
    """(apikey, device id, payload format) of a measurement topic, None for any other."""
    if not topic.startswith(prefix + "/"):
        return None
    levels = topic[len(prefix) + 1:].split("/")
    if len(levels) == 3 and levels[2] == "attrs":
        return levels[0], levels[1], "auto"
    if len(levels) == 4 and levels[3] == "attrs" and levels[0] in ("ul", "json"):
        return levels[1], levels[2], "ul" if levels[0] == "ul" else "json"
    return None


class MqttIngestion:
    """Keeps a subscription open and hands every message to the ingester."""

    def __init__(self, broker: BrokerSettings, prefix: str, ingester: Ingester,
                 counters: Counters, shared_group: str = "") -> None:
        self._broker = broker
        self._prefix = prefix.rstrip("/")
        self._shared_group = shared_group
        self._ingester = ingester
        self._counters = counters
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()
        self.connections = 0
        self._was_up = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iot-mqtt")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        delay = BACKOFF_INITIAL
        while True:
            self._was_up = False
            try:
                await self._session()
                problem = "connection closed"
            except asyncio.CancelledError:
                raise
            except Exception as error:  # broker down or connection lost: retry
                problem = str(error) or type(error).__name__
                if not self._was_up:
                    problem = self._connect_failed(error, problem)
            self.connected.clear()
            if self._was_up:  # it worked until now: try again soon
                delay = BACKOFF_INITIAL
            log.warning("IoT MQTT broker %s:%s: %s; reconnecting in %.1f s",
                        self._broker.host, self._broker.port, problem, delay)
            self._counters.inc("cityos_iot_mqtt_disconnects_total",
                               "Times the IoT MQTT subscriber lost or could not open its "
                               "broker connection.")
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, BACKOFF_MAX)

    def _connect_failed(self, error: BaseException, problem: str) -> str:
        """Count a connection that could not be opened by its reason; the log line."""
        reason = connect_failure(error)
        self._counters.inc("cityos_iot_mqtt_connect_failures_total",
                           "IoT MQTT connections that could not be opened, by reason "
                           "(tls, credentials, refused, unreachable).", reason=reason)
        return f"{_HINTS[reason]}: {problem}"

    async def _session(self) -> None:
        b = self._broker
        connection = await SubscriberConnection.open(
            b.host, b.port, b.tls, client_id=f"cityos-iot-{uuid.uuid4().hex[:12]}",
            username=b.username, password=b.password,
            filters=subscriptions(self._prefix, self._shared_group), keepalive=KEEPALIVE)
        try:
            self.connections += 1
            self._was_up = True
            self.connected.set()
            log.info("IoT MQTT subscriber connected to %s:%s", b.host, b.port)
            await connection.receive(self._deliver)
        finally:
            connection.close()

    async def _deliver(self, publishes: list[Publish]) -> None:
        await self._ingester.ingest_many(
            [m for m in map(self._message, publishes) if m is not None])

    def _message(self, received: Publish) -> Message | None:
        route = parse_topic(received.topic, self._prefix)
        if route is None:
            return None
        apikey, device_id, payload_format = route
        return Message(apikey, device_id, received.payload, "mqtt", payload_format)
