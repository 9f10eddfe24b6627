"""Matching committed changes against Subscriptions (cityos.broker.subscriptions.matcher):
triggers, watchedAttributes, q, scopeQ, geoQ, throttling, notification payloads, and the
index agreeing with a brute-force check on thousands of Subscriptions."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.notification import ChangeRecord, OutgoingNotification
from cityos.broker.subscriptions.index import LiveSubscription, SubscriptionIndex, to_millis
from cityos.broker.subscriptions.matcher import SubscriptionMatcher
from cityos.ngsild.context import compile_context
from cityos.ngsild.model.changes import stamp_new_entity
from cityos.ngsild.subscription import fired, parse_subscription, summarize
from cityos.storage.sqlite.store import SqliteStore

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NS = "https://kaga.example/ns#"
CONTEXT = {"Shelter": NS + "Shelter", "Sensor": NS + "Sensor", "occupancy": NS + "occupancy",
           "status": NS + "status", "name": NS + "name", "location":
           "https://uri.etsi.org/ngsi-ld/location"}
CTX = compile_context(CONTEXT)
AT = "2026-01-01T00:00:05.000000Z"


def shelter(entity_id: str = "urn:ngsi-ld:Shelter:1", occupancy: int = 10,
            scope: list[str] | None = None, lon: float = 136.3, **attrs: Any) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": entity_id, "type": [NS + "Shelter"], "createdAt": "2026-01-01T00:00:00Z",
        "modifiedAt": "2026-01-01T00:00:00Z",
        "attrs": {NS + "occupancy": [{"type": "Property", "value": occupancy}],
                  NS + "name": [{"type": "Property", "value": "Kinjo school"}],
                  "https://uri.etsi.org/ngsi-ld/location": [
                      {"type": "GeoProperty",
                       "value": {"type": "Point", "coordinates": [lon, 36.3]}}]}}
    for name, value in attrs.items():
        entity["attrs"][NS + name] = [{"type": "Property", "value": value}]
    if scope:
        entity["scope"] = scope
    return entity


class Harness:
    def __init__(self) -> None:
        self.index = SubscriptionIndex()
        self.clock = 0.0
        self.matcher = SubscriptionMatcher(self.index, ContextResolver("http://127.0.0.1"),
                                           entities=None,  # type: ignore[arg-type]
                                           clock=lambda: NOW, monotonic=lambda: self.clock)

    def subscribe(self, tenant: str = "", **members: Any) -> LiveSubscription:
        body: dict[str, Any] = {"type": "Subscription", "entities": [{"type": "Shelter"}],
                                "notification": {"endpoint": {"uri": "http://127.0.0.1/n"}}}
        body.update(members)
        doc = parse_subscription(body, CTX, NOW)
        live = LiveSubscription(tenant, doc, CONTEXT, "http://127.0.0.1/ctx.jsonld")
        self.index.put(live)
        return live

    def match(self, before: dict[str, Any] | None, after: dict[str, Any] | None,
              tenant: str = "") -> list[OutgoingNotification]:
        entity_id = (after or before or {})["id"]
        change = ChangeRecord(1, tenant, entity_id, before, after, AT)
        return asyncio.run(self.matcher.match([change]))


def body(notification: OutgoingNotification) -> dict[str, Any]:
    parsed: dict[str, Any] = orjson.loads(notification.body)
    return parsed


def test_default_triggers_notify_attribute_creation_and_update_not_deletion() -> None:
    h = Harness()
    h.subscribe()
    assert len(h.match(None, shelter())) == 1  # creating an entity creates its attributes
    assert len(h.match(shelter(), shelter(occupancy=11))) == 1
    gone = shelter()
    del gone["attrs"][NS + "name"]
    assert h.match(shelter(), gone) == []
    assert h.match(shelter(), None) == []


ALL_TRIGGERS = frozenset({"entityCreated", "entityUpdated", "entityDeleted",
                          "attributeCreated", "attributeUpdated", "attributeDeleted"})


@pytest.mark.parametrize(("before", "after", "expected"), [
    (None, shelter(), {"entityCreated", "attributeCreated"}),
    (shelter(), None, {"entityDeleted", "attributeDeleted"}),
    (shelter(), shelter(occupancy=99), {"entityUpdated", "attributeUpdated"}),
    (shelter(), shelter(status="open"), {"entityUpdated", "attributeCreated"}),
    (shelter(), shelter(scope=["/Kaga"]), {"entityUpdated"}),
    (shelter(), shelter(), set()),
])
def test_the_diff_decides_which_triggers_fire(before: Any, after: Any,
                                              expected: set[str]) -> None:
    assert fired(summarize(before, after), ALL_TRIGGERS, None) == expected


@pytest.mark.parametrize("trigger", sorted(ALL_TRIGGERS))
def test_a_subscription_notifies_only_for_its_triggers(trigger: str) -> None:
    h = Harness()
    h.subscribe(notificationTrigger=[trigger])
    removed = shelter()
    del removed["attrs"][NS + "name"]
    changes = {"entityCreated": (None, shelter()), "entityDeleted": (shelter(), None),
               "attributeUpdated": (shelter(), shelter(occupancy=99)),
               "attributeDeleted": (shelter(), removed)}
    for name, (before, after) in changes.items():
        expected = 1 if trigger == name or (trigger, name) in {
            ("attributeCreated", "entityCreated"), ("attributeDeleted", "entityDeleted"),
            ("entityUpdated", "attributeUpdated"), ("entityUpdated", "attributeDeleted")} else 0
        assert len(h.match(before, after)) == expected, name


def test_watched_attributes_limit_what_notifies() -> None:
    h = Harness()
    h.subscribe(watchedAttributes=["occupancy"])
    assert h.match(shelter(), shelter(name_extra=1)) == []
    assert len(h.match(shelter(), shelter(occupancy=11))) == 1


def test_q_scope_q_and_geo_q_are_evaluated_on_the_changed_entity() -> None:
    h = Harness()
    h.subscribe(q="occupancy>=50")
    h.subscribe(scopeQ="/Kaga/Daishoji/#")
    h.subscribe(geoQ={"georel": "near;maxDistance==2000", "geometry": "Point",
                      "coordinates": [136.3, 36.3]})
    ids = [n.subscription_id for n in h.match(shelter(), shelter(occupancy=60))]
    assert len(ids) == 2  # q and geoQ; not scopeQ
    ids = [n.subscription_id for n in h.match(
        shelter(), shelter(occupancy=5, scope=["/Kaga/Daishoji/North"], lon=137.0))]
    assert len(ids) == 1  # scopeQ only: far away and below 50


def test_paused_expired_and_other_tenant_subscriptions_stay_silent() -> None:
    h = Harness()
    h.subscribe(isActive=False)
    h.subscribe(tenant="other")
    live = h.subscribe(expiresAt="2026-06-01T00:00:00Z")
    live.doc["expiresAt"] = "2025-12-31T00:00:00Z"  # passed since creation
    assert h.match(shelter(), shelter(occupancy=1)) == []


def test_throttling_drops_notifications_inside_the_window() -> None:
    h = Harness()
    h.subscribe(throttling=10)
    assert len(h.match(shelter(), shelter(occupancy=1))) == 1
    h.clock = 5.0
    assert h.match(shelter(), shelter(occupancy=2)) == []
    h.clock = 10.5
    assert len(h.match(shelter(), shelter(occupancy=3))) == 1


def test_notification_body_headers_and_attribute_selection() -> None:
    h = Harness()
    h.subscribe(notification={"attributes": ["occupancy"], "format": "keyValues",
                              "endpoint": {"uri": "http://127.0.0.1/n", "receiverInfo": [
                                  {"key": "X-Token", "value": "t"}]}}, tenant="kaga")
    [note] = h.match(shelter(), shelter(occupancy=12), tenant="kaga")
    assert note.content_type == "application/json" and note.tenant == "kaga"
    headers = dict(note.headers)
    assert headers["Link"].startswith("<http://127.0.0.1/ctx.jsonld>")
    assert headers["NGSILD-Tenant"] == "kaga" and headers["X-Token"] == "t"
    payload = body(note)
    assert payload["id"].startswith("urn:ngsi-ld:Notification:")
    assert payload["type"] == "Notification" and payload["notifiedAt"].endswith("Z")
    assert payload["data"] == [{"id": "urn:ngsi-ld:Shelter:1", "type": "Shelter",
                                "occupancy": 12}]
    assert note.ordering_key == "urn:ngsi-ld:Shelter:1"


def test_mqtt_endpoints_carry_receiver_info_too() -> None:
    """§7.3: over MQTT the receiverInfo pairs travel in the message metadata."""
    h = Harness()
    h.subscribe(notification={"endpoint": {"uri": "mqtt://127.0.0.1:1883/kaga/shelters",
                                           "receiverInfo": [{"key": "X-Token", "value": "t"}]}})
    [note] = h.match(shelter(), shelter(occupancy=12))
    assert dict(note.headers)["X-Token"] == "t"


def test_json_ld_endpoints_get_the_context_in_the_body() -> None:
    h = Harness()
    h.subscribe(notification={"endpoint": {"uri": "http://127.0.0.1/n",
                                           "accept": "application/ld+json"}})
    [note] = h.match(shelter(), shelter(occupancy=12))
    assert note.content_type == "application/ld+json"
    assert "Link" not in dict(note.headers)
    payload = body(note)
    assert payload["@context"] == CONTEXT and payload["data"][0]["@context"] == CONTEXT


def test_show_changes_and_deleted_attributes() -> None:
    h = Harness()
    h.subscribe(notificationTrigger=["attributeUpdated", "attributeDeleted"],
                notification={"showChanges": True, "endpoint": {"uri": "http://127.0.0.1/n"}})
    [note] = h.match(shelter(), shelter(occupancy=12))
    assert body(note)["data"][0]["occupancy"] == {"type": "Property", "value": 12,
                                                  "previousValue": 10}
    gone = shelter()
    del gone["attrs"][NS + "name"]
    [note] = h.match(shelter(), gone)
    assert body(note)["data"][0]["name"] == {"type": "Property", "value": "urn:ngsi-ld:null",
                                             "previousValue": "Kinjo school"}


def test_deleted_entity_carries_deleted_at() -> None:
    h = Harness()
    h.subscribe(notificationTrigger=["entityDeleted"])
    [note] = h.match(shelter(), None)
    assert body(note)["data"] == [{"id": "urn:ngsi-ld:Shelter:1", "type": "Shelter",
                                   "deletedAt": AT}]


def brute_force(subscriptions: list[LiveSubscription], change: ChangeRecord) -> set[str]:
    summary = summarize(change.before, change.after)
    target = change.after or change.before
    assert target is not None
    return {live.doc["id"] for live in subscriptions
            if live.tenant == change.tenant
            and fired(summary, live.plan.triggers, live.plan.watched)
            and live.plan.selects(target) and live.plan.filters(target)}


def test_index_agrees_with_brute_force_on_thousands_of_subscriptions() -> None:
    rng = random.Random(7)
    h = Harness()
    types = [f"T{i}" for i in range(40)]
    attributes = ["occupancy", "status", "name", "a1", "a2"]
    subscriptions = []
    for i in range(5000):
        members: dict[str, Any] = {
            "id": f"urn:ngsi-ld:Subscription:{i}",
            "entities": [{"type": rng.choice(types)}] if rng.random() < 0.9 else None,
            "watchedAttributes": rng.sample(attributes, 2) if rng.random() < 0.5 else None,
            "notificationTrigger": rng.sample(["entityCreated", "entityUpdated",
                                               "attributeCreated", "attributeUpdated"], 2)}
        if members["entities"] is None:
            members["watchedAttributes"] = [rng.choice(attributes)]
        if rng.random() < 0.3:
            members["q"] = f"occupancy>{rng.randint(0, 100)}"
        subscriptions.append(h.subscribe(tenant=rng.choice(["", "t2"]),
                                         **{k: v for k, v in members.items() if v is not None}))
    checks = 0
    for _ in range(200):
        entity_type = rng.choice(types)
        before = shelter(occupancy=rng.randint(0, 100))
        before["type"] = ["https://uri.etsi.org/ngsi-ld/default-context/" + entity_type]
        after = {**before, "attrs": dict(before["attrs"])}
        after["attrs"][NS + rng.choice(["occupancy", "status"])] = [
            {"type": "Property", "value": rng.randint(0, 100)}]
        change = ChangeRecord(1, rng.choice(["", "t2"]), before["id"],
                              rng.choice([None, before]), after, AT)
        h.matcher.checks = 0
        found = {n.subscription_id for n in asyncio.run(h.matcher.match([change]))}
        checks += h.matcher.checks
        assert found == brute_force(subscriptions, change)
    # Each change looks at a small fraction of the 5,000 Subscriptions.
    assert checks / 200 < 300


def test_deleted_instances_and_whole_attributes() -> None:
    h = Harness()
    h.subscribe(notificationTrigger=["attributeDeleted"], watchedAttributes=["name"])
    two = shelter()
    two["attrs"][NS + "name"] = [{"type": "Property", "value": "Kinjo"},
                                 {"type": "Property", "value": "錦城", "datasetId": "urn:ja"}]
    one = {**two, "attrs": {**two["attrs"], NS + "name": [two["attrs"][NS + "name"][0]]}}
    [note] = h.match(two, one)  # one instance deleted: the rest plus the deleted one
    assert body(note)["data"][0]["name"] == [
        {"type": "Property", "value": "Kinjo"},
        {"type": "Property", "value": "urn:ngsi-ld:null", "datasetId": "urn:ja"}]
    none = {**two, "attrs": {k: v for k, v in two["attrs"].items() if k != NS + "name"}}
    [note] = h.match(two, none)  # every instance deleted: shown once
    assert body(note)["data"][0]["name"] == {"type": "Property", "value": "urn:ngsi-ld:null"}


def test_equal_filters_are_judged_once_per_owner_view_not_shared_between_owners() -> None:
    from cityos.security.personal import PersonalAttributes
    from cityos.security.policy import Authorizer, Grant
    from cityos.security.principal import Principal

    def owner(role: str, attributes: list[str] | None) -> Authorizer:
        grant = Grant.from_json({"audience": f"role:{role}", "operations": ["read"],
                                 "entityType": NS + "Shelter",
                                 **({"attributes": attributes} if attributes else {})})
        principal = Principal(f"apikey:{role}", "client", roles=frozenset({role}))
        return Authorizer(principal, "", [grant], PersonalAttributes.parse(""))

    everything = owner("all", None)
    no_name = owner("some", [NS + "occupancy"])  # may not read name
    h = Harness()
    owners = {}
    for n, rights in enumerate([everything, no_name, everything, no_name]):
        live = h.subscribe(id=f"urn:ngsi-ld:Subscription:{n}", q='name=="Kinjo school"')
        owners[live.doc["id"]] = rights
    h.matcher.owner_rights = lambda live: owners[live.doc["id"]]
    sent = h.match(shelter(occupancy=10), shelter(occupancy=20))
    # The same q on the same change: true for the owner who sees name, false for the
    # one who does not, whatever order the four Subscriptions are examined in.
    assert sorted(n.subscription_id for n in sent) == ["urn:ngsi-ld:Subscription:0",
                                                        "urn:ngsi-ld:Subscription:2"]
    assert h.matcher.checks == 4


def test_changes_committed_before_the_subscription_existed_do_not_notify() -> None:
    """A matcher working through a backlog (or another node's changes) learns of a new
    Subscription before it reaches older changes: those are not notified to it."""
    h = Harness()
    live = h.subscribe()
    live.created_ms = to_millis("2026-01-01T00:00:05.001000Z")
    assert h.match(None, shelter()) == []  # committed at 00:00:05.000
    live.created_ms = to_millis("2026-01-01T00:00:05.000400Z")  # same millisecond
    assert len(h.match(None, shelter())) == 1
    live.created_ms = to_millis("2026-01-01T00:00:05Z")  # no fraction: .000
    assert len(h.match(None, shelter())) == 1
    live.created_ms = to_millis("2026-01-01T00:00:06Z")
    assert h.match(None, shelter()) == []



LINKED_CONTEXT = {**CONTEXT, "locatedIn": NS + "locatedIn", "City": NS + "City"}


async def _flat_join_data(store: SqliteStore, attributes: list[str] | None) -> list[str]:
    """The ids in `data` of the notification a new Shelter located in Kaga triggers for a
    Subscription with join=flat and the given notification.attributes."""
    index = SubscriptionIndex()
    matcher = SubscriptionMatcher(index, ContextResolver("http://127.0.0.1"), entities=store,
                                  clock=lambda: NOW, monotonic=lambda: 0.0)
    notification: dict[str, Any] = {"endpoint": {"uri": "http://127.0.0.1/n"},
                                    "join": "flat", "joinLevel": 1}
    if attributes is not None:
        notification["attributes"] = attributes
    doc = parse_subscription({"type": "Subscription", "entities": [{"type": "Shelter"}],
                              "notification": notification},
                             compile_context(LINKED_CONTEXT), NOW)
    index.put(LiveSubscription("", doc, LINKED_CONTEXT, "http://127.0.0.1/ctx.jsonld"))
    located = shelter()
    located["attrs"][NS + "locatedIn"] = [{"type": "Relationship",
                                           "object": "urn:ngsi-ld:City:Kaga"}]
    [sent] = await matcher.match([ChangeRecord(1, "", located["id"], None, located, AT)])
    return [e["id"] for e in body(sent)["data"]]


async def test_flat_join_lists_the_entities_linked_through_shown_relationships(
        tmp_path: Path) -> None:
    """join=flat in a notification: the entities reached through the Relationships the
    notification shows follow the notified one, whole; a Relationship left out of
    notification.attributes links nothing, as in a query."""
    city = stamp_new_entity({"id": "urn:ngsi-ld:City:Kaga", "type": [NS + "City"],
                             "attrs": {NS + "name": [{"type": "Property", "value": "加賀市"}]}},
                            "2026-01-01T00:00:00.000000Z")
    store = SqliteStore(str(tmp_path / "linked.db"))
    await store.open()
    try:
        await store.apply("", [(city["id"], lambda old: city)])
        shelter_id = "urn:ngsi-ld:Shelter:1"
        assert await _flat_join_data(store, None) == [shelter_id, city["id"]]
        assert await _flat_join_data(store, ["locatedIn", "occupancy"]) == [shelter_id,
                                                                            city["id"]]
        assert await _flat_join_data(store, ["occupancy"]) == [shelter_id]
    finally:
        await store.close()
