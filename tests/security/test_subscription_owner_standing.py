"""A Subscription made by an operator follows the operator as the directory holds it now
(cityos.security.access.owner_now): a disabled operator's Subscriptions fall silent, and
an operator who lost a role no longer receives what only that role could read."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from tests.identity_support import PASSWORD, add_operator, identity_of
from tests.security_support import SecureCity, secure_city, shelter

from cityos.broker.subscriptions.caller import OWNER, owner_principal
from cityos.security.access import owner_problem, owner_rights


@pytest.fixture
def city(tmp_path: Path) -> Iterator[SecureCity]:
    with secure_city(f"sqlite:///{tmp_path / 'cityos.db'}", public_types="") as secure:
        yield secure


def _owned_by_alice() -> dict[str, Any]:
    return {OWNER: {"subject": "operator:alice", "kind": "operator", "roles": ["watcher"]}}


def _reload(city: SecureCity) -> None:
    city.client.portal.call(city.access.load)  # type: ignore[union-attr]


def test_a_disabled_operators_subscriptions_stop_and_say_why(city: SecureCity) -> None:
    city.grant(audience="role:watcher", operations=["read", "subscribe"])
    add_operator(city.client, "alice", ["watcher"], PASSWORD)
    problem = owner_problem(city.access)
    _reload(city)
    assert problem("", _owned_by_alice()) is None
    operators = identity_of(city.client).operators
    city.client.portal.call(operators.set_disabled, "alice", True)  # type: ignore[union-attr]
    _reload(city)
    assert problem("", _owned_by_alice()) == "the owner operator alice is disabled"
    doc = _owned_by_alice()
    live = SimpleNamespace(doc=doc, tenant="", owner=owner_principal(doc))
    rights = owner_rights(city.access)(live)
    assert rights is not None and rights.readable(shelter()) is None
    city.client.portal.call(operators.set_disabled, "alice", False)  # type: ignore[union-attr]
    _reload(city)
    assert problem("", _owned_by_alice()) is None


def test_an_operator_who_lost_the_role_loses_what_it_granted(city: SecureCity) -> None:
    city.grant(audience="role:watcher", operations=["read", "subscribe"])
    add_operator(city.client, "alice", ["watcher"], PASSWORD)
    _reload(city)
    problem = owner_problem(city.access)
    assert problem("", _owned_by_alice()) is None
    operators = identity_of(city.client).operators

    async def demote() -> None:
        alice = await operators.require("alice")
        alice.roles = ["visitor"]
        await operators.save(alice)
    city.client.portal.call(demote)  # type: ignore[union-attr]
    _reload(city)
    found = problem("", _owned_by_alice())
    assert found is not None and "no read grant" in found


def test_an_operator_not_listed_yet_keeps_its_recorded_roles(city: SecureCity) -> None:
    city.grant(audience="role:watcher", operations=["read", "subscribe"])
    _reload(city)  # alice is created after the last reload (another process, the CLI)
    add_operator(city.client, "alice", ["watcher"], PASSWORD)
    assert owner_problem(city.access)("", _owned_by_alice()) is None
