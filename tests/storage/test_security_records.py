"""The security records contract (storage.security.SecurityRecords): the same module runs
against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from tests.postgres_support import fresh_schema

from cityos.storage.postgres.security import PostgresSecurityRecords
from cityos.storage.postgres.store import PostgresStore
from cityos.storage.security import SecurityRecords
from cityos.storage.sqlite.security import SqliteSecurityRecords
from cityos.storage.sqlite.store import SqliteStore


@pytest.fixture(params=["sqlite", "postgresql"])
async def records(request: pytest.FixtureRequest,
                  tmp_path: Path) -> AsyncIterator[SecurityRecords]:
    with ExitStack() as stack:
        backend: SqliteStore | PostgresStore
        found: SecurityRecords
        if request.param == "sqlite":
            backend = SqliteStore(str(tmp_path / "security.db"))
            found = SqliteSecurityRecords(backend)
        else:
            backend = PostgresStore(stack.enter_context(fresh_schema()))
            found = PostgresSecurityRecords(backend)
        await backend.open()
        try:
            yield found
        finally:
            await backend.close()


async def test_put_get_replace_delete(records: SecurityRecords) -> None:
    assert await records.get_record("operator", "alice") is None
    await records.put_record("operator", "alice", {"roles": ["admin"], "n": 1})
    assert await records.get_record("operator", "alice") == {"roles": ["admin"], "n": 1}
    await records.put_record("operator", "alice", {"roles": [], "n": 2})
    assert await records.get_record("operator", "alice") == {"roles": [], "n": 2}
    assert await records.get_record("session", "alice") is None  # kinds are apart
    assert await records.delete_record("operator", "alice") is True
    assert await records.delete_record("operator", "alice") is False
    assert await records.get_record("operator", "alice") is None


async def test_add_refuses_an_existing_key_and_keeps_the_first(
        records: SecurityRecords) -> None:
    assert await records.add_record("totp-used", "alice:1", {"first": True}) is True
    assert await records.add_record("totp-used", "alice:1", {"first": False}) is False
    assert await records.get_record("totp-used", "alice:1") == {"first": True}


async def test_take_gives_a_record_once_even_to_concurrent_callers(
        records: SecurityRecords) -> None:
    await records.put_record("oidc-code", "c1", {"client": "app"})
    results = await asyncio.gather(*(records.take_record("oidc-code", "c1")
                                     for _ in range(5)))
    assert [r for r in results if r is not None] == [{"client": "app"}]
    assert await records.take_record("oidc-code", "c1") is None


async def test_list_is_by_kind_in_key_order(records: SecurityRecords) -> None:
    for name in ("carol", "alice", "bob"):
        await records.put_record("operator", name, {"name": name})
    await records.put_record("oidc-client", "zeta", {"name": "zeta"})
    assert [d["name"] for d in await records.list_records("operator")] == \
        ["alice", "bob", "carol"]


async def test_purge_deletes_only_expired_records(records: SecurityRecords) -> None:
    await records.put_record("session", "old", {"n": 1}, expires_at=100.0)
    await records.put_record("session", "new", {"n": 2}, expires_at=300.0)
    await records.put_record("operator", "alice", {"n": 3})
    assert await records.purge_expired(200.0) == 1
    assert await records.get_record("session", "old") is None
    assert await records.get_record("session", "new") == {"n": 2}
    assert await records.get_record("operator", "alice") == {"n": 3}


async def test_unicode_and_nested_documents_survive(records: SecurityRecords) -> None:
    doc = {"name": "加賀 太郎", "nested": {"list": [1, 2.5, None, True]}}
    await records.put_record("operator", "taro", doc)
    assert await records.get_record("operator", "taro") == doc
