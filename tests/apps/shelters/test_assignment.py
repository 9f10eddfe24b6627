"""Assigning staff to shelters (PUT /shelters/api/shelters/{id}/staff) with security on,
operators signed in through the real login (password + TOTP): only an administrator
assigns, only existing operators can be assigned, and the assigned staff member then sees
and changes that shelter, and no other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityos.apps.shelters.entities import shelter_entity
from cityos.apps.shelters.model import Shelter, ShelterError, parse_assignment
from tests.apps.shelters.support import KINMEI, STAFF_HEADERS, staff_patch
from tests.identity_support import add_operator, enrol, login, secure_client

HALL = "urn:ngsi-ld:EvacuationShelter:assignment-hall"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with secure_client(f"sqlite:///{tmp_path / 'cityos.db'}",
                       identity_key_file=str(tmp_path / "identity.key")) as found:
        platform = found.app.state.platform  # type: ignore[attr-defined]
        for shelter_id, name in ((KINMEI, "加賀市立金明小学校"), (HALL, "テスト会館")):
            entity = shelter_entity(Shelter(id=shelter_id, name=name, lon=136.3, lat=36.3))
            found.portal.call(platform.entities.create, "", entity)  # type: ignore[union-attr]
        add_operator(found, "kaga-admin", ["admin"])
        add_operator(found, "kaga-staff", ["shelter-staff"])
        yield found


def assign(client: TestClient, shelter_id: str, names: Any) -> Any:
    return client.put(f"/shelters/api/shelters/{shelter_id}/staff",
                      json={"responsibleStaff": names}, headers=STAFF_HEADERS)


def mine(client: TestClient) -> list[str]:
    answer = client.get("/shelters/api/staff/shelters")
    assert answer.status_code == 200, answer.text
    return [s["id"] for s in answer.json()]


def test_an_administrator_assigns_and_the_staff_member_then_acts(client: TestClient) -> None:
    staff_secret, _ = enrol(client, "kaga-staff")
    assert mine(client) == []  # nothing assigned yet
    assert staff_patch(client, KINMEI, {"occupancy": 3}).status_code == 403
    client.cookies.clear()
    enrol(client, "kaga-admin")
    answer = assign(client, KINMEI, ["kaga-staff", "operator:kaga-staff"])
    assert answer.status_code == 200, answer.text
    assert answer.json()["responsible_staff"] == ["operator:kaga-staff"]
    client.cookies.clear()
    login(client, "kaga-staff", staff_secret)
    assert mine(client) == [KINMEI]
    assert staff_patch(client, KINMEI, {"occupancy": 3}).status_code == 200
    assert staff_patch(client, HALL, {"occupancy": 3}).status_code == 403
    # Staff cannot assign anyone, not even themselves to another shelter.
    refused = assign(client, HALL, ["kaga-staff"])
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("Forbidden")


def test_an_empty_list_leaves_the_shelter_to_administrators(client: TestClient) -> None:
    enrol(client, "kaga-admin")
    assert assign(client, KINMEI, ["kaga-staff"]).status_code == 200
    answer = assign(client, KINMEI, [])
    assert answer.status_code == 200
    assert answer.json()["responsible_staff"] == []
    assert KINMEI in mine(client)  # the administrator still sees it


@pytest.mark.parametrize("names", [["nobody-here"], ["Bad Name"], "kaga-staff", [1]])
def test_wrong_assignments_are_refused_with_a_clear_error(client: TestClient,
                                                         names: Any) -> None:
    enrol(client, "kaga-admin")
    answer = assign(client, KINMEI, names)
    assert answer.status_code == 400, answer.text
    assert answer.json()["type"].endswith("BadRequestData")
    assert answer.json()["detail"]


def test_unknown_shelter_anonymous_and_csrf(client: TestClient) -> None:
    assert assign(client, KINMEI, ["kaga-staff"]).status_code == 401  # anonymous
    enrol(client, "kaga-admin")
    assert assign(client, "urn:ngsi-ld:EvacuationShelter:none",
                  ["kaga-staff"]).status_code == 404
    no_header = client.put(f"/shelters/api/shelters/{KINMEI}/staff",
                           json={"responsibleStaff": ["kaga-staff"]})
    assert no_header.status_code == 403  # no X-Requested-With: a cross-site form


def test_parse_assignment() -> None:
    assert parse_assignment({"responsibleStaff": [" kaga-staff ", "operator:b.c"]}) == (
        "operator:kaga-staff", "operator:b.c")
    for body in ({}, {"responsibleStaff": ["x"] * 30}, {"responsibleStaff": ["a"]},
                 {"responsibleStaff": [], "other": 1}, []):
        with pytest.raises(ShelterError):
            parse_assignment(body)
