"""A City OS with security on, for tests: real API keys and grants made through the
platform's AccessControl, and a few entities to guard."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from cityos.security.access import AccessControl

API = "/ngsi-ld/v1"
SHELTER = "urn:ngsi-ld:EvacuationShelter:kaga-001"
OTHER_SHELTER = "urn:ngsi-ld:EvacuationShelter:komatsu-001"
DEVICE = "urn:ngsi-ld:Device:river-01"


class SecureCity:
    """The client (no credentials of its own) and ways to mint keys and grants."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.access: AccessControl = client.app.state.access  # type: ignore[attr-defined]

    def key(self, *roles: str, tenants: set[str] | None = None, kind: str = "client") -> str:
        create = partial(self.access.keys.create, "test key", roles=frozenset(roles),
                         kind=kind, tenants=None if tenants is None else frozenset(tenants))
        issued = self.client.portal.call(create)  # type: ignore[union-attr]
        key: str = issued.key
        return key

    def revoke(self, key: str) -> None:
        key_id = key.split("_")[1]
        self.client.portal.call(self.access.keys.revoke, key_id)  # type: ignore[union-attr]

    def grant(self, **doc: Any) -> str:
        grant = self.client.portal.call(self.access.grant, doc)  # type: ignore[union-attr]
        grant_id: str = grant.id
        return grant_id

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"X-API-Key": key}


def shelter(entity_id: str = SHELTER, occupancy: int = 10) -> dict[str, Any]:
    return {"id": entity_id, "type": "EvacuationShelter",
            "name": {"type": "Property", "value": "錦城小学校"},
            "peopleOccupancy": {"type": "Property", "value": occupancy},
            "contactPhone": {"type": "Property", "value": "0761-72-0000"}}


def device(entity_id: str = DEVICE, level: float = 1.5) -> dict[str, Any]:
    return {"id": entity_id, "type": "Device",
            "waterLevel": {"type": "Property", "value": level}}


@contextmanager
def secure_city(database_url: str, **settings: Any) -> Iterator[SecureCity]:
    """Security on; EvacuationShelter public; contactPhone of shelters is personal data."""
    values = {"database_url": database_url, "dev": False,
              "public_types": "EvacuationShelter",
              "personal_attributes": "EvacuationShelter.contactPhone", **settings}
    app = build_app(load_settings(values, environ={}))
    with TestClient(app, base_url="http://127.0.0.1:1026") as client:
        yield SecureCity(client)


def seed(city: SecureCity, tenant: str = "") -> str:
    """An operator-like key (role city-admin: read and write everything, no personal
    data) and the entities; returns the key."""
    city.grant(audience="role:city-admin", operations=["read", "write", "subscribe"])
    admin = city.key("city-admin")
    headers = {**city.auth(admin), **({"NGSILD-Tenant": tenant} if tenant else {})}
    for body in (shelter(), shelter(OTHER_SHELTER, 40), device(),
                 device("urn:ngsi-ld:Device:river-02", 2.0)):
        response = city.client.post(f"{API}/entities", json=body, headers=headers)
        assert response.status_code == 201, response.text
    return admin
