"""`cityos iot simulate`: publishes realistic readings of the demo sensors over MQTT and
stops by itself. People counters follow a daily curve (busy at midday and early evening,
near zero at night); river levels drift slowly around their usual stage."""

from __future__ import annotations

import asyncio
import math
import random
import time
from datetime import datetime, timedelta, timezone

import aiomqtt

from cityos.iot.demo import DEMO_APIKEY, DEMO_SENSORS, DemoSensor
from cityos.iot.mqtt import BrokerSettings

JST = timezone(timedelta(hours=9))


def people_count(sensor: DemoSensor, moment: datetime, rng: random.Random) -> int:
    """Visitors counted: two daily peaks (12:00 and 18:00 JST), quiet at night."""
    hour = moment.astimezone(JST).hour + moment.astimezone(JST).minute / 60
    curve = math.exp(-((hour - 12) / 2.5) ** 2) + 0.7 * math.exp(-((hour - 18) / 1.8) ** 2)
    return max(0, round(sensor.base * curve + rng.gauss(0, 2)))


def river_level_cm(sensor: DemoSensor, elapsed: float, rng: random.Random) -> int:
    """River stage in cm: a slow swing of ±15 cm over hours plus a little noise."""
    stage = sensor.base + 0.15 * math.sin(elapsed / 3600 * math.pi / 3) + rng.gauss(0, 0.005)
    return round(stage * 100)


def reading(sensor: DemoSensor, moment: datetime, elapsed: float,
            rng: random.Random) -> bytes:
    """One UltraLight 2.0 payload (`c|12` or `l|123`)."""
    if sensor.kind == "people":
        return f"c|{people_count(sensor, moment, rng)}".encode()
    return f"l|{river_level_cm(sensor, elapsed, rng)}".encode()


async def simulate(url: str, device_ids: list[str], rate: float, duration: float,
                   prefix: str = "", apikey: str = DEMO_APIKEY, seed: int | None = None,
                   ) -> int:
    """Publish `rate` readings per second in total, round-robin over the sensors, for
    `duration` seconds; returns how many were published."""
    sensors = [s for s in DEMO_SENSORS if not device_ids or s.device_id in device_ids]
    if not sensors:
        raise ValueError("no such demo device")
    broker = BrokerSettings.parse(url)
    rng = random.Random(seed)
    sent = 0
    started = time.monotonic()
    async with aiomqtt.Client(broker.host, broker.port, username=broker.username,
                              password=broker.password, tls_context=broker.tls) as client:
        while (elapsed := time.monotonic() - started) < duration:
            sensor = sensors[sent % len(sensors)]
            payload = reading(sensor, datetime.now(JST), elapsed, rng)
            await client.publish(f"{prefix}/{apikey}/{sensor.device_id}/attrs", payload,
                                 qos=1)
            sent += 1
            await asyncio.sleep(max(0.0, started + sent / rate - time.monotonic()))
    return sent
