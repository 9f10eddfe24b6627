"""Hosted @contexts survive a restart of the server (same database)."""

from __future__ import annotations

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings

API = "/ngsi-ld/v1"
CONTEXT = {"@context": {"shelterName": "https://kaga.example.org/ns#shelterName"}}


def _app(database: str):  # type: ignore[no-untyped-def]
    settings = load_settings({"database_url": database, "dev": True}, environ={})
    return build_app(settings)


def test_hosted_context_is_served_after_restart(database_url: str) -> None:
    database = database_url
    with TestClient(_app(database), base_url="http://127.0.0.1:1026") as client:
        created = client.post(f"{API}/jsonldContexts", json=CONTEXT,
                              headers={"NGSILD-Tenant": "kaga"})
        assert created.status_code == 201
        location = created.headers["location"]
    with TestClient(_app(database), base_url="http://127.0.0.1:1026") as client:
        served = client.get(location, headers={"NGSILD-Tenant": "kaga"})
        assert served.status_code == 200
        assert served.json() == CONTEXT
        assert client.get(location).status_code == 404  # still per tenant
        assert client.delete(location, headers={"NGSILD-Tenant": "kaga"}).status_code == 204
    with TestClient(_app(database), base_url="http://127.0.0.1:1026") as client:
        assert client.get(location, headers={"NGSILD-Tenant": "kaga"}).status_code == 404
