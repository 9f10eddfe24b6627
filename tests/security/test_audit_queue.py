"""The audit queue (cityos.security.audit_queue): entries wait as scalars, are turned into
AuditEntry fields in the batch, and cost Python's cycle collector nothing while queued."""

from __future__ import annotations

import calendar
import gc
from pathlib import Path

from cityos.metrics import Counters
from cityos.security.audit import AuditTrail, seal_queued
from cityos.security.audit_chain import ChainVerifier, seal
from cityos.security.audit_queue import WIDTH, entries, queued_entry
from cityos.storage.audit import GENESIS, AuditEntry, AuditRecord

AT = calendar.timegm((2026, 11, 26, 12, 0, 5)) + 0.25


def request(n: int, status: int = 200) -> tuple:
    return (AT + n, "apikey:0123456789abcdef", "client", "0123456789abcdef", None, "kaga",
            "GET", "/ngsi-ld/v1/entities/{entity_id}", f"urn:ngsi-ld:Sensor:{n}",
            "disaster-response", status, "127.0.0.1", f"req-{n}")


ADMIN = AuditEntry(time="2026-11-26T12:00:00.000001Z", subject="operator:alice",
                   kind="operator", client_id=None, issuer=None, tenant=None,
                   operation="ADMIN apikey.revoke", target="key:42", purpose=None,
                   result="ok", remote=None, request_id=None)


def test_requests_and_admin_actions_become_entries_in_queue_order() -> None:
    queue = [*request(0), *queued_entry(ADMIN), *request(1, 404)]
    assert len(queue) == 3 * WIDTH
    first, admin, last = entries(queue)
    assert first == AuditEntry(
        time="2026-11-26T12:00:05.250000Z", subject="apikey:0123456789abcdef",
        kind="client", client_id="0123456789abcdef", issuer=None, tenant="kaga",
        operation="GET /ngsi-ld/v1/entities/{entity_id}", target="urn:ngsi-ld:Sensor:0",
        purpose="disaster-response", result="200", remote="127.0.0.1", request_id="req-0")
    assert admin == ADMIN
    assert last.time == "2026-11-26T12:00:06.250000Z" and last.result == "404"


def test_sealed_rows_are_the_chain_of_the_entries() -> None:
    queue = [*request(0), *queued_entry(ADMIN), *request(1)]
    rows = list(seal_queued(GENESIS, queue))
    expected = seal(GENESIS, entries(queue))
    assert [AuditRecord(r[0], AuditEntry(*r[1:13]), r[13], r[14]) for r in rows] == expected
    verifier = ChainVerifier(GENESIS)
    verifier.feed(expected)
    assert verifier.broken is None and verifier.head.seq == 3


def test_queued_entries_leave_the_cycle_collector_nothing_to_chase() -> None:
    class Log:  # never written: the queue only grows
        pass
    trail = AuditTrail(Log(), Counters())  # type: ignore[arg-type]
    gc.collect()
    gc.disable()
    try:
        before = gc.get_count()[0]
        for n in range(5000):
            trail.record_request(request(n))
        grown = gc.get_count()[0] - before
    finally:
        gc.enable()
    assert trail.queued == 5000
    assert grown < 100  # one container per entry would leave 5,000


def test_rows_are_inserted_in_full_statements_and_the_rest_one_by_one(tmp_path: Path) -> None:
    import sqlite3

    from cityos.storage.sqlite.audit_log import ROWS_PER_INSERT, SCHEMA, insert_rows
    conn = sqlite3.connect(tmp_path / "audit.db")
    conn.executescript(SCHEMA)
    queue = [item for n in range(2 * ROWS_PER_INSERT + 5) for item in request(n)]
    rows = list(seal_queued(GENESIS, queue))
    insert_rows(conn, iter(rows))
    stored = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
    assert stored == rows
