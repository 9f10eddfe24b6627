"""Several processes sharing one PostgreSQL database for notification delivery
(cityos.storage.postgres.delivery_log): each stored notification is claimed by one
process at a time, one process matches the journal, and no change is lost to a
transaction that commits after a later one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AsyncExitStack

import psycopg
import pytest
from tests.delivery_support import with_count
from tests.postgres_support import fresh_schema

from cityos.storage.delivery import NotificationRecord
from cityos.storage.postgres import outbox_sql
from cityos.storage.postgres.delivery_log import PostgresDeliveryLog
from cityos.storage.postgres.store import PostgresStore

ID = "urn:ngsi-ld:Counter:1"
Node = tuple[PostgresStore, PostgresDeliveryLog]


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema() as schema_url:
        yield schema_url


@pytest.fixture
async def nodes(url: str) -> AsyncIterator[Callable[[], Awaitable[Node]]]:
    """Opens 'processes' (store + delivery log) on the one database."""
    async with AsyncExitStack() as stack:
        async def node() -> Node:
            store = PostgresStore(url, pool_min=1, pool_max=3)
            log = PostgresDeliveryLog(store)
            await store.open()
            stack.push_async_callback(store.close)
            return store, log
        yield node


def _records(count: int) -> list[NotificationRecord]:
    return [NotificationRecord("", "urn:sub:1", f"urn:e:{n}", {"uri": "http://127.0.0.1:9/"},
                               "application/json", b"{}", ()) for n in range(count)]


async def test_a_live_process_keeps_its_notifications_and_a_dead_ones_are_taken_over(
        nodes: Callable[[], Awaitable[Node]]) -> None:
    (store_a, log_a), (_, log_b) = await nodes(), await nodes()
    added = await log_a.add(_records(3))
    assert await log_b.pending(0, 100) == []
    assert [e.id for e in await log_a.pending(0, 100)] == [e.id for e in added]
    await store_a.close()  # its session ends: its rows are free
    assert [e.id for e in await log_b.pending(0, 100)] == [e.id for e in added]


async def test_two_processes_claiming_at_once_get_disjoint_notifications(
        url: str, nodes: Callable[[], Awaitable[Node]]) -> None:
    (store_c, log_c), (_, log_a), (_, log_b) = await nodes(), await nodes(), await nodes()
    everything = {e.id for e in await log_c.add(_records(10))}
    await store_c.close()  # a process died leaving ten undelivered notifications
    pid, since = await log_a.session.identity()
    async with await psycopg.AsyncConnection.connect(url) as conn:
        # A claims five inside a transaction still open: those rows stay locked ...
        claimed = await (await conn.execute(outbox_sql.CLAIM, {
            "pid": pid, "since": since, "after": 0, "limit": 5})).fetchall()
        # ... and B, claiming at the same moment, skips them instead of waiting.
        by_b = await asyncio.wait_for(log_b.pending(0, 100), 30)
        await conn.commit()
    by_a = {row[0] for row in claimed}
    assert len(by_a) == 5 and len(by_b) == 5
    assert by_a.isdisjoint(e.id for e in by_b)
    assert by_a | {e.id for e in by_b} == everything
    assert {e.id for e in await log_a.pending(0, 100)} == by_a
    assert {e.id for e in await log_b.pending(0, 100)} == {e.id for e in by_b}


async def test_one_process_matches_the_journal_until_its_session_ends(
        nodes: Callable[[], Awaitable[Node]]) -> None:
    (store_a, log_a), (store_b, log_b) = await nodes(), await nodes()
    for log in (log_a, log_b):
        log.set_journal_active(True)
    await store_b.apply("", [(ID, lambda old: with_count(old, ID, 1))])
    assert len(await log_a.read_changes(0, 100)) == 1
    assert await log_b.read_changes(0, 100) == []  # A matches; B waits
    await store_a.close()
    # A's session ends (the server notices within moments): B takes over, and reads the
    # change A never consumed.
    deadline = asyncio.get_running_loop().time() + 30  # generous: CI machines are busy
    while not (changes := await log_b.read_changes(0, 100)):
        assert asyncio.get_running_loop().time() < deadline, "B never took over"
        await asyncio.sleep(0.05)
    assert [c.entity_id for c in changes] == [ID]


async def test_a_change_committed_after_a_later_one_is_still_matched(
        url: str, nodes: Callable[[], Awaitable[Node]]) -> None:
    store, log = await nodes()
    log.set_journal_active(True)
    async with await psycopg.AsyncConnection.connect(url) as slow:
        # A slow transaction takes a journal seq first and commits last.
        await slow.execute("INSERT INTO change_journal (tenant, entity_id, before, after, "
                           "committed_at) VALUES ('', 'urn:slow', NULL, NULL, 'T')")
        await store.apply("", [(ID, lambda old: with_count(old, ID, 1))])
        [fast] = await log.read_changes(0, 100)
        await log.commit_matched([], fast.seq)
        await slow.commit()
    [late] = await log.read_changes(fast.seq, 100)
    assert late.entity_id == "urn:slow" and late.seq < fast.seq
    await log.commit_matched([], late.seq)
    assert await log.read_changes(0, 100) == []
