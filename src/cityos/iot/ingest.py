"""The ingestion pipeline shared by MQTT and HTTP: authenticate → verify → decode → map
(synchronous and cheap, so bad input is refused without waiting), then a single writer
task that takes every measurement waiting and writes them in one batch upsert per tenant
(one storage transaction; EntityService.batch_upsert keeps the entity's other attributes),
so subscriptions, temporal history and audit see them like any other write."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from cityos.broker.entities import EntityService
from cityos.iot.backlog import Backlog
from cityos.iot.directory import DeviceDirectory, DeviceEntry
from cityos.iot.mapping import Measurement, measurements
from cityos.iot.payloads import MAX_PAYLOAD_BYTES, MalformedPayload, PayloadFormat, decode
from cityos.iot.rejections import Rejected, RejectionReporter
from cityos.iot.signatures import (
    PayloadReplayed,
    ReplayGuard,
    Signature,
    SignatureInvalid,
    parse_line,
    split_signed,
    verify,
)
from cityos.metrics import Counters
from cityos.ngsild.context import core_context
from cityos.ngsild.types import JsonObject
from cityos.security.events import SecurityEvents

log = logging.getLogger("cityos.iot")
# The writer takes every measurement waiting, up to MAX_BATCH, and writes at once: what
# arrives while a write is in flight is the next write (group commit). It never waits for
# more to arrive: the batches grow with the load by themselves (about 700 measurements
# per write when publishers send as fast as they can), and a wait would only add to every
# measurement's latency (docs/benchmarks.md, IoT ingestion without the writer's wait).
MAX_BATCH = 5_000  # measurements per write
BACKLOG_LIMIT = 10_000  # measurements waiting for the writer (then producers wait)
SIGNATURE_LINE_BYTES = 100


@dataclass(frozen=True)
class Message:
    apikey: str
    device_id: str
    payload: bytes
    transport: str  # "mqtt" | "http"
    payload_format: PayloadFormat = "auto"
    signature_header: bytes | None = None


@dataclass
class _Admitted:
    measurements: list[Measurement]
    done: asyncio.Future[None] | None = None

    def __len__(self) -> int:
        return len(self.measurements)


@dataclass
class IngestStats:
    written: int = 0
    batches: int = 0
    last_batch: int = 0


class Ingester:
    def __init__(self, directory: DeviceDirectory, entities: EntityService,
                 counters: Counters, security_events: SecurityEvents,
                 replay_window: float = 300.0,
                 clock: Callable[[], float] = time.time) -> None:
        self.directory = directory
        self._entities = entities
        self._counters = counters
        self.rejections = RejectionReporter(counters, security_events)
        self._replay = ReplayGuard(replay_window)
        self._clock = clock
        self._queue: Backlog[_Admitted] = Backlog(BACKLOG_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self.stats = IngestStats()

    # -- admission (synchronous, never raises anything but Rejected) -------------------
    def admit(self, message: Message) -> list[Measurement]:
        """The message's measurements, or Rejected (counted and reported)."""
        self._count_messages(message.transport, 1)
        return self._admit(message)

    def _count_messages(self, transport: str, count: int) -> None:
        self._counters.inc("cityos_iot_messages_total", "IoT messages received.", count,
                           transport=transport)

    def _admit(self, message: Message) -> list[Measurement]:
        entry: DeviceEntry | None = None
        try:
            entry = self.directory.authenticate(message.apikey, message.device_id)
            if entry is None:
                raise Rejected("deviceUnknown", "unknown device or wrong API key",
                               message.device_id)
            return self._read(entry, message)
        except Rejected as rejected:
            self.rejections.report(rejected, message.transport, entry is not None)
            raise
        except Exception as error:  # a bug must cost one message, never the ingester
            log.exception("unexpected error reading an IoT message")
            unreadable = Rejected("payloadMalformed", f"unreadable: {type(error).__name__}",
                                  message.device_id)
            self.rejections.report(unreadable, message.transport, entry is not None)
            raise unreadable from error

    def _read(self, entry: DeviceEntry, message: Message) -> list[Measurement]:
        device_id = entry.device.device_id
        if len(message.payload) > MAX_PAYLOAD_BYTES + SIGNATURE_LINE_BYTES:
            raise Rejected("payloadMalformed", "payload too large", device_id)
        try:
            signature, body = split_signed(message.payload)
            if message.signature_header is not None:
                signature = parse_line(message.signature_header)
            self._check_signature(entry, signature, body)
        except SignatureInvalid as error:
            raise Rejected("deviceSignatureInvalid", str(error), device_id) from None
        except PayloadReplayed as error:
            raise Rejected("payloadReplayed", str(error), device_id) from None
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            found, unmapped, received = measurements(
                entry.device, decode(body, message.payload_format), now)
        except MalformedPayload as error:
            raise Rejected("payloadMalformed", str(error), device_id) from None
        if unmapped:
            self._counters.inc("cityos_iot_readings_unmapped_total",
                               "Readings of keys a device was not provisioned for (dropped).",
                               unmapped)
        self.directory.seen(device_id, received)
        return found

    def _check_signature(self, entry: DeviceEntry, signature: Signature | None,
                         body: bytes) -> None:
        if signature is None and not entry.device.signed:
            return
        if signature is None:
            raise SignatureInvalid("the device must sign its payloads")
        if entry.hmac_key is None:
            raise SignatureInvalid("the device has no HMAC key")
        verify(entry.hmac_key, entry.device.device_id, body, signature)
        self._replay.check(signature, self._clock())

    # -- submission ---------------------------------------------------------------------
    async def ingest_many(self, messages: list[Message], transport: str = "mqtt") -> None:
        """Admit a burst of messages and queue what passed as one item (MQTT): one queue
        operation and one counter update for the burst instead of one per message.
        Returns once queued; waits while the backlog is full."""
        self._count_messages(transport, len(messages))
        found: list[Measurement] = []
        for message in messages:
            with contextlib.suppress(Rejected):
                found += self._admit(message)
        if found:
            await self._queue.put(_Admitted(found))

    async def ingest_and_wait(self, message: Message) -> int:
        """Admit, queue and wait until written (HTTP); returns how many measurements were
        written; raises Rejected, or the storage error."""
        found = self.admit(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Admitted(found, done))
        await done
        return len(found)

    # -- the writer ---------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iot-writer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        if self._task is not None:
            while not self._queue.empty() and self.alive:
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.rejections.drain()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._take_waiting(batch, len(batch[0]))
            await self._write_batch(batch)

    def _take_waiting(self, batch: list[_Admitted], size: int) -> None:
        while size < MAX_BATCH and not self._queue.empty():
            item = self._queue.get_nowait()
            batch.append(item)
            size += len(item)

    async def _write_batch(self, batch: list[_Admitted]) -> None:
        error: BaseException | None = None
        try:
            written = await self.write([m for item in batch for m in item.measurements])
            self.stats.written += written
            self.stats.batches += 1
            self.stats.last_batch = written
        except Exception as failure:  # storage down: report, keep running
            log.exception("could not write %d IoT messages", len(batch))
            self._counters.inc("cityos_iot_write_failures_total",
                               "Batches of IoT measurements that could not be stored.")
            error = failure
        for item in batch:
            if item.done is not None and not item.done.done():
                if error is None:
                    item.done.set_result(None)
                else:
                    item.done.set_exception(error)

    async def write(self, found: list[Measurement]) -> int:
        """Write measurements: per tenant, one batch upsert per round (a round holds at
        most one value per attribute of an entity; a second value of the same attribute
        waits for the next round, so history keeps both)."""
        written = 0
        for tenant, rounds in _rounds(found).items():
            for entities in rounds:
                result, _ = await self._entities.batch_upsert(tenant, list(entities.values()),
                                                              replace=False)
                self._counters.inc("cityos_iot_writes_total",
                                   "Storage writes (batch upserts) of IoT measurements.")
                for entity_id, failure in result.errors:
                    log.warning("IoT measurements for %s refused: %s", entity_id,
                                failure.detail)
                written += sum(len(entities[e]["attrs"]) for e in result.success)
        self._counters.inc("cityos_iot_measurements_total",
                           "Measurements written as NGSI-LD Property values.", written)
        return written


def _rounds(found: list[Measurement]) -> dict[str, list[dict[str, JsonObject]]]:
    """Per tenant, rounds of entities in the internal form (cityos.ngsild.model): names
    and types expanded with the core @context, each attribute one Property instance."""
    context = core_context()
    by_tenant: dict[str, list[dict[str, JsonObject]]] = {}
    for measurement in found:
        name = context.expand_term(measurement.name)
        rounds = by_tenant.setdefault(measurement.tenant, [])
        for entities in rounds:
            body = entities.get(measurement.entity_id)
            if body is None or name not in body["attrs"]:
                break
        else:
            entities = {}
            rounds.append(entities)
        body = entities.setdefault(measurement.entity_id, {
            "id": measurement.entity_id,
            "type": [context.expand_term(measurement.entity_type)], "attrs": {}})
        body["attrs"][name] = [measurement.property_json()]
    return by_tenant
