"""IoT ingestion over MQTT into SQLite, against a bare MQTT subscriber in the same run.

A real `cityos serve` (SQLite, development mode) subscribes to the shared Mosquitto at
127.0.0.1:1883 under a topic prefix of its own; DEVICES devices are provisioned.

1. baseline: a bare aiomqtt subscriber loop (receive and count, nothing else) takes
   TOTAL UltraLight messages that PUBLISHERS processes (paho, QoS 0) publish as fast as
   they can; its rate, and messages per CPU second of its process;
2. throughput: the same publishing into the City OS; rate = measurements written (read
   from /metrics) per second from the first publish to the last write, and measurements
   per CPU second of the server process (less sensitive to a shared machine's load);
3. latency: PUBLISHERS publish at RATE messages/s for LATENCY_SECONDS while a probe device
   publishes a new value every 50 ms and the value is polled through the NGSI-LD API
   (GET /entities/{id}); publish-to-query latency = first GET that shows the value.

Run: python -m bench.iot_ingest   (stops by itself; targets 127.0.0.1 only;
BENCH_IOT_RATE sets the offered rate of part 3, default 5000/s)
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import orjson
import paho.mqtt.client as paho

from bench import common

BROKER = ("127.0.0.1", 1883)
DEVICES = 1000
PUBLISHERS = 4
TOTAL = 40_000
RATE = float(os.environ.get("BENCH_IOT_RATE", "5000"))
LATENCY_SECONDS = 8.0
PROBE_EVERY = 0.05
TARGETS = {"measurements_per_s": 5000.0, "p50_ms": 20.0}
PROBE = "urn:ngsi-ld:BenchCounter:probe"


@contextlib.contextmanager
def iot_server(prefix: str) -> Iterator[common.Server]:
    with tempfile.TemporaryDirectory(prefix="cityos-iot-") as tmp:
        workdir = Path(tmp)
        port = common.free_port()
        env = {**os.environ, "CITYOS_LOG_LEVEL": "warning", "CITYOS_DEMO": "false",
               "CITYOS_DEV": "true", "CITYOS_IOT_MQTT_URL": "mqtt://127.0.0.1:1883",
               "CITYOS_IOT_MQTT_TOPIC_PREFIX": prefix}
        log_path = workdir / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(common.cityos_command(port, workdir / "iot.db"),
                                       stdout=log, stderr=subprocess.STDOUT, env=env,
                                       cwd=workdir)
            server = common.Server("cityos", port, process, workdir, None, log_path)
            try:
                common._wait_ready(server, "/health")
                yield server
            finally:
                common._stop(process)


def provision(port: int) -> list[tuple[str, str]]:
    client = common.Client(port)
    devices = [{"device_id": f"d{n}", "entity_type": "BenchCounter", "apikey": True,
                "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}]}
               for n in range(DEVICES)] + [{
                "device_id": "probe", "entity_type": "BenchCounter", "apikey": True,
                "attributes": [{"object_id": "c", "name": "count", "type": "Integer"}]}]
    status, _, body = client.request("POST", "/iot/devices", {"devices": devices})
    client.close()
    if status != 201:
        raise RuntimeError(f"provisioning refused: {status} {body[:300]!r}")
    return [(d["apikey"], d["device_id"]) for d in orjson.loads(body)["devices"]]


def _publisher(prefix: str, devices: list[tuple[str, str]], worker: int, count: int,
               rate: float | None, start_at: float) -> None:
    """One publisher process (paho, QoS 0): `count` readings, paced to `rate`/s or as fast
    as it can, from wall-clock time `start_at`."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                         client_id=f"bench-{uuid.uuid4().hex[:8]}")
    client.max_queued_messages_set(0)
    client.connect(*BROKER)
    client.loop_start()
    time.sleep(max(0.0, start_at - time.time()))
    info = None
    for i in range(count):
        apikey, device = devices[(worker * count + i) % len(devices)]
        info = client.publish(f"{prefix}/{apikey}/{device}/attrs", f"c|{i}".encode(), qos=0)
        if rate is not None:
            delay = start_at + (i + 1) / rate - time.time()
            if delay > 0:
                time.sleep(delay)
    if info is not None:
        info.wait_for_publish(60)
    client.loop_stop()
    client.disconnect()


async def publish(prefix: str, devices: list[tuple[str, str]], total: int,
                  rate: float | None) -> float:
    """Publish `total` readings round-robin over `devices` from PUBLISHERS processes (at
    `rate`/s in total, or as fast as they can); returns the start (perf_counter clock)."""
    per = total // PUBLISHERS
    start_at = time.time() + 1.0  # every process connected by then
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_publisher, args=(
        prefix, devices, w, per, None if rate is None else rate / PUBLISHERS, start_at))
        for w in range(PUBLISHERS)]
    for worker in workers:
        worker.start()
    started = time.perf_counter() + (start_at - time.time())
    while any(worker.is_alive() for worker in workers):
        await asyncio.sleep(0.05)
    return started


async def bare_subscriber_rate() -> dict[str, Any]:
    prefix = f"bench-bare-{uuid.uuid4().hex[:8]}"
    devices = [(f"key{n % 7}", f"d{n}") for n in range(DEVICES)]
    received = 0
    last = 0.0
    async with aiomqtt.Client(*BROKER, identifier=f"bench-sub-{uuid.uuid4().hex[:8]}",
                              max_queued_incoming_messages=0) as subscriber:
        await subscriber.subscribe(f"{prefix}/+/+/attrs", qos=1)

        async def count() -> None:
            nonlocal received, last
            async for _ in subscriber.messages:
                received += 1
                last = time.perf_counter()
                if received >= TOTAL:
                    return

        counter = asyncio.create_task(count())
        cpu_before = time.process_time()  # the publishers are other processes
        started = await publish(prefix, devices, TOTAL, None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(counter, 30)
        cpu = time.process_time() - cpu_before
    return {"received": received, "published": TOTAL,
            "per_s": round(received / (last - started), 1) if last else 0.0,
            "cpu_s": round(cpu, 2), "per_cpu_second": round(received / cpu, 1)}


async def metric(port: int, name: str) -> int:
    """A counter's value on the server's /metrics (0 before its first increment)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    text = (await reader.read()).decode()
    writer.close()
    for line in text.splitlines():
        if line.startswith(f"{name} "):
            return int(float(line.split()[1]))
    return 0


async def written(port: int) -> int:
    return await metric(port, "cityos_iot_measurements_total")


async def writes(port: int) -> int:
    """Storage writes (batch upserts) of measurements so far."""
    return await metric(port, "cityos_iot_writes_total")


def per_write(measurements: int, count: int) -> float | None:
    return round(measurements / count, 1) if count else None


async def drained(port: int, before: int, expected: int) -> tuple[int, float]:
    """Measurements written since `before` once `expected` are or nothing more comes for
    5 s, and when the last one was written (perf_counter)."""
    count, last_change, seen = before, time.perf_counter(), before
    while count - before < expected and time.perf_counter() - last_change < 5:
        await asyncio.sleep(0.05)
        count = await written(port)
        if count != seen:
            seen, last_change = count, time.perf_counter()
    return count - before, last_change


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    return _stat_cpu(Path(f"/proc/{pid}/stat"))


def loop_thread_cpu_seconds(pid: int) -> float:
    """CPU time of the process's main thread (the event loop) so far; the rest of the
    process's CPU goes to its other threads (the SQLite writer and readers)."""
    return _stat_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))


def _stat_cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def ingest_rate(server: common.Server, prefix: str,
                      devices: list[tuple[str, str]]) -> dict[str, Any]:
    port = server.port
    before, writes_before = await written(port), await writes(port)
    cpu_before = cpu_seconds(server.pid)
    loop_before = loop_thread_cpu_seconds(server.pid)
    started = await publish(prefix, devices, TOTAL, None)
    published_in = time.perf_counter() - started
    done, last_change = await drained(port, before, TOTAL)
    cpu = cpu_seconds(server.pid) - cpu_before
    loop_cpu = loop_thread_cpu_seconds(server.pid) - loop_before
    batches = await writes(port) - writes_before
    return {"written": done, "published": TOTAL, "publish_s": round(published_in, 2),
            "measurements_per_write": per_write(done, batches),
            "per_s": round(done / (last_change - started), 1),
            "server_cpu_s": round(cpu, 2),
            "server_cpu_s_event_loop_thread": round(loop_cpu, 2),
            "server_cpu_s_other_threads": round(cpu - loop_cpu, 2),
            "per_server_cpu_second": round(done / cpu, 1) if cpu else None}


class Poller:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def value(self) -> Any:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        self.writer.write(f"GET /ngsi-ld/v1/entities/{PROBE}?options=keyValues&attrs=count "
                          "HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length"))
        return orjson.loads(await self.reader.readexactly(length)).get("count")


async def latency(server: common.Server, prefix: str,
                  devices: list[tuple[str, str]]) -> dict[str, Any]:
    port = server.port
    probe_key = next(key for key, device in devices if device == "probe")
    load_devices = [d for d in devices if d[1] != "probe"]
    total = int(RATE * LATENCY_SECONDS)
    before, writes_before = await written(port), await writes(port)
    cpu_before = cpu_seconds(server.pid)
    samples: list[float] = []
    poller = Poller(port)

    async def probes() -> None:
        async with aiomqtt.Client(*BROKER, identifier=f"bench-probe-{uuid.uuid4().hex[:8]}"
                                  ) as client:
            end = time.perf_counter() + LATENCY_SECONDS
            value = 10_000_000
            while time.perf_counter() < end:
                value += 1
                sent = time.perf_counter()
                await client.publish(f"{prefix}/{probe_key}/probe/attrs",
                                     f"c|{value}".encode(), qos=0)
                while await poller.value() != value:
                    if time.perf_counter() - sent > 5:
                        break
                    await asyncio.sleep(0.002)
                else:
                    samples.append(time.perf_counter() - sent)
                await asyncio.sleep(PROBE_EVERY)

    started = time.perf_counter()
    await asyncio.gather(publish(prefix, load_devices, total, RATE), probes())
    during = await written(port) - before
    elapsed = time.perf_counter() - started
    done, _ = await drained(port, before, total + len(samples))
    cpu = cpu_seconds(server.pid) - cpu_before
    batches = await writes(port) - writes_before
    return {"rate_offered_per_s": RATE, "published": total + len(samples),
            "measurements_per_write": per_write(done, batches),
            "server_cpu_s": round(cpu, 2),
            "server_cpu_us_per_measurement": round(cpu / done * 1e6, 1) if done else None,
            "written_during_run_per_s": round(during / elapsed, 1),
            "written_in_the_end": done, "probes": len(samples),
            **common.latency_summary(samples)}


async def run() -> dict[str, Any]:
    baseline = await bare_subscriber_rate()
    prefix = f"bench-iot-{uuid.uuid4().hex[:8]}"
    with iot_server(prefix) as server:
        devices = provision(server.port)
        await asyncio.sleep(1.0)  # the subscriber is connected well before this
        throughput = await ingest_rate(server, prefix, devices)
        paced = await latency(server, prefix, devices)
    return {
        "scenario": "iot_ingest", "at": common.now_iso(), "machine": common.machine_info(),
        "devices": DEVICES, "publishers": PUBLISHERS, "targets": TARGETS,
        "bare_subscriber": baseline, "ingest": throughput, "latency": paced,
        "ingest_to_bare_ratio": common.ratio(throughput["per_s"], baseline["per_s"]),
        "cpu_efficiency_ratio": common.ratio(throughput["per_server_cpu_second"] or 0.0,
                                             baseline["per_cpu_second"]),
    }


def measure() -> dict[str, Any]:
    return asyncio.run(run())


if __name__ == "__main__":
    common.emit(measure())
    sys.exit(0)
