"""Who may use the staff app (security on): anonymous callers are sent to the login page
(pages) or get 401 (API); operators need the second factor and the role shelter-staff or
admin; shelter staff act only on the shelters they are responsible for.

The operator login is a separate component; here a request header names the principal
through an `Authenticator` (the real protocol of cityos.security.authentication)."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

import cityos.app
from cityos.app import build_app
from cityos.apps.shelters.entities import shelter_entity
from cityos.apps.shelters.model import Shelter
from cityos.config import load_settings
from cityos.plugins import Platform
from cityos.security.authentication import header
from cityos.security.principal import Principal
from tests.apps.shelters.support import KINMEI, SHIOYA, staff_patch

PRINCIPALS = {
    "alice": Principal("operator:alice", "operator", frozenset({"shelter-staff"}), mfa=True),
    "alice-no-mfa": Principal("operator:alice", "operator", frozenset({"shelter-staff"})),
    "bob": Principal("operator:bob", "operator", frozenset({"viewer"}), mfa=True),
    "carol": Principal("operator:carol", "operator", frozenset({"admin"}), mfa=True),
}


class HeaderPrincipal:
    async def authenticate(self, scope: MutableMapping[str, Any]) -> Principal | None:
        name = header(scope, b"x-test-principal")
        return PRINCIPALS[name] if name else None


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    def authenticators(platform: Platform) -> list[HeaderPrincipal]:
        return [HeaderPrincipal()]
    monkeypatch.setattr(cityos.app, "security_authenticators", authenticators)
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                              "demo": True}, environ={})
    app = build_app(settings)
    with TestClient(app, base_url="http://127.0.0.1:1026") as test_client:
        # Alice is responsible for 金明小学校 (a responsibleStaff entry set by an admin).
        entity = shelter_entity(Shelter(id="urn:ngsi-ld:EvacuationShelter:alice-hall",
                                        name="テスト会館", lon=136.3, lat=36.3,
                                        responsible_staff=("operator:alice",)))
        test_client.portal.call(app.state.platform.entities.create, "", entity)  # type: ignore[union-attr]
        yield test_client


def _as(name: str) -> dict[str, str]:
    return {"X-Test-Principal": name, "X-Requested-With": "cityos"}


def test_anonymous_pages_go_to_the_login(client: TestClient) -> None:
    response = client.get("/shelters/staff?lang=en", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=/shelters/staff%3Flang%3Den"
    assert client.get("/shelters").status_code == 200  # the public map needs nobody


def test_anonymous_api_calls_get_401(client: TestClient) -> None:
    response = client.get("/shelters/api/staff/shelters")
    assert response.status_code == 401
    assert response.json()["type"].endswith("Unauthenticated")
    assert staff_patch(client, KINMEI, {"status": "open"}).status_code == 401


@pytest.mark.parametrize("name", ["alice-no-mfa", "bob"])
def test_operators_without_mfa_or_role_are_forbidden(client: TestClient, name: str) -> None:
    assert client.get("/shelters/staff", headers=_as(name)).status_code == 403
    assert client.get("/shelters/api/staff/shelters", headers=_as(name)).status_code == 403
    assert staff_patch(client, KINMEI, {"status": "open"}, _as(name)).status_code == 403


def test_staff_see_and_change_only_their_shelters(client: TestClient) -> None:
    mine = client.get("/shelters/api/staff/shelters", headers=_as("alice")).json()
    assert [s["name"] for s in mine] == ["テスト会館"]
    assert staff_patch(client, KINMEI, {"status": "open"}, _as("alice")).status_code == 403
    ok = staff_patch(client, "urn:ngsi-ld:EvacuationShelter:alice-hall",
                     {"status": "open", "occupancy": 3}, _as("alice"))
    assert ok.status_code == 200
    assert ok.json()["updated_by"] == "operator:alice"
    assert client.get("/shelters/staff", headers=_as("alice")).status_code == 200


def test_admins_see_every_shelter(client: TestClient) -> None:
    everything = client.get("/shelters/api/staff/shelters", headers=_as("carol")).json()
    assert len(everything) == 84
    assert staff_patch(client, SHIOYA, {"status": "open"}, _as("carol")).json()[
        "updated_by"] == "operator:carol"


def test_a_temporary_shelter_belongs_to_who_added_it(client: TestClient) -> None:
    created = client.post("/shelters/api/shelters", headers=_as("alice"), json={
        "name": "大聖寺 集会所", "kind": "communityHall", "lat": 36.30, "lon": 136.31})
    assert created.json()["responsible_staff"] == ["operator:alice"]
    mine = client.get("/shelters/api/staff/shelters", headers=_as("alice")).json()
    assert {s["name"] for s in mine} == {"テスト会館", "大聖寺 集会所"}
