"""Writes the database refuses are retried with back-off (docs/iot.md, "How measurements
are written"), against a real fault of a real PostgreSQL: measurements published while
every write fails all arrive once the database is back; what a batch committed before a
refusal is not written again; after the retry time measurements are dropped and counted
and the HTTP sender gets the error; a stop during retries does not wait out the retry
time."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import psycopg
import pytest
from starlette.testclient import TestClient

from cityos.iot.ingest import Message
from cityos.metrics import Counters
from tests.iot.support import (
    RIVER_GAUGE,
    entity,
    iot_app,
    iot_service,
    provision,
    publish,
    require_mosquitto,
    unique_prefix,
    wait_connected,
)
from tests.postgres_support import fresh_schema

GAUGE = "urn:ngsi-ld:WaterObserved:gauge-1"
OTHER_GAUGE = "urn:ngsi-ld:WaterObserved:gauge-2"  # in tenant "other"
PORT = 1883
FAILURES = "cityos_iot_write_failures_total"
DROPPED = "cityos_iot_measurements_dropped_total"
# Every write of an entity waits for this lock; reads (ACCESS SHARE) do not.
ALL_ENTITIES = "LOCK TABLE entities IN EXCLUSIVE MODE"
OTHER_GAUGE_ONLY = (f"SELECT id FROM entities WHERE tenant = 'other' AND id = '{OTHER_GAUGE}' "
                    "FOR UPDATE")
_TERMINATE_BLOCKED = ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE %s = ANY(pg_blocking_pids(pid))")


class WritesCutOff:
    """A real fault of the PostgreSQL database at `url`, until end(): another session
    takes the `lock` (ALL_ENTITIES, OTHER_GAUGE_ONLY) and keeps it, and the server
    terminates every session that waits for it — so each write it blocks fails within a
    few tens of milliseconds, as when the connection is lost in mid-transaction."""

    def __init__(self, url: str, lock: str = ALL_ENTITIES) -> None:
        self._holder = psycopg.connect(url)  # not autocommit: the lock lasts until rollback
        self._holder.execute(lock)
        self._ended = threading.Event()
        self._terminator = threading.Thread(
            target=self._terminate_blocked, args=(url, self._holder.info.backend_pid),
            daemon=True)
        self._terminator.start()

    def _terminate_blocked(self, url: str, holder_pid: int) -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            while not self._ended.wait(0.02):
                conn.execute(_TERMINATE_BLOCKED, (holder_pid,))

    def end(self) -> None:
        if not self._ended.is_set():
            self._ended.set()
            self._terminator.join(timeout=5)
            self._holder.rollback()
            self._holder.close()

    def __enter__(self) -> WritesCutOff:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.end()


@pytest.fixture(autouse=True)
def mosquitto() -> None:
    require_mosquitto()


async def wait_until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def counters(client: TestClient) -> Counters:
    return iot_service(client).platform.counters


def history(client: TestClient, attribute: str, entity_id: str = GAUGE,
            tenant: str = "") -> list[Any]:
    response = client.get(f"/ngsi-ld/v1/temporal/entities/{entity_id}",
                          params={"attrs": attribute, "lastN": "1000"},
                          headers={"NGSILD-Tenant": tenant} if tenant else {})
    if response.status_code == 404:  # no instance of the attribute yet
        return []
    assert response.status_code == 200, response.text
    instances: Any = response.json().get(attribute, [])
    instances = instances if isinstance(instances, list) else [instances]
    return sorted(instance["value"] for instance in instances)


def post(client: TestClient, apikey: str, payload: bytes) -> int:
    return client.post("/iot/d", params={"k": apikey, "i": "gauge-1"},
                       content=payload).status_code


async def test_measurements_published_during_a_fault_all_arrive_afterwards() -> None:
    prefix = unique_prefix()
    with fresh_schema() as url, iot_app(url, mqtt_url=f"mqtt://127.0.0.1:{PORT}",
                                        prefix=prefix) as client:
        apikey = provision(client)["apikey"]
        wait_connected(client)
        count = counters(client)
        with WritesCutOff(url) as fault:
            await publish(PORT, f"{prefix}/{apikey}/gauge-1/attrs",
                          *[f"c|{n}".encode() for n in range(1, 31)])
            http = asyncio.create_task(asyncio.to_thread(post, client, apikey, b"l|250"))
            await wait_until(lambda: count.value(FAILURES) >= 3, "writes refused thrice")
            await wait_until(lambda: count.value("cityos_iot_messages_total",
                                                 transport="mqtt") == 30, "30 admitted")
            assert not http.done()  # the HTTP sender waits while its write is retried
            assert entity(client, GAUGE) is not None
            assert "count" not in entity(client, GAUGE)  # type: ignore[operator]
            fault.end()
            assert await http == 200
        await wait_until(lambda: history(client, "count") == list(range(1, 31)),
                         "all 30 counts in the history")
        assert history(client, "height") == [2.5]
        assert count.value(DROPPED) == 0
        assert iot_service(client).ingester.alive


async def test_what_a_batch_committed_is_not_written_again() -> None:
    """One batch of two tenants: the first tenant's batch upsert commits, the second's is
    refused (its entity's row is locked) and retried alone."""
    with fresh_schema() as url, iot_app(url) as client:
        first = provision(client)
        response = client.post("/iot/devices", headers={"NGSILD-Tenant": "other"}, json={
            "devices": [{**RIVER_GAUGE, "device_id": "gauge-2"}]})
        assert response.status_code == 201, response.text
        second = response.json()["devices"][0]
        ingester = iot_service(client).ingester
        count = counters(client)
        assert client.portal is not None
        with WritesCutOff(url, OTHER_GAUGE_ONLY) as fault:
            client.portal.call(ingester.ingest_many, [  # one backlog item: one batch
                Message(first["apikey"], "gauge-1", b"c|1", "mqtt"),
                Message(second["apikey"], "gauge-2", b"c|2", "mqtt")])
            await wait_until(lambda: count.value(FAILURES) >= 3, "writes refused thrice")
            assert history(client, "count") == [1]
            assert history(client, "count", OTHER_GAUGE, "other") == []
            fault.end()
        await wait_until(lambda: history(client, "count", OTHER_GAUGE, "other") == [2],
                         "the other tenant's count")
        assert history(client, "count") == [1]  # once, not once per attempt
        assert count.value(DROPPED) == 0


async def test_measurements_are_dropped_after_the_retry_time() -> None:
    prefix = unique_prefix()
    with fresh_schema() as url, iot_app(url, mqtt_url=f"mqtt://127.0.0.1:{PORT}",
                                        prefix=prefix, raise_server_exceptions=False) as client:
        apikey = provision(client)["apikey"]
        wait_connected(client)
        count = counters(client)
        iot_service(client).ingester.give_up_after = 0.5  # 60 s in production
        with WritesCutOff(url) as fault:
            await publish(PORT, f"{prefix}/{apikey}/gauge-1/attrs",
                          *[f"c|{n}".encode() for n in range(1, 6)])
            started = time.monotonic()
            assert await asyncio.to_thread(post, client, apikey, b"l|250") == 500
            assert time.monotonic() - started < 5  # given up after about 0.5 s per batch
            await wait_until(lambda: count.value(DROPPED) == 6, "6 measurements dropped")
            failures = count.value(FAILURES)
            assert failures >= 2
            fault.end()
        assert post(client, apikey, b"l|260") == 200  # the writer carries on
        found = entity(client, GAUGE)
        assert found is not None and found["height"]["value"] == 2.6
        assert "count" not in found and history(client, "height") == [2.6]
        assert count.value(FAILURES) == failures


async def test_a_stop_during_retries_does_not_wait_out_the_retry_time() -> None:
    prefix = unique_prefix()
    with fresh_schema() as url:
        fault: WritesCutOff | None = None
        try:
            with iot_app(url, mqtt_url=f"mqtt://127.0.0.1:{PORT}", prefix=prefix) as client:
                apikey = provision(client)["apikey"]
                wait_connected(client)
                count = counters(client)
                fault = WritesCutOff(url)
                await publish(PORT, f"{prefix}/{apikey}/gauge-1/attrs",
                              *[f"c|{n}".encode() for n in range(1, 6)])
                await wait_until(lambda: count.value("cityos_iot_messages_total",
                                                     transport="mqtt") == 5, "5 admitted")
                await wait_until(lambda: count.value(FAILURES) >= 1, "a refused write")
                stopping = time.monotonic()
            stopped_after = time.monotonic() - stopping
        finally:
            if fault is not None:
                fault.end()
        assert stopped_after < 5, stopped_after  # the retry time is 60 s
        assert count.value(DROPPED) == 5
