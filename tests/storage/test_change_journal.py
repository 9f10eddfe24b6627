"""The change journal and the outbox (storage.delivery.DeliveryLog), on SQLite and
PostgreSQL: written in the entity's own transaction, only while subscriptions exist,
consumed exactly once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from tests.delivery_support import COUNT, with_count
from tests.storage_support import new_store, open_delivery_log

from cityos.app import Store
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.types import JsonObject
from cityos.storage.delivery import DeliveryLog, NotificationRecord
from cityos.storage.sqlite.store import SqliteStore

ID = "urn:ngsi-ld:Counter:1"


@pytest.fixture
async def journaled(database_url: str) -> AsyncIterator[tuple[Store, DeliveryLog]]:
    store = new_store(database_url)
    log = open_delivery_log(store)
    await store.open()
    try:
        yield store, log
    finally:
        await store.close()


def _set(value: int):  # type: ignore[no-untyped-def]
    return lambda old: with_count(old, ID, value)


def _count(doc: JsonObject | None) -> int | None:
    return None if doc is None else int(doc["attrs"][COUNT][0]["value"])


async def _pending_changes(log: DeliveryLog) -> list[Any]:
    return await log.read_changes(await log.cursor(), 100)


async def test_nothing_is_journaled_without_subscriptions(
        journaled: tuple[Store, DeliveryLog]) -> None:
    store, log = journaled
    await store.apply("", [(ID, _set(1))])
    assert await _pending_changes(log) == []


async def test_create_update_delete_are_journaled_in_commit_order(
        journaled: tuple[Store, DeliveryLog]) -> None:
    store, log = journaled
    log.set_journal_active(True)
    await store.apply("t1", [(ID, _set(1))])
    await store.apply("t1", [(ID, _set(2))])
    await store.apply("t1", [(ID, lambda old: None)])
    changes = await _pending_changes(log)
    assert [(_count(c.before), _count(c.after)) for c in changes] == [
        (None, 1), (1, 2), (2, None)]
    assert [c.seq for c in changes] == sorted(c.seq for c in changes)
    assert all(c.tenant == "t1" and c.entity_id == ID for c in changes)
    assert all(c.committed_at.endswith("Z") for c in changes)


async def test_batches_are_journaled_entity_by_entity(
        journaled: tuple[Store, DeliveryLog]) -> None:
    store, log = journaled
    log.set_journal_active(True)
    ids = [f"urn:ngsi-ld:Counter:{n}" for n in range(5)]
    await store.apply("", [(i, lambda old, i=i: with_count(old, i, 7)) for i in ids])
    assert [c.entity_id for c in await _pending_changes(log)] == ids


def _refusing_observer(store: Store) -> Any:
    def refuse(after: JsonObject | None) -> None:
        if _count(after) == 13:
            raise BadRequestData("the temporal history refused this change")

    if isinstance(store, SqliteStore):
        return lambda conn, tenant, entity_id, before, after: refuse(after)

    async def observe(conn: Any, tenant: str, entity_id: str, before: JsonObject | None,
                      after: JsonObject | None) -> None:
        refuse(after)
    return observe


async def test_a_rolled_back_write_leaves_no_journal_row(
        journaled: tuple[Store, DeliveryLog]) -> None:
    store, log = journaled
    log.set_journal_active(True)
    store.write_observers.append(_refusing_observer(store))
    await store.apply("", [(ID, _set(12))])
    with pytest.raises(BadRequestData):
        await store.apply("", [(ID, _set(13))])
    assert _count(await store.get_entity("", ID)) == 12
    assert [_count(c.after) for c in await _pending_changes(log)] == [12]


async def test_matched_changes_are_consumed_once_with_their_notifications(
        journaled: tuple[Store, DeliveryLog]) -> None:
    store, log = journaled
    log.set_journal_active(True)
    for value in range(3):
        await store.apply("", [(ID, _set(value))])
    changes = await _pending_changes(log)
    record = NotificationRecord("", "urn:sub:1", ID, {"uri": "http://127.0.0.1:9/"},
                                "application/json", b"{}", ())
    [entry] = await log.commit_matched([record], changes[-1].seq)
    assert entry.record == record and entry.attempts == 0
    assert await _pending_changes(log) == []
    assert await log.backlog() == (0, 1)
    # The journal is empty now; a new change still gets a seq after the matched ones.
    await store.apply("", [(ID, _set(99))])
    [later] = await _pending_changes(log)
    assert later.seq > changes[-1].seq and _count(later.after) == 99


async def test_matched_changes_stay_consumed_after_a_restart(database_url: str) -> None:
    store = new_store(database_url)
    log = open_delivery_log(store)
    await store.open()
    log.set_journal_active(True)
    for value in range(2):
        await store.apply("", [(ID, _set(value))])
    changes = await _pending_changes(log)
    await log.commit_matched([], changes[0].seq)  # only the first change was matched
    await store.close()
    store = new_store(database_url)
    log = open_delivery_log(store)
    await store.open()
    try:
        assert [_count(c.after) for c in await _pending_changes(log)] == [1]
    finally:
        await store.close()


async def test_outbox_keeps_retry_schedule_and_forgets_delivered(
        journaled: tuple[Store, DeliveryLog]) -> None:
    _, log = journaled
    records = [NotificationRecord("", "urn:sub:1", ID, {"uri": "http://127.0.0.1:9/"},
                                  "application/json", b'{"n": %d}' % i, (("Link", "<x>"),))
               for i in range(3)]
    first, second, third = await log.add(records)
    await log.reschedule(second.id, 2, 12345.5, "endpoint answered HTTP 500")
    await log.remove([first.id])
    pending = await log.pending(0, 10)
    assert [p.id for p in pending] == [second.id, third.id]
    assert (pending[0].attempts, pending[0].next_attempt_at) == (2, 12345.5)
    assert pending[1].record == records[2]


# -- SQLite: the changes this process committed are read from memory ---------------------

@asynccontextmanager
async def _sqlite_journal(tmp_path: Any, recent_limit: int = 20_000
                          ) -> AsyncIterator[tuple[SqliteStore, Any]]:
    from cityos.storage.sqlite.delivery_log import SqliteDeliveryLog
    store = SqliteStore(str(tmp_path / "journal.db"))
    log = SqliteDeliveryLog(store, recent_changes=recent_limit)
    await store.open()
    log.set_journal_active(True)
    try:
        yield store, log
    finally:
        await store.close()


async def _table_changes(store: SqliteStore, after: int) -> list[Any]:
    from cityos.storage.sqlite import journal
    return await store.read(lambda conn: journal.read_changes(conn, after, 1000))


async def test_sqlite_changes_read_from_memory_equal_the_table(tmp_path: Any) -> None:
    async with _sqlite_journal(tmp_path) as (store, log):
        await store.apply("", [(ID, _set(1))])
        ids = [f"urn:ngsi-ld:Counter:{n}" for n in range(4)]
        await store.apply("", [(i, lambda old, i=i: with_count(old, i, 5)) for i in ids])
        await store.apply("", [(ID, lambda old: None)])
        from_memory = log.observer.recent_after(0, 100)
        assert from_memory is not None and len(from_memory) == 6
        assert from_memory == await _table_changes(store, 0)
        assert await log.read_changes(0, 100) == from_memory
        assert log.observer.recent_after(from_memory[1].seq, 2) == from_memory[2:4]


async def test_sqlite_journal_off_is_not_read_again_once_drained(tmp_path: Any) -> None:
    """Without subscriptions the matcher is still woken by each commit: after one empty
    read of the table nothing is asked of the database until the journal is on again."""
    async with _sqlite_journal(tmp_path) as (store, log):
        log.set_journal_active(False)
        reads = []
        read_point = store.read_point
        store.read_point = lambda job: reads.append(job) or read_point(job)  # type: ignore
        await store.apply("", [(ID, _set(1))])
        assert await log.read_changes(0, 100) == [] and len(reads) == 1
        await store.apply("", [(ID, _set(2))])
        assert await log.read_changes(0, 100) == [] and len(reads) == 1
        log.set_journal_active(True)
        await store.apply("", [(ID, _set(3))])
        assert [_count(c.after) for c in await log.read_changes(0, 100)] == [3]


async def test_sqlite_rows_another_process_wrote_are_read_from_the_table(
        tmp_path: Any) -> None:
    import sqlite3
    async with _sqlite_journal(tmp_path) as (store, log):
        await store.apply("", [(ID, _set(1))])
        other = sqlite3.connect(str(tmp_path / "journal.db"), isolation_level=None)
        other.execute("INSERT INTO change_journal (tenant, entity_id, before, after, "
                      "committed_at) VALUES ('', 'urn:ngsi-ld:Counter:x', NULL, NULL, "
                      "'2026-01-01T00:00:00.000Z')")
        other.close()
        await store.apply("", [(ID, _set(2))])
        changes = await log.read_changes(0, 100)
        assert [c.entity_id for c in changes] == [ID, "urn:ngsi-ld:Counter:x", ID]
        assert log.observer.recent_after(changes[0].seq, 100) is None  # a gap in memory
        assert log.observer.recent_after(changes[1].seq, 100) == changes[2:]


async def test_sqlite_changes_beyond_the_memory_limit_come_from_the_table(
        tmp_path: Any) -> None:
    async with _sqlite_journal(tmp_path, recent_limit=3) as (store, log):
        for value in range(7):
            await store.apply("", [(ID, _set(value))])
        assert log.observer.recent_after(0, 100) is None
        changes = await log.read_changes(0, 100)
        assert [_count(c.after) for c in changes] == list(range(7))
        assert await log.read_changes(changes[3].seq, 100) == changes[4:]


async def test_sqlite_rows_undone_in_their_transaction_are_not_served_from_memory(
        tmp_path: Any) -> None:
    async with _sqlite_journal(tmp_path) as (store, log):
        await store.apply("", [(ID, _set(1))])
        [first] = await log.read_changes(0, 100)

        def written_then_undone(conn: Any) -> None:
            log.observer(conn, "", ID, None, {"id": ID})
            conn.execute("DELETE FROM change_journal WHERE seq > ?", (first.seq,))
        await store.write(written_then_undone)
        assert log.observer.recent_after(first.seq, 100) is None
        assert await log.read_changes(first.seq, 100) == []
        await store.apply("", [(ID, _set(2))])
        [later] = await log.read_changes(first.seq, 100)
        assert _count(later.after) == 2
