"""Parsing, validating and rendering Subscriptions (cityos.ngsild.subscription)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cityos.ngsild.context import compile_context
from cityos.ngsild.errors import BadRequestData
from cityos.ngsild.subscription import (
    DeliveryCounters,
    apply_update,
    parse_subscription,
    parse_update,
    render_subscription,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CTX = compile_context({"Building": "https://kaga.example/ns#Building",
                       "occupancy": "https://kaga.example/ns#occupancy"})
CORE = compile_context(None)
DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def subscription(**members: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"type": "Subscription", "entities": [{"type": "Building"}],
                            "notification": {"endpoint": {"uri": "http://127.0.0.1/n"}}}
    body.update(members)
    return body


def test_names_are_stored_expanded_and_rendered_with_any_context() -> None:
    doc = parse_subscription(subscription(watchedAttributes=["occupancy"],
                                          notification={"attributes": ["occupancy"],
                                                        "endpoint": {"uri": "mqtt://b/t"}}),
                             CTX, NOW)
    assert doc["entities"] == [{"type": "https://kaga.example/ns#Building"}]
    assert doc["watchedAttributes"] == ["https://kaga.example/ns#occupancy"]
    mine = render_subscription(doc, CTX, DeliveryCounters(), NOW)
    assert mine["entities"] == [{"type": "Building"}]
    assert mine["notification"]["attributes"] == ["occupancy"]
    other = render_subscription(doc, CORE, DeliveryCounters(), NOW)
    assert other["watchedAttributes"] == ["https://kaga.example/ns#occupancy"]


def test_generated_id_default_trigger_and_no_invented_members() -> None:
    doc = parse_subscription(subscription(), CTX, NOW)
    assert doc["id"].startswith("urn:ngsi-ld:Subscription:")
    out = render_subscription(doc, CTX, DeliveryCounters(), NOW)
    assert out["notificationTrigger"] == ["attributeCreated", "attributeUpdated"]
    assert out["status"] == "active"
    assert "isActive" not in out and "format" not in out["notification"]
    assert "timesSent" not in out["notification"]


def test_type_expressions_round_trip() -> None:
    doc = parse_subscription(subscription(entities=[{"type": "(Building|Tower);Site"}]),
                             CTX, NOW)
    out = render_subscription(doc, CTX, DeliveryCounters(), NOW)
    assert out["entities"][0]["type"] == "(Building|Tower);Site"


@pytest.mark.parametrize("members", [
    {"type": "Other"},
    {"id": "not a uri"},
    {"entities": []},
    {"entities": [{"id": "urn:x:1"}]},
    {"entities": [{"type": "Building", "idPattern": "("}]},
    {"notificationTrigger": ["entityChanged"]},
    {"timeInterval": 10, "throttling": 5},
    {"timeInterval": 10, "watchedAttributes": ["occupancy"]},
    {"throttling": -30},
    {"timeInterval": 0},
    {"q": "occupancy>>"},
    {"csf": "(("},
    {"scopeQ": "no-slash"},
    {"geoQ": {"georel": "near", "geometry": "Point", "coordinates": [1, 2]}},
    {"expiresAt": "2000-01-01T00:00:00Z"},
    {"expiresAt": "tomorrow"},
    {"isActive": "yes"},
    {"jsonldContext": "unknownContext"},
    {"datasetId": ["not a uri"]},
    {"notification": {}},
    {"notification": {"endpoint": {"uri": "ftp://h/x"}}},
    {"notification": {"endpoint": {"uri": "http://h/x", "accept": "text/plain"}}},
    {"notification": {"endpoint": {"uri": "http://h/x", "receiverInfo": [{"key": "K",
                                                                          "value": 42}]}}},
    {"notification": {"endpoint": {"uri": "http://h/x", "notifierInfo": [{"key": "K"}]}}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "format": "keyValues",
                      "showChanges": True}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "attributes": []}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "pick": ["id"],
                      "attributes": ["occupancy"]}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "pick": ["id"], "omit": ["id"]}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "format": "xml"}},
    {"notification": {"endpoint": {"uri": "http://h/x"}, "joinLevel": 0}},
])
def test_invalid_subscriptions_are_bad_request_data(members: dict[str, Any]) -> None:
    with pytest.raises(BadRequestData):
        parse_subscription(subscription(**members), CTX, NOW)


def test_entities_or_watched_attributes_are_needed() -> None:
    body = subscription()
    del body["entities"]
    with pytest.raises(BadRequestData):
        parse_subscription(body, CTX, NOW)
    assert parse_subscription({**body, "watchedAttributes": ["occupancy"]}, CTX, NOW)


def test_output_only_and_unknown_members_are_ignored() -> None:
    body = subscription(status="expired", __context="http://evil/ctx")
    body["notification"]["timesSent"] = 42
    out = render_subscription(parse_subscription(body, CTX, NOW), CTX, DeliveryCounters(), NOW)
    assert out["status"] == "active"
    assert "timesSent" not in out["notification"] and "__context" not in out


def test_status_follows_is_active_and_expiry() -> None:
    doc = parse_subscription(subscription(isActive=False), CTX, NOW)
    assert render_subscription(doc, CTX, DeliveryCounters(), NOW)["status"] == "paused"
    doc = parse_subscription(subscription(expiresAt="2026-06-01T00:00:00Z"), CTX, NOW)
    later = datetime(2026, 7, 1, tzinfo=UTC)
    assert render_subscription(doc, CTX, DeliveryCounters(), later)["status"] == "expired"


def test_delivery_counters_are_rendered_once_something_was_sent() -> None:
    doc = parse_subscription(subscription(), CTX, NOW)
    counters = DeliveryCounters(times_sent=3, times_failed=1, consecutive_errors=1,
                                last_notification="2026-01-01T00:00:03Z",
                                last_success="2026-01-01T00:00:02Z",
                                last_failure="2026-01-01T00:00:03Z", last_status="failed")
    note = render_subscription(doc, CTX, counters, NOW)["notification"]
    assert note["timesSent"] == 3 and note["consecutiveErrors"] == 1
    assert note["status"] == "failed" and note["lastFailure"] == "2026-01-01T00:00:03Z"


def test_sys_attrs_show_timestamps() -> None:
    doc = parse_subscription(subscription(), CTX, NOW)
    doc["createdAt"] = doc["modifiedAt"] = "2026-01-01T00:00:00.000000Z"
    out = render_subscription(doc, CTX, DeliveryCounters(), NOW, sys_attrs=True)
    assert out["createdAt"] == "2026-01-01T00:00:00.000000Z"


def test_update_replaces_members_and_null_removes() -> None:
    doc = parse_subscription(subscription(q="occupancy>3", throttling=5), CTX, NOW)
    changes = parse_update({"q": None, "throttling": None, "isActive": False}, CTX, NOW)
    updated = apply_update(doc, changes, "2026-01-01T00:00:01Z")
    assert "q" not in updated and "qTerms" not in updated and "throttling" not in updated
    assert updated["isActive"] is False and updated["modifiedAt"] == "2026-01-01T00:00:01Z"


@pytest.mark.parametrize("fragment", [
    {"notification": {"format": "keyValues"}},
    {"notification": None},
    {"entities": None},
    {"expiresAt": "2020-08-01T22:07:00Z"},
    {"type": "Entity"},
])
def test_invalid_updates_are_refused(fragment: dict[str, Any]) -> None:
    doc = parse_subscription(subscription(), CTX, NOW)
    with pytest.raises(BadRequestData):
        apply_update(doc, parse_update(fragment, CTX, NOW), "2026-01-01T00:00:01Z")


def test_q_keeps_the_iris_its_names_expanded_to() -> None:
    doc = parse_subscription(subscription(q="occupancy>3;name==\"x\""), CTX, NOW)
    assert doc["qTerms"] == {"occupancy": "https://kaga.example/ns#occupancy",
                             "name": DEFAULT + "name"}


def test_q_with_percent_escapes_means_what_it_means_in_a_url() -> None:
    doc = parse_subscription(subscription(q='name=="Eiffel%20Tower";rate=="100%"'), CTX, NOW)
    assert doc["q"] == 'name=="Eiffel Tower";rate=="100%"'
    plain = parse_subscription(subscription(q='name=="Eiffel Tower"'), CTX, NOW)
    assert plain["q"] == 'name=="Eiffel Tower"'


def test_a_subscription_held_back_by_the_broker_is_paused_with_the_reason() -> None:
    doc = parse_subscription(subscription(), CTX, NOW)
    out = render_subscription(doc, CTX, DeliveryCounters(), NOW,
                              held_back="the owner's API key 00 was revoked")
    assert out["status"] == "paused"
    assert out["cityos:statusReason"] == "the owner's API key 00 was revoked"
    expired = parse_subscription(subscription(expiresAt="2027-01-01T00:00:00Z"), CTX, NOW)
    later = datetime(2028, 1, 1, tzinfo=UTC)
    shown = render_subscription(expired, CTX, DeliveryCounters(), later, held_back="x")
    assert shown["status"] == "expired" and "cityos:statusReason" not in shown
