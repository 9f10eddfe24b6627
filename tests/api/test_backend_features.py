"""Features whose storage is not on every backend yet say so with 501, never a 500."""

from __future__ import annotations

from starlette.testclient import TestClient

API = "/ngsi-ld/v1"
NOT_YET_ON_POSTGRES = [("GET", f"{API}/subscriptions"),
                       ("GET", f"{API}/temporal/entities/urn:ngsi-ld:Sensor:1")]


def test_subscriptions_and_temporal_answer_or_refuse_clearly(
        client: TestClient, database_url: str) -> None:
    for method, path in NOT_YET_ON_POSTGRES:
        response = client.request(method, path)
        if database_url.startswith("postgresql"):
            assert response.status_code == 501
            problem = response.json()
            assert problem["type"].endswith("/OperationNotSupported")
            assert "PostgreSQL" in problem["detail"]
        else:
            assert response.status_code in (200, 404)

