"""The shelter app on the PostgreSQL backend: the demo, a staff update, the feed."""

from __future__ import annotations

from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from tests.apps.shelters.support import KINMEI, eventually, feature_of, staff_patch
from tests.postgres_support import fresh_schema


def test_shelters_on_postgresql() -> None:
    with fresh_schema() as url:
        settings = load_settings({"database_url": url, "dev": True, "demo": True},
                                 environ={})
        with TestClient(build_app(settings)) as client:
            assert len(client.get("/shelters/feed.geojson").json()["features"]) == 83
            changed = staff_patch(client, KINMEI, {"status": "open", "capacity": 100,
                                                   "occupancy": 85})
            assert changed.json()["crowding_level"] == "full"
            assert eventually(lambda: (f := feature_of(client, KINMEI))
                              and f["properties"].get("crowdingLevel") == "full")
            back = staff_patch(client, KINMEI, {"crowding": "auto", "occupancy": 10})
            assert back.json()["crowding_level"] == "vacant"
