"""A Subscription only ever delivers what its owner may read: when the owner's API key is
revoked, or its grants no longer allow reading, it falls silent (queued notifications and
retries included) and its status says why. End to end, with real HTTP receivers; every
test has a second Subscription whose owner keeps its rights, to prove that notifications
did flow meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.notification_receiver import NotificationReceiver
from tests.security_support import API, SHELTER, SecureCity, secure_city, seed

from cityos.ngsild.subscription.render import STATUS_REASON


@pytest.fixture
def city(tmp_path: Path) -> Iterator[SecureCity]:
    with secure_city(f"sqlite:///{tmp_path / 'cityos.db'}", public_types="",
                     notification_retry_initial=0.2, notification_retry_jitter=0.0) as secure:
        yield secure


@pytest.fixture
def admin(city: SecureCity) -> str:
    return seed(city)


@pytest.fixture
def receivers(city: SecureCity) -> Iterator[Callable[[], NotificationReceiver]]:
    portal = city.client.portal
    assert portal is not None
    started: list[NotificationReceiver] = []

    def start() -> NotificationReceiver:
        assert portal is not None
        started.append(portal.call(NotificationReceiver().start))
        return started[-1]
    yield start
    for receiver in started:
        portal.call(receiver.stop)


def call(city: SecureCity, function: Callable[..., Any], *args: Any) -> Any:
    portal = city.client.portal
    assert portal is not None
    return portal.call(partial(function, *args))


def subscribe(city: SecureCity, key: str, receiver: NotificationReceiver) -> str:
    created = city.client.post(f"{API}/subscriptions", headers=city.auth(key), json={
        "type": "Subscription", "entities": [{"type": "EvacuationShelter"}],
        "notification": {"endpoint": {"uri": receiver.url}}})
    assert created.status_code == 201, created.text
    return str(created.headers["Location"])


def occupy(city: SecureCity, admin: str, occupancy: int) -> None:
    response = city.client.patch(f"{API}/entities/{SHELTER}/attrs", headers=city.auth(admin),
                                 json={"peopleOccupancy": occupancy})
    assert response.status_code == 204, response.text


def wait_until_outbox_empty(city: SecureCity, timeout: float = 20.0) -> None:
    delivery = city.client.app.state.delivery  # type: ignore[attr-defined]
    deadline = time.monotonic() + timeout
    while True:
        stats = call(city, delivery.stats)
        if stats["outbox_backlog"] == 0 and stats["journal_backlog"] == 0:
            return
        assert time.monotonic() < deadline, f"outbox not drained: {stats}"
        time.sleep(0.05)


def occupancies(receiver: NotificationReceiver) -> list[int]:
    return [entity["peopleOccupancy"]["value"] for note in receiver.received
            for entity in note.body["data"]]


def owner_problem(city: SecureCity, subscription_id: str) -> str | None:
    service = city.client.app.state.api.subscriptions  # type: ignore[attr-defined]
    record = call(city, service.retrieve, "", subscription_id)
    problem: str | None = service.delivery_problem("", record.doc)
    return problem


def test_a_revoked_keys_subscription_stops_notifying(
        city: SecureCity, admin: str,
        receivers: Callable[[], NotificationReceiver]) -> None:
    city.grant(audience="role:watcher", operations=["read", "subscribe"],
               entityType="EvacuationShelter")
    leaving, staying = city.key("watcher"), city.key("watcher")
    revoked_inbox, kept_inbox = receivers(), receivers()
    location = subscribe(city, leaving, revoked_inbox)
    subscribe(city, staying, kept_inbox)
    occupy(city, admin, 21)
    call(city, revoked_inbox.wait_for, 1, 20.0)
    call(city, kept_inbox.wait_for, 1, 20.0)
    assert owner_problem(city, location.rsplit("/", 1)[1]) is None

    city.revoke(leaving)
    for occupancy in (22, 23):
        occupy(city, admin, occupancy)
    call(city, kept_inbox.wait_for, 3, 20.0)
    wait_until_outbox_empty(city)
    assert occupancies(kept_inbox) == [21, 22, 23]
    assert occupancies(revoked_inbox) == [21]
    problem = owner_problem(city, location.rsplit("/", 1)[1])
    assert problem is not None and "revoked" in problem
    assert city.client.get(location, headers=city.auth(leaving)).status_code == 401


def test_notifications_queued_before_the_revocation_are_not_sent(
        city: SecureCity, admin: str,
        receivers: Callable[[], NotificationReceiver]) -> None:
    city.grant(audience="role:watcher", operations=["read", "subscribe"],
               entityType="EvacuationShelter")
    leaving, staying = city.key("watcher"), city.key("watcher")
    down, kept_inbox = receivers(), receivers()
    subscribe(city, leaving, down)
    subscribe(city, staying, kept_inbox)
    call(city, down.stop)  # the endpoint is unreachable: its notification waits, retried
    occupy(city, admin, 31)
    call(city, kept_inbox.wait_for, 1, 20.0)  # matched together: the other one is queued
    city.revoke(leaving)
    call(city, down.start)  # back on the same port: a retry would now get through
    wait_until_outbox_empty(city)
    assert down.attempts == [] and down.received == []
    assert occupancies(kept_inbox) == [31]


def test_an_owner_without_read_grants_is_paused_and_told_why(
        city: SecureCity, admin: str,
        receivers: Callable[[], NotificationReceiver]) -> None:
    city.grant(audience="role:watcher", operations=["subscribe"])
    city.grant(audience="role:keeper", operations=["read", "subscribe"],
               entityType="EvacuationShelter")
    read_grant = city.grant(audience="role:watcher", operations=["read"],
                            entityType="EvacuationShelter")
    watcher, keeper = city.key("watcher"), city.key("keeper")
    watcher_inbox, kept_inbox = receivers(), receivers()
    location = subscribe(city, watcher, watcher_inbox)
    subscribe(city, keeper, kept_inbox)
    occupy(city, admin, 41)
    call(city, watcher_inbox.wait_for, 1, 20.0)
    active = city.client.get(location, headers=city.auth(watcher)).json()
    assert active["status"] == "active" and STATUS_REASON not in active

    call(city, city.access.revoke, read_grant)
    paused = city.client.get(location, headers=city.auth(watcher)).json()
    assert paused["status"] == "paused"
    assert "no read grant" in paused[STATUS_REASON]
    occupy(city, admin, 42)
    call(city, kept_inbox.wait_for, 2, 20.0)
    wait_until_outbox_empty(city)
    assert occupancies(watcher_inbox) == [41]

    city.grant(audience="role:watcher", operations=["read"], entityType="EvacuationShelter")
    resumed = city.client.get(location, headers=city.auth(watcher)).json()
    assert resumed["status"] == "active" and STATUS_REASON not in resumed
    occupy(city, admin, 43)
    call(city, watcher_inbox.wait_for, 2, 20.0)
    assert occupancies(watcher_inbox) == [41, 43]
