"""Subscriptions shared by two City OS apps on one PostgreSQL schema: a change made
through one reaches the other's in-memory index, through a NATS announcement within
moments, and without NATS through `refresh()` (what matching and the periodic
reconciliation call)."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.broker.test_bus_nats import NATS_URL, _nats_reachable
from tests.postgres_support import fresh_schema
from tests.test_event_bus_nodes import _delete_stream

from cityos.app import build_app
from cityos.broker.subscriptions import SubscriptionService
from cityos.config import load_settings

SUBSCRIPTION = {"id": "urn:ngsi-ld:Subscription:shared", "type": "Subscription",
                "entities": [{"type": "Counter"}],
                "notification": {"endpoint": {"uri": "http://127.0.0.1:9/notify"}}}
TENANT = ""


def service_of(client: TestClient) -> SubscriptionService:
    service = client.app.state.platform.subscriptions  # type: ignore[attr-defined]
    assert isinstance(service, SubscriptionService)
    return service


def tenant_of(service: SubscriptionService) -> str:
    """The tenant key the service files default-tenant subscriptions under."""
    live = service.index.all()
    assert live, "no subscription indexed"
    return live[0].tenant


def wait_until(condition: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not callable(condition) or not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


@pytest.fixture
def nats_stream() -> Iterator[str]:
    if not _nats_reachable():
        if os.environ.get("CI") == "true":
            pytest.fail(f"NATS is required under CI at {NATS_URL}")
        pytest.skip(f"no NATS at {NATS_URL}")
    stream = f"TEST_{uuid.uuid4().hex[:10]}"
    yield stream
    _delete_stream(stream)


def test_an_announcement_brings_a_change_to_the_other_node(nats_stream: str) -> None:
    with fresh_schema() as url:
        settings = load_settings({"database_url": url, "dev": True, "event_bus": NATS_URL,
                                  "event_bus_stream": nats_stream}, environ={})
        with TestClient(build_app(settings, plugins=[])) as node_a, \
                TestClient(build_app(settings, plugins=[])) as node_b:
            on_a, on_b = service_of(node_a), service_of(node_b)
            assert node_a.post("/ngsi-ld/v1/subscriptions",
                               json=SUBSCRIPTION).status_code == 201
            tenant = tenant_of(on_a)
            # well before the 30 s reconciliation: the announcement did it
            wait_until(lambda: on_b.exists(tenant, SUBSCRIPTION["id"]),
                       "node B never learnt of node A's subscription")
            fragment = {"description": "changed on B"}
            assert node_b.patch(f"/ngsi-ld/v1/subscriptions/{SUBSCRIPTION['id']}",
                                json=fragment).status_code == 204
            wait_until(lambda: on_a.index.all()[0].doc.get("description") == "changed on B",
                       "node A never learnt of node B's update")
            assert node_b.delete(
                f"/ngsi-ld/v1/subscriptions/{SUBSCRIPTION['id']}").status_code == 204
            wait_until(lambda: not on_a.exists(tenant, SUBSCRIPTION["id"]),
                       "node A never learnt of node B's deletion")


def test_without_nats_refresh_reloads_what_another_process_changed() -> None:
    with fresh_schema() as url:
        settings = load_settings({"database_url": url, "dev": True}, environ={})
        with TestClient(build_app(settings, plugins=[])) as node_a, \
                TestClient(build_app(settings, plugins=[])) as node_b:
            on_a, on_b = service_of(node_a), service_of(node_b)
            assert node_a.post("/ngsi-ld/v1/subscriptions",
                               json=SUBSCRIPTION).status_code == 201
            tenant = tenant_of(on_a)
            assert not on_b.exists(tenant, SUBSCRIPTION["id"])  # nobody told B yet
            assert node_b.portal.call(on_b.refresh) is True
            assert on_b.exists(tenant, SUBSCRIPTION["id"])
            assert node_b.portal.call(on_b.refresh) is False  # nothing new since
            assert node_a.delete(
                f"/ngsi-ld/v1/subscriptions/{SUBSCRIPTION['id']}").status_code == 204
            assert node_b.portal.call(on_b.refresh) is True
            assert not on_b.exists(tenant, SUBSCRIPTION["id"])


def test_only_the_matching_process_sends_periodic_notifications() -> None:
    with fresh_schema() as url:
        settings = load_settings({"database_url": url, "dev": True}, environ={})
        with TestClient(build_app(settings, plugins=[])) as node_a, \
                TestClient(build_app(settings, plugins=[])) as node_b:
            periodic = {**SUBSCRIPTION, "timeInterval": 1}
            assert node_b.post("/ngsi-ld/v1/subscriptions", json=periodic).status_code == 201
            node_a.portal.call(service_of(node_a).refresh)
            wait_until(lambda: node_a.app.state.delivery.matches_here(),  # type: ignore[attr-defined]
                       "node A (started first) never became the matching process")
            assert not node_b.app.state.delivery.matches_here()  # type: ignore[attr-defined]
            assert not service_of(node_b).periodic.sends_here()
            assert service_of(node_a).periodic.sends_here()
            time.sleep(1.2)  # both timers are due now; only A enqueues
            assert node_b.portal.call(service_of(node_b).periodic.send_due) == 0
