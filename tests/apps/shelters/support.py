"""Helpers of the shelter tests: an app with the Kaga demo, staff writes, polling."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.testclient import TestClient

STAFF_HEADERS = {"X-Requested-With": "cityos"}
KINMEI = "urn:ngsi-ld:EvacuationShelter:E1720600002111"  # 加賀市立金明小学校
SHIOYA = "urn:ngsi-ld:EvacuationShelter:E1720600001111"  # 加賀市立塩屋地区会館


def staff_patch(client: TestClient, shelter_id: str, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> Any:
    return client.patch(f"/shelters/api/shelters/{shelter_id}", json=body,
                        headers=STAFF_HEADERS if headers is None else headers)


def feature_of(client: TestClient, shelter_id: str) -> dict[str, Any] | None:
    features = client.get("/shelters/feed.geojson").json()["features"]
    return next((f for f in features if f["id"] == shelter_id), None)


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll until `check` returns something truthy (the bus delivers off the write path)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.02)
