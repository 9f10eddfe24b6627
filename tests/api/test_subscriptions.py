"""/ngsi-ld/v1/subscriptions over HTTP (cityos.api.subscriptions), with the service's
matcher, periodic timer, delivery status and presence hook behind it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from cityos.broker.notification import ChangeRecord, DeliveryOutcome, OutgoingNotification
from cityos.broker.subscriptions import SubscriptionService

API = "/ngsi-ld/v1"
SUB = "urn:ngsi-ld:Subscription:shelter-full"
CTX_LINK = ('<https://uri.etsi.org/ngsi-ld/v1/ngsi-ld-core-context-v1.8.jsonld>; '
            'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"')
BAD_REQUEST = "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"


def subscription(**members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": SUB, "type": "Subscription", "subscriptionName": "Shelters filling up",
        "entities": [{"type": "EvacuationShelter"}], "watchedAttributes": ["occupancy"],
        "q": "occupancy>=400",
        "notification": {"attributes": ["occupancy"], "format": "keyValues",
                         "endpoint": {"uri": "http://127.0.0.1:8099/notify",
                                      "accept": "application/json"}}}
    body.update(members)
    return body


def service(client: TestClient) -> SubscriptionService:
    svc: SubscriptionService = client.app.state.api.subscriptions  # type: ignore[attr-defined]
    return svc


def test_create_retrieve_and_delete(client: TestClient) -> None:
    created = client.post(f"{API}/subscriptions", json=subscription())
    assert created.status_code == 201
    assert created.headers["location"] == f"{API}/subscriptions/{SUB}"
    got = client.get(f"{API}/subscriptions/{SUB}")
    assert got.status_code == 200 and got.headers["content-type"] == "application/json"
    assert got.headers["link"] == CTX_LINK
    body = got.json()
    assert body["status"] == "active" and body["watchedAttributes"] == ["occupancy"]
    assert body["entities"] == [{"type": "EvacuationShelter"}]
    assert body["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert client.delete(f"{API}/subscriptions/{SUB}").status_code == 204
    assert client.get(f"{API}/subscriptions/{SUB}").status_code == 404
    assert client.delete(f"{API}/subscriptions/{SUB}").status_code == 404


def test_json_ld_retrieval_carries_the_context_in_the_body(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    got = client.get(f"{API}/subscriptions/{SUB}", headers={"Accept": "application/ld+json"})
    assert got.headers["content-type"] == "application/ld+json"
    assert "@context" in got.json() and "link" not in got.headers
    assert client.get(f"{API}/subscriptions/{SUB}",
                      headers={"Accept": "application/geo+json"}).status_code == 406


def test_names_follow_the_request_context(client: TestClient) -> None:
    body = {**subscription(), "@context": {"occupancy": "https://kaga.example/ns#occupancy"}}
    response = client.post(f"{API}/subscriptions", json=body,
                           headers={"Content-Type": "application/ld+json"})
    assert response.status_code == 201
    plain = client.get(f"{API}/subscriptions/{SUB}").json()
    assert plain["watchedAttributes"] == ["https://kaga.example/ns#occupancy"]


def test_duplicate_id_is_409(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    again = client.post(f"{API}/subscriptions", json=subscription())
    assert again.status_code == 409
    assert again.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/AlreadyExists"


def test_missing_id_is_generated(client: TestClient) -> None:
    body = subscription()
    del body["id"]
    created = client.post(f"{API}/subscriptions", json=body)
    assert created.status_code == 201
    location = created.headers["location"]
    assert location.startswith(f"{API}/subscriptions/urn:ngsi-ld:Subscription:")
    assert client.get(location).status_code == 200


@pytest.mark.parametrize(("payload", "error"), [
    (b'{"type": "Subscription",,}', "InvalidRequest"),
    (b"{}", "BadRequestData"),
    (orjson.dumps(subscription(id="invalidId")), "BadRequestData"),
    (orjson.dumps(subscription(throttling=-30)), "BadRequestData"),
    (orjson.dumps(subscription(expiresAt="2000-01-01T00:00:00Z")), "BadRequestData"),
    (orjson.dumps(subscription(notification={"endpoint": {
        "uri": "http://169.254.169.254/latest/meta-data"}})), "BadRequestData"),
])
def test_bad_subscriptions_are_400_problem_details(client: TestClient, payload: bytes,
                                                   error: str) -> None:
    response = client.post(f"{API}/subscriptions", content=payload,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/" + error


def test_media_types_and_parameters_are_checked(client: TestClient) -> None:
    assert client.post(f"{API}/subscriptions", content=orjson.dumps(subscription()),
                       headers={"Content-Type": "text/plain"}).status_code == 415
    assert client.get(f"{API}/subscriptions?foo=1").status_code == 400
    assert client.get(f"{API}/subscriptions/not-a-uri").json()["type"] == BAD_REQUEST
    assert client.patch(f"{API}/subscriptions/", json={"isActive": False}).status_code == 405


def test_query_pages_with_links_and_count(client: TestClient) -> None:
    for n in range(3):
        client.post(f"{API}/subscriptions", json=subscription(id=f"urn:ngsi-ld:Subscription:{n}"))
    page = client.get(f"{API}/subscriptions?limit=1&offset=1&count=true")
    assert [s["id"] for s in page.json()] == ["urn:ngsi-ld:Subscription:1"]
    assert page.headers["ngsild-results-count"] == "3"
    links = page.headers["link"]
    assert f'<{API}/subscriptions?count=true&limit=1&offset=0>; rel="prev"' in links
    assert f'<{API}/subscriptions?count=true&limit=1&offset=2>; rel="next"' in links
    assert len(client.get(f"{API}/subscriptions").json()) == 3
    other = client.get(f"{API}/subscriptions", headers={"NGSILD-Tenant": "other"})
    assert other.json() == []


def test_patch_replaces_members_and_pauses(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    response = client.patch(f"{API}/subscriptions/{SUB}",
                            json={"isActive": False, "q": None, "throttling": 30})
    assert response.status_code == 204
    body = client.get(f"{API}/subscriptions/{SUB}?options=sysAttrs").json()
    assert body["status"] == "paused" and "q" not in body and body["throttling"] == 30
    assert body["modifiedAt"] > body["createdAt"]
    invalid = client.patch(f"{API}/subscriptions/{SUB}",
                           json={"notification": {"format": "keyValues"}})
    assert invalid.status_code == 400
    assert client.patch(f"{API}/subscriptions/urn:ngsi-ld:Subscription:none",
                        json={"isActive": True}).status_code == 404
    merge = client.patch(f"{API}/subscriptions/{SUB}", content=b'{"isActive": true}',
                         headers={"Content-Type": "application/merge-patch+json"})
    assert merge.status_code == 204
    assert client.get(f"{API}/subscriptions/{SUB}").json()["status"] == "active"


def test_version_preference_is_acknowledged(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    got = client.get(f"{API}/subscriptions/{SUB}", headers={"Prefer": 'NGSI-LD="1.0"'})
    assert got.headers["preference-applied"] == "ngsi-ld=1.0"
    assert "preference-applied" not in client.get(f"{API}/subscriptions/{SUB}").headers


def test_delivery_outcomes_show_in_the_status_members(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    status = service(client).status
    outcomes = [DeliveryOutcome("", SUB, "2026-11-26T00:00:01Z"),
                DeliveryOutcome("", SUB, "2026-11-26T00:00:02Z", "HTTP 500")]
    client.portal.call(status.record, outcomes)  # type: ignore[union-attr]
    note = client.get(f"{API}/subscriptions/{SUB}").json()["notification"]
    assert note["timesSent"] == 2 and note["consecutiveErrors"] == 1
    assert note["status"] == "failed" and note["lastSuccess"] == "2026-11-26T00:00:01Z"
    assert note["lastFailure"] == note["lastNotification"] == "2026-11-26T00:00:02Z"


def test_presence_hook_follows_the_subscription_count(client: TestClient) -> None:
    calls: list[bool] = []
    service(client).on_presence_changed = calls.append
    client.post(f"{API}/subscriptions", json=subscription())
    client.post(f"{API}/subscriptions", json=subscription(id="urn:ngsi-ld:Subscription:2"))
    client.delete(f"{API}/subscriptions/{SUB}")
    client.delete(f"{API}/subscriptions/urn:ngsi-ld:Subscription:2")
    assert calls == [True, False]


def shelter(occupancy: int) -> dict[str, Any]:
    return {"id": "urn:ngsi-ld:EvacuationShelter:1", "type": "EvacuationShelter",
            "occupancy": {"type": "Property", "value": occupancy},
            "name": {"type": "Property", "value": "Kinjo"}}


def test_changes_made_through_the_api_match(client: TestClient) -> None:
    client.post(f"{API}/subscriptions", json=subscription())
    store = client.app.state.api.entities.store  # type: ignore[attr-defined]
    assert client.post(f"{API}/entities", json=shelter(380)).status_code == 201
    before = client.portal.call(store.get_entity, "", "urn:ngsi-ld:EvacuationShelter:1")
    client.patch(f"{API}/entities/urn:ngsi-ld:EvacuationShelter:1/attrs",
                 json={"occupancy": {"type": "Property", "value": 420}})
    after = client.portal.call(store.get_entity, "", "urn:ngsi-ld:EvacuationShelter:1")
    change = ChangeRecord(2, "", after["id"], before, after, after["modifiedAt"])
    [note] = client.portal.call(service(client).matcher.match, [change])
    payload = orjson.loads(note.body)
    assert payload["subscriptionId"] == SUB
    assert payload["data"] == [{"id": "urn:ngsi-ld:EvacuationShelter:1",
                                "type": "EvacuationShelter", "occupancy": 420}]


def test_linked_entity_q_is_decided_by_the_store(client: TestClient) -> None:
    for device, level in (("low", 0.3), ("full", 0.95)):
        client.post(f"{API}/entities", json={
            "id": f"urn:ngsi-ld:Device:{device}", "type": "Device",
            "batteryLevel": {"type": "Property", "value": level}})
    client.post(f"{API}/subscriptions", json={
        "type": "Subscription", "entities": [{"type": "Vehicle"}],
        "q": "isConnectedTo{batteryLevel}<0.5",
        "notification": {"endpoint": {"uri": "http://127.0.0.1:8099/notify"}}})
    store = client.app.state.api.entities.store  # type: ignore[attr-defined]
    found = []
    for device in ("full", "low"):
        vehicle_id = f"urn:ngsi-ld:Vehicle:{device}"
        client.post(f"{API}/entities", json={
            "id": vehicle_id, "type": "Vehicle", "isConnectedTo": {
                "type": "Relationship", "object": f"urn:ngsi-ld:Device:{device}"}})
        after = client.portal.call(store.get_entity, "", vehicle_id)
        change = ChangeRecord(1, "", vehicle_id, None, after, after["createdAt"])
        found += client.portal.call(service(client).matcher.match, [change])
    assert [orjson.loads(n.body)["data"][0]["id"] for n in found] == ["urn:ngsi-ld:Vehicle:low"]


class RecordingOutbox:
    def __init__(self) -> None:
        self.sent: list[OutgoingNotification] = []

    async def enqueue(self, notifications: Sequence[OutgoingNotification]) -> None:
        self.sent.extend(notifications)


def test_periodic_subscriptions_send_the_matching_entities(client: TestClient) -> None:
    client.post(f"{API}/entities", json=shelter(100))
    body = subscription(timeInterval=60)
    del body["watchedAttributes"], body["q"]
    client.post(f"{API}/subscriptions", json=body)
    svc = service(client)
    outbox = RecordingOutbox()
    svc.periodic.outbox = outbox
    assert client.portal.call(svc.periodic.send_due) == 0  # not due before one interval
    live = svc.index.get(("", SUB))
    assert live is not None and live.next_due is not None
    live.next_due = 0.0
    assert client.portal.call(svc.periodic.send_due) == 1
    payload = orjson.loads(outbox.sent[0].body)
    assert payload["data"] == [{"id": "urn:ngsi-ld:EvacuationShelter:1",
                                "type": "EvacuationShelter", "occupancy": 100}]
