"""Refusals: every one counted, at most one Alert per device, reason and minute (unknown
device ids sharing one window), each Alert saying how many were refused since the last."""

from __future__ import annotations

from pathlib import Path

from cityos.broker.entities import EntityService
from cityos.broker.events import InProcessBus
from cityos.iot.rejections import Rejected, RejectionReporter
from cityos.metrics import Counters
from cityos.security.events import ADMIN_TENANT, SecurityEvents
from cityos.storage.base import EntityQuery
from cityos.storage.sqlite.store import SqliteStore

DATA = "https://uri.etsi.org/ngsi-ld/data"  # a term of the core @context


async def test_bursts_are_counted_but_alerted_once_a_minute(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "db.sqlite"))
    await store.open()
    try:
        entities = EntityService(store, InProcessBus())
        counters = Counters()
        now = [1000.0]
        reporter = RejectionReporter(counters, SecurityEvents(entities, counters),
                                     clock=lambda: now[0])
        bad = Rejected("deviceSignatureInvalid", "signature does not match", "gauge-1")
        for _ in range(5):
            reporter.report(bad, "mqtt", known_device=True)
        for n in range(50):  # hostile ids: one window for all unknown devices
            reporter.report(Rejected("deviceUnknown", "unknown", f"x{n}"), "http", False)
        now[0] += 61
        reporter.report(bad, "mqtt", known_device=True)
        await reporter.drain()

        assert counters.value("cityos_iot_rejected_total", reason="deviceSignatureInvalid",
                              transport="mqtt") == 6
        assert counters.value("cityos_iot_rejected_total", reason="deviceUnknown",
                              transport="http") == 50
        page = await store.query_entities(ADMIN_TENANT, EntityQuery(limit=100))
        alerts = sorted((e["attrs"][DATA][0]["json"]["refusedSinceLastAlert"],
                         e["attrs"][DATA][0]["json"]["transport"]) for e in page.entities)
        assert alerts == [(0, "http"), (0, "mqtt"), (4, "mqtt")]
    finally:
        await store.close()
