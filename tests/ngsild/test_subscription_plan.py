"""Matching plans of stored Subscriptions (cityos.ngsild.subscription.plan): the filter key
that lets Subscriptions asking the same question share one verdict per change."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cityos.ngsild.context import compile_context
from cityos.ngsild.subscription import parse_subscription
from cityos.ngsild.subscription.plan import compile_plan

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CTX = compile_context({"Shelter": "https://kaga.example/ns#Shelter",
                       "occupancy": "https://kaga.example/ns#occupancy"})


def plan(**members: Any) -> Any:
    body: dict[str, Any] = {"type": "Subscription", "entities": [{"type": "Shelter"}],
                            "notification": {"endpoint": {"uri": "http://127.0.0.1/n"}}}
    body.update(members)
    return compile_plan(parse_subscription(body, CTX, NOW))


def test_equal_selectors_and_filters_share_one_interned_key() -> None:
    first, second = plan(q="occupancy>3"), plan(q="occupancy>3", watchedAttributes=["x"])
    assert first is not second
    assert first.filter_key is second.filter_key  # watchedAttributes is not a filter


def test_any_difference_in_selectors_or_filters_gives_another_key() -> None:
    base = plan(q="occupancy>3").filter_key
    others = [plan(q="occupancy>4"), plan(), plan(q="occupancy>3", scopeQ="/Kaga"),
              plan(q="occupancy>3", entities=[{"type": "Shelter", "idPattern": "urn:.*"}]),
              plan(q="occupancy>3", geoQ={"geometry": "Point", "coordinates": [136.3, 36.3],
                                          "georel": "near;maxDistance==100"})]
    for other in others:
        assert other.filter_key != base and other.filter_key is not base


def test_negated_existence_in_a_subscription_q() -> None:
    """V1.9 `!attr` in a Subscription's q: its entities lack the attribute."""
    without = plan(q="!occupancy")
    occupancy = "https://kaga.example/ns#occupancy"
    bare = {"id": "urn:ngsi-ld:Shelter:1", "type": ["https://kaga.example/ns#Shelter"],
            "attrs": {}}
    counted = {**bare, "attrs": {occupancy: [{"type": "Property", "value": 4}]}}
    assert without.filters(bare) and not without.filters(counted)
    assert without.filter_key != plan(q="occupancy").filter_key
