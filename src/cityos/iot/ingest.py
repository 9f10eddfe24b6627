"""The ingestion pipeline shared by MQTT and HTTP: authenticate → verify → decode → map
(synchronous and cheap, so bad input is refused without waiting), then a single writer
task that takes every measurement waiting and writes them in one batch upsert per tenant
(one storage transaction; EntityService.batch_upsert keeps the entity's other attributes),
so subscriptions, temporal history and audit see them like any other write. A write the
storage refuses is retried with back-off for a bounded time before it is given up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable
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
# A batch upsert the storage refuses as a whole (database down or locked, connection lost)
# is tried again after WRITE_RETRY_FIRST seconds, the wait doubling up to
# WRITE_RETRY_LONGEST, until WRITE_GIVE_UP_AFTER seconds have passed since the batch's
# first attempt. Meanwhile nothing else is written: the backlog fills and, at its limit,
# the MQTT reader stops reading (the broker holds what follows) and HTTP requests wait.
# Then the measurements of the batch not yet written are dropped (docs/iot.md).
WRITE_RETRY_FIRST = 0.1  # seconds
WRITE_RETRY_LONGEST = 5.0  # seconds
WRITE_GIVE_UP_AFTER = 60.0  # seconds
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
class _Upsert:
    """One batch upsert of a write: a round of one tenant's entities (internal form)."""

    tenant: str
    entities: dict[str, JsonObject]

    @property
    def measurements(self) -> int:
        return sum(len(body["attrs"]) for body in self.entities.values())


@dataclass
class IngestStats:
    written: int = 0
    batches: int = 0
    last_batch: int = 0


class Ingester:
    def __init__(self, directory: DeviceDirectory, entities: EntityService,
                 counters: Counters, security_events: SecurityEvents,
                 replay_window: float = 300.0,
                 clock: Callable[[], float] = time.time,
                 give_up_after: float = WRITE_GIVE_UP_AFTER) -> None:
        self.directory = directory
        self._entities = entities
        self._counters = counters
        self.rejections = RejectionReporter(counters, security_events)
        self._replay = ReplayGuard(replay_window)
        self._clock = clock
        self._queue: Backlog[_Admitted] = Backlog(BACKLOG_LIMIT)
        self._task: asyncio.Task[None] | None = None
        self._writing = False  # a batch is taken from the backlog and not yet settled
        self._stopping = asyncio.Event()
        self.give_up_after = give_up_after  # seconds a refused batch is retried
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
        written; raises Rejected, or the storage error once the writer gives the
        measurements up (after retrying for `give_up_after` seconds)."""
        found = self.admit(message)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Admitted(found, done))
        await done
        return len(found)

    # -- the writer ---------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="iot-writer")

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        """Write what is waiting, then end the writer. A write refused from now on is not
        retried: its batch and everything still waiting are dropped (and counted), so a
        stop never waits out the retry time."""
        self._stopping.set()
        if self._task is not None:
            while self.alive and (self._writing or not self._queue.empty()):
                await asyncio.sleep(0.01)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.rejections.drain()

    async def _run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            self._writing = True
            try:
                self._take_waiting(batch, len(batch[0]))
                await self._write_batch(batch)
            finally:
                self._writing = False

    def _take_waiting(self, batch: list[_Admitted], size: int) -> None:
        while size < MAX_BATCH and not self._queue.empty():
            item = self._queue.get_nowait()
            batch.append(item)
            size += len(item)

    async def _write_batch(self, batch: list[_Admitted]) -> None:
        """Write the batch, retrying what the storage refuses; then answer its HTTP
        senders (the error only for those whose measurements were given up)."""
        pending = deque(_upserts([m for item in batch for m in item.measurements]))
        failure = await self._write_retrying(pending)
        if failure is None:
            _settle(batch)
            return
        self._drop(sum(upsert.measurements for upsert in pending), failure)
        _settle(batch, failure, {upsert.tenant for upsert in pending})
        if self._stopping.is_set():
            self._drop_waiting(failure)

    async def _write_retrying(self, pending: deque[_Upsert]) -> Exception | None:
        """Write the upserts of `pending` in order, each removed once committed; a refused
        one is tried again with back-off. Returns None once all are written, or the last
        failure when the retry time is over or the ingester stops (`pending` then holds
        what was not written)."""
        started = time.monotonic()
        wait = WRITE_RETRY_FIRST
        failed_attempts = 0
        written = 0
        try:
            while pending:
                try:
                    written += await self._upsert(pending[0])
                except Exception as failure:  # the storage refused the whole upsert
                    failed_attempts += 1
                    give_up = self._stopping.is_set() \
                        or time.monotonic() - started + wait > self.give_up_after
                    self._report_write_failure(failure, failed_attempts, pending,
                                               None if give_up else wait)
                    if give_up or await self._stopped_within(wait):
                        return failure
                    wait = min(wait * 2, WRITE_RETRY_LONGEST)
                else:
                    pending.popleft()
            return None
        finally:
            self._count_written(written, complete=not pending)

    async def _upsert(self, upsert: _Upsert) -> int:
        """One batch upsert (one storage transaction); returns the measurements written.
        Entities refused one by one (data errors) are logged, not retried."""
        result, _ = await self._entities.batch_upsert(
            upsert.tenant, list(upsert.entities.values()), replace=False)
        self._counters.inc("cityos_iot_writes_total",
                           "Storage writes (batch upserts) of IoT measurements.")
        for entity_id, failure in result.errors:
            log.warning("IoT measurements for %s refused: %s", entity_id, failure.detail)
        return sum(len(upsert.entities[e]["attrs"]) for e in result.success)

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds`, or less if stop() comes meanwhile; whether it came."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    def _count_written(self, written: int, complete: bool) -> None:
        self._counters.inc("cityos_iot_measurements_total",
                           "Measurements written as NGSI-LD Property values.", written)
        self.stats.written += written
        if complete:
            self.stats.batches += 1
            self.stats.last_batch = written

    def _report_write_failure(self, failure: Exception, attempt: int,
                              pending: deque[_Upsert], retry_in: float | None) -> None:
        self._counters.inc("cityos_iot_write_failures_total",
                           "Writes of IoT measurements the storage refused (every attempt).")
        log.warning("could not write %d IoT measurements (attempt %d: %s: %s)%s",
                    sum(upsert.measurements for upsert in pending), attempt,
                    type(failure).__name__, failure,
                    "" if retry_in is None else f"; trying again in {retry_in:.1f} s",
                    exc_info=attempt == 1)

    def _drop(self, measurements: int, failure: Exception) -> None:
        self._counters.inc("cityos_iot_measurements_dropped_total",
                           "IoT measurements given up: the storage refused them for the "
                           "whole retry time, or at shutdown.", measurements)
        log.error("dropped %d IoT measurements%s: the storage refused them (%s: %s)",
                  measurements, " at shutdown" if self._stopping.is_set() else "",
                  type(failure).__name__, failure)

    def _drop_waiting(self, failure: Exception) -> None:
        """At shutdown, after a refused write: give up everything still in the backlog."""
        waiting: list[_Admitted] = []
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        if waiting:
            self._drop(sum(len(item) for item in waiting), failure)
            _settle(waiting, failure, {m.tenant for item in waiting for m in item.measurements})


def _settle(items: Iterable[_Admitted], failure: Exception | None = None,
            unwritten_tenants: set[str] | None = None) -> None:
    """Answer the HTTP senders among `items`: `failure` to those with measurements of a
    tenant whose write was given up, success to the others."""
    for item in items:
        if item.done is None or item.done.done():
            continue
        if failure is not None and unwritten_tenants \
                and any(m.tenant in unwritten_tenants for m in item.measurements):
            item.done.set_exception(failure)
        else:
            item.done.set_result(None)


def _upserts(found: list[Measurement]) -> list[_Upsert]:
    """The batch upserts that write `found`: per tenant, one per round (a round holds at
    most one value per attribute of an entity; a second value of the same attribute
    waits for the next round, so history keeps both)."""
    return [_Upsert(tenant, entities) for tenant, rounds in _rounds(found).items()
            for entities in rounds]


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
