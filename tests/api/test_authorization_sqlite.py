"""Authorization of the temporal API and of subscriptions with their notifications, with
security on (these features store on SQLite so far). Notifications go to a real HTTP
receiver and carry only what the subscription's owner may read."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from tests.notification_receiver import NotificationReceiver
from tests.security_support import API, DEVICE, SHELTER, SecureCity, secure_city, seed

WINDOW = {"timerel": "after", "timeAt": "2000-01-01T00:00:00Z", "timeproperty": "modifiedAt"}


@pytest.fixture
def city(tmp_path: Path) -> Iterator[SecureCity]:
    with secure_city(f"sqlite:///{tmp_path / 'cityos.db'}") as secure:
        yield secure


@pytest.fixture
def admin(city: SecureCity) -> str:
    return seed(city)


@pytest.fixture
def receiver(city: SecureCity) -> Iterator[NotificationReceiver]:
    portal = city.client.portal
    assert portal is not None
    found = portal.call(NotificationReceiver().start)
    yield found
    portal.call(found.stop)


def test_temporal_queries_show_only_readable_entities_and_attributes(city: SecureCity,
                                                                     admin: str) -> None:
    params = {"type": "EvacuationShelter,Device", "count": "true", **WINDOW}
    anonymous = city.client.get(f"{API}/temporal/entities", params=params)
    assert anonymous.status_code == 200, anonymous.text
    assert {e["id"] for e in anonymous.json()} == {SHELTER,
                                                   "urn:ngsi-ld:EvacuationShelter:komatsu-001"}
    assert anonymous.headers["NGSILD-Results-Count"] == "2"
    assert all("contactPhone" not in e and "peopleOccupancy" in e for e in anonymous.json())
    full = city.client.get(f"{API}/temporal/entities", params=params, headers=city.auth(admin))
    assert full.headers["NGSILD-Results-Count"] == "4"
    assert city.client.get(f"{API}/temporal/entities/{DEVICE}",
                           params=WINDOW).status_code == 404
    one = city.client.get(f"{API}/temporal/entities/{SHELTER}", params=WINDOW)
    assert one.status_code == 200 and "contactPhone" not in one.json()
    aggregated = city.client.get(f"{API}/temporal/entities/{SHELTER}", params={
        **WINDOW, "aggrMethods": "totalCount", "aggrPeriodDuration": "P1D"})
    assert aggregated.status_code == 200 and "contactPhone" not in aggregated.json()


def test_temporal_writes_need_write_grants(city: SecureCity, admin: str) -> None:
    instance = {"peopleOccupancy": [{"type": "Property", "value": 3,
                                     "observedAt": "2026-01-01T00:00:00Z"}]}
    path = f"{API}/temporal/entities/{SHELTER}/attrs"
    assert city.client.post(path, json=instance).status_code == 401
    reader = city.key("nobody")
    assert city.client.post(path, json=instance, headers=city.auth(reader)).status_code == 403
    assert city.client.post(path, json=instance, headers=city.auth(admin)).status_code == 204
    assert city.client.delete(f"{API}/temporal/entities/{DEVICE}",
                              headers=city.auth(reader)).status_code in (403, 404)
    assert city.client.get(f"{API}/temporal/entities/{DEVICE}", params=WINDOW,
                           headers=city.auth(admin)).status_code == 200


def subscription(receiver: NotificationReceiver) -> dict:
    return {"type": "Subscription",
            "entities": [{"type": "EvacuationShelter"}, {"type": "Device"}],
            "notification": {"endpoint": {"uri": receiver.url}}}


def test_notifications_carry_only_what_the_owner_may_read(
        city: SecureCity, admin: str, receiver: NotificationReceiver) -> None:
    city.grant(audience="role:watcher", operations=["subscribe"])
    watcher = city.auth(city.key("watcher"))  # reads only the public shelters
    created = city.client.post(f"{API}/subscriptions", json=subscription(receiver),
                               headers=watcher)
    assert created.status_code == 201, created.text
    writer = city.auth(admin)
    assert city.client.patch(f"{API}/entities/{DEVICE}/attrs", json={"waterLevel": 3.3},
                             headers=writer).status_code == 204
    for occupancy in (21, 22):
        assert city.client.patch(f"{API}/entities/{SHELTER}/attrs", headers=writer, json={
            "peopleOccupancy": occupancy}).status_code == 204
        portal = city.client.portal
        assert portal is not None
        portal.call(partial(receiver.wait_for, occupancy - 20, 20.0))
    notified = [entity for note in receiver.received for entity in note.body["data"]]
    assert {entity["id"] for entity in notified} == {SHELTER}
    assert all("contactPhone" not in entity for entity in notified)
    assert notified[-1]["peopleOccupancy"]["value"] == 22


def test_owners_alone_see_and_change_their_subscriptions(
        city: SecureCity, admin: str, receiver: NotificationReceiver) -> None:
    body = subscription(receiver)
    assert city.client.post(f"{API}/subscriptions", json=body).status_code == 401
    nobody = city.auth(city.key("nobody"))
    assert city.client.post(f"{API}/subscriptions", json=body,
                            headers=nobody).status_code == 403
    city.grant(audience="role:watcher", operations=["subscribe"])
    alice, bob = city.auth(city.key("watcher")), city.auth(city.key("watcher"))
    created = city.client.post(f"{API}/subscriptions", json=body, headers=alice)
    location = created.headers["Location"]
    assert city.client.get(location, headers=alice).status_code == 200
    assert city.client.get(location, headers=bob).status_code == 404
    assert city.client.patch(location, json={"throttling": 5}, headers=bob).status_code == 404
    assert city.client.delete(location, headers=bob).status_code == 404
    listed = city.client.get(f"{API}/subscriptions", params={"count": "true"}, headers=bob)
    assert listed.json() == [] and listed.headers["NGSILD-Results-Count"] == "0"
    mine = city.client.get(f"{API}/subscriptions", params={"count": "true"}, headers=alice)
    assert len(mine.json()) == 1 and "cityos:owner" not in mine.text
    forged = city.client.patch(location, headers=alice,
                               json={"cityos:owner": {"subject": "apikey:someone-else"}})
    assert forged.status_code in (204, 400)
    assert city.client.get(location, headers=alice).status_code == 200
    assert city.client.delete(location, headers=alice).status_code == 204


@pytest.mark.parametrize("member", [{"q": 'contactPhone=="0761-72-0000"'},
                                    {"watchedAttributes": ["contactPhone"]}])
def test_subscriptions_cannot_probe_attributes_the_owner_may_not_read(
        city: SecureCity, admin: str, receiver: NotificationReceiver, member: dict) -> None:
    city.grant(audience="role:watcher", operations=["subscribe"])
    watcher = city.auth(city.key("watcher"))
    body = {**subscription(receiver), **member}
    assert city.client.post(f"{API}/subscriptions", json=body,
                            headers=watcher).status_code == 403
    created = city.client.post(f"{API}/subscriptions", json=subscription(receiver),
                               headers=watcher)
    assert city.client.patch(created.headers["Location"], json=member,
                             headers=watcher).status_code == 403
