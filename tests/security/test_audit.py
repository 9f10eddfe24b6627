"""The audit trail on both backends: batches sealed into one chain, tampering in the
database found and named (also by `cityos audit verify`), signed checkpoints, retention
that keeps the chain verifiable, export, and the self-check raising an Alert."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg
import pytest
import pytest_asyncio
from click.testing import CliRunner
from tests.postgres_support import fresh_schema

from cityos.broker.entities import EntityService
from cityos.broker.events import InProcessBus
from cityos.cli import main
from cityos.config import load_settings
from cityos.metrics import Counters
from cityos.security.audit import AuditSelfCheck, AuditTrail
from cityos.security.events import ADMIN_TENANT, SecurityEvents
from cityos.security.keys import generate_key_ring, write_key_ring
from cityos.security.principal import Principal
from cityos.security.wiring import audit_trail
from cityos.storage.base import EntityQuery

ALICE = Principal(subject="operator:alice", kind="operator", client_id="console",
                  issuer="https://id.example")


@pytest.fixture(params=["sqlite", "postgresql"])
def audit_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'audit.db'}"
        return
    with fresh_schema() as url:
        yield url


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "keys" / "cityos.keys"
    write_key_ring(path, generate_key_ring())
    return path


@pytest_asyncio.fixture
async def trail(audit_database: str, key_file: Path) -> AsyncIterator[AuditTrail]:
    from cityos.app import open_store
    settings = load_settings({"database_url": audit_database, "key_file": str(key_file),
                              "audit_retention_days": 1}, environ={})
    store = open_store(settings)
    from cityos.security.keys import load_key_ring
    audit = audit_trail(settings, store, Counters(), load_key_ring(key_file))
    await store.open()
    audit.store = store  # type: ignore[attr-defined]
    yield audit
    await store.close()


def tamper(database_url: str, statement: str, params: tuple[object, ...]) -> None:
    """Change the audit table behind the platform's back, as an intruder with database
    access would."""
    if database_url.startswith("sqlite:///"):
        with sqlite3.connect(database_url.removeprefix("sqlite:///")) as conn:
            conn.execute(statement, params)
        return
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(statement.replace("?", "%s").encode(), params)  # type: ignore[call-overload]


def record_actions(audit: AuditTrail, count: int) -> None:
    for n in range(count):
        audit.record_admin_action(ALICE, "apikey.revoke", f"key:{n}", "ok",
                                  tenant="kaga", purpose="incident-42")


async def test_records_are_sealed_in_one_chain_across_batches(trail: AuditTrail) -> None:
    record_actions(trail, 3)
    assert await trail.flush() == 3
    record_actions(trail, 2)
    await trail.flush()
    records = [r async for r in trail.export()]
    assert [r["seq"] for r in records] == [1, 2, 3, 4, 5]
    first = records[0]
    assert (first["subject"], first["kind"], first["clientId"], first["issuer"],
            first["tenant"], first["operation"], first["target"], first["purpose"],
            first["result"]) == ("operator:alice", "operator", "console",
                                 "https://id.example", "kaga", "ADMIN apikey.revoke",
                                 "key:0", "incident-42", "ok")
    assert records[1]["prevHash"] == first["hash"]
    assert (await trail.verify()).ok


async def test_an_edited_record_in_the_database_is_named(trail: AuditTrail,
                                                         audit_database: str) -> None:
    record_actions(trail, 5)
    await trail.flush()
    tamper(audit_database, "UPDATE audit_log SET subject = ? WHERE seq = ?",
           ("operator:mallory", 3))
    report = await trail.verify()
    assert not report.ok and report.broken is not None
    assert (report.broken.seq, report.broken.problem) == (3, "edited")
    assert "record 3: edited" in report.describe()


async def test_a_removed_record_is_named(trail: AuditTrail, audit_database: str) -> None:
    record_actions(trail, 5)
    await trail.flush()
    tamper(audit_database, "DELETE FROM audit_log WHERE seq = ?", (2,))
    report = await trail.verify()
    assert report.broken is not None and (report.broken.seq, report.broken.problem) == \
        (2, "removed")


async def test_a_rewritten_tail_is_caught_by_a_signed_checkpoint(trail: AuditTrail,
                                                                 audit_database: str) -> None:
    record_actions(trail, 4)
    checkpoint = await trail.checkpoint()
    assert checkpoint["size"] == 4
    tamper(audit_database, "DELETE FROM audit_log WHERE seq >= ?", (3,))
    report = await trail.verify()
    assert report.broken is None and not report.ok
    assert any("truncated" in problem for problem in report.problems)


async def test_a_forged_checkpoint_signature_is_refused(trail: AuditTrail) -> None:
    record_actions(trail, 2)
    checkpoint = await trail.checkpoint()
    forged = {**checkpoint, "size": 1}
    report = await trail.verify([forged])
    assert any("signature does not verify" in p for p in report.problems)


async def test_retention_deletes_old_records_and_keeps_the_chain_verifiable(
        trail: AuditTrail) -> None:
    record_actions(trail, 3)
    await trail.flush()
    later = datetime.now(UTC) + timedelta(days=2)
    assert await trail.apply_retention(later - timedelta(hours=1)) == 3
    record_actions(trail, 2)
    await trail.flush()
    records = [r async for r in trail.export()]
    assert [r["seq"] for r in records] == [4, 5]
    assert (await trail.verify()).ok


async def test_export_selects_by_time(trail: AuditTrail) -> None:
    record_actions(trail, 3)
    await trail.flush()
    records = [r async for r in trail.export()]
    middle = records[1]["time"]
    assert [r["seq"] async for r in trail.export(since=middle)] == [2, 3]
    assert [r["seq"] async for r in trail.export(until=middle)] == [1]


async def test_the_self_check_raises_an_alert_on_tampering(trail: AuditTrail,
                                                           audit_database: str) -> None:
    store = trail.store  # type: ignore[attr-defined]
    counters = Counters()
    entities = EntityService(store, InProcessBus())
    check = AuditSelfCheck(trail, SecurityEvents(entities, counters), interval=3600)
    record_actions(trail, 3)
    assert (await check.run_once()).ok
    tamper(audit_database, "UPDATE audit_log SET result = ? WHERE seq = ?", ("denied", 2))
    assert not (await check.run_once()).ok
    page = await store.query_entities(ADMIN_TENANT, EntityQuery(limit=10))
    alerts = [e for e in page.entities if "Alert" in e["type"][0]]
    assert len(alerts) == 1
    assert counters.value("cityos_security_events_total",
                          sub_category="auditVerificationFailed", severity="critical") == 1


def test_cli_verify_names_the_edited_record(audit_database: str, key_file: Path,
                                            tmp_path: Path) -> None:
    runner = CliRunner()
    env = {"CITYOS_KEY_FILE": str(key_file)}
    import asyncio

    async def fill() -> None:
        from cityos.app import open_store
        settings = load_settings({"database_url": audit_database}, environ={})
        store = open_store(settings)
        audit = audit_trail(settings, store, Counters(), None)
        await store.open()
        record_actions(audit, 4)
        await audit.flush()
        await store.close()

    asyncio.run(fill())
    ok = runner.invoke(main, ["audit", "verify", "--database", audit_database], env=env)
    assert ok.exit_code == 0, ok.output
    assert "4 records verified" in ok.output
    signed = runner.invoke(main, ["audit", "checkpoint", "--database", audit_database],
                           env=env)
    assert signed.exit_code == 0, signed.output
    saved = tmp_path / "checkpoint.json"
    saved.write_text(signed.output)
    exported = runner.invoke(main, ["audit", "export", "--database", audit_database])
    lines = [orjson.loads(line) for line in exported.stdout.splitlines() if line]
    assert [line["seq"] for line in lines] == [1, 2, 3, 4]
    tamper(audit_database, "UPDATE audit_log SET target = ? WHERE seq = ?", ("key:x", 2))
    broken = runner.invoke(main, ["audit", "verify", "--database", audit_database,
                                  "--checkpoint", str(saved)], env=env)
    assert broken.exit_code == 1
    assert "record 2: edited" in broken.output


async def test_entries_beyond_the_queue_limit_are_dropped_and_counted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cityos.security import audit as audit_module
    from cityos.storage.sqlite.audit_log import SqliteAuditLog
    from cityos.storage.sqlite.store import SqliteStore
    monkeypatch.setattr(audit_module, "MAX_PENDING", 3)
    counters = Counters()
    trail = AuditTrail(SqliteAuditLog(SqliteStore(":memory:")), counters)
    record_actions(trail, 5)  # never flushed: as if the database were unreachable
    assert trail.queued == 3
    assert counters.value("cityos_audit_dropped_total") == 2
