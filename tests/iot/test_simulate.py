"""The demo simulator: realistic curves, and readings that really go out over MQTT in the
topics and format the demo devices are provisioned for."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from datetime import datetime

import aiomqtt
from click.testing import CliRunner

from cityos.iot.cli import iot
from cityos.iot.demo import DEMO_APIKEY, DEMO_SENSORS
from cityos.iot.simulate import JST, people_count, river_level_cm, simulate
from tests.iot.support import require_mosquitto

HALL = next(s for s in DEMO_SENSORS if s.kind == "people")
RIVER = next(s for s in DEMO_SENSORS if s.kind == "river")


def test_people_counts_follow_the_day() -> None:
    rng = random.Random(1)
    night = [people_count(HALL, datetime(2026, 11, 26, 3, 0, tzinfo=JST), rng)
             for _ in range(50)]
    noon = [people_count(HALL, datetime(2026, 11, 26, 12, 0, tzinfo=JST), rng)
            for _ in range(50)]
    assert max(night) <= 6 and min(noon) >= HALL.base * 0.8
    assert all(n >= 0 for n in night)


def test_river_levels_vary_slowly_around_their_stage() -> None:
    rng = random.Random(2)
    levels = [river_level_cm(RIVER, seconds, rng) for seconds in range(0, 36_000, 60)]
    assert all(abs(level - RIVER.base * 100) <= 20 for level in levels)
    steps = [abs(b - a) for a, b in itertools.pairwise(levels)]
    assert max(steps) <= 5 and max(levels) - min(levels) >= 15


async def test_simulator_publishes_over_mqtt() -> None:
    require_mosquitto()
    prefix = f"cityos-sim-{uuid.uuid4().hex[:8]}"
    received: list[tuple[str, bytes]] = []
    async with aiomqtt.Client("127.0.0.1", 1883) as listener:
        await listener.subscribe(f"{prefix}/#", qos=1)

        async def collect() -> None:
            async for message in listener.messages:
                received.append((str(message.topic), bytes(message.payload)))  # type: ignore[arg-type]
                if len(received) == 10:
                    return

        collector = asyncio.create_task(collect())
        sent = await simulate("mqtt://127.0.0.1:1883", [], rate=50, duration=0.3,
                              prefix=prefix, seed=3)
        await asyncio.wait_for(collector, 10)
    assert sent >= 10
    topics = {topic for topic, _ in received}
    assert f"{prefix}/{DEMO_APIKEY}/people-shioya/attrs" in topics
    assert f"{prefix}/{DEMO_APIKEY}/river-daishoji/attrs" in topics
    for topic, payload in received:
        key, value = payload.decode().split("|")
        assert key == ("c" if "/people-" in topic else "l") and int(value) >= 0


def test_simulate_command_checks_its_options() -> None:
    result = CliRunner().invoke(iot, ["simulate", "--rate", "0"])
    assert result.exit_code != 0 and "positive" in result.output
    result = CliRunner().invoke(iot, ["simulate", "--devices", "nope", "--duration", "0.1"])
    assert result.exit_code != 0
