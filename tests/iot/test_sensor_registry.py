"""The public sensor registry: derived from the device records (so it changes when they
do), retention from CITYOS_TEMPORAL_RETENTION, CSV and GeoJSON open data, the page in
Japanese and English with no inline script."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from tests.iot.support import RIVER_GAUGE, iot_app, provision

COUNTER = {"device_id": "hall-1", "entity_type": "CrowdFlowObserved",
           "attributes": [{"object_id": "c", "name": "peopleCount", "type": "Integer",
                           "unitCode": "C62"}],
           "location": {"type": "Point", "coordinates": [136.35, 36.29]},
           "purpose": "混雑状況の把握", "purpose_en": "Crowding", "operator": "加賀市",
           "personal_data": True, "personal_data_note": "カメラ映像 (保存しない)",
           "installed_on": "2026-04-01"}


def test_exports_follow_the_device_records(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite", temporal_retention="365,WaterObserved=30") as client:
        apikey = provision(client)["apikey"]
        provision(client, COUNTER)
        client.post("/iot/d", params={"k": apikey, "i": "gauge-1"}, content=b"l|100")

        response = client.get("/sensors.csv")
        assert response.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.text.lstrip("\ufeff"))))
        assert [r["device_id"] for r in rows] == ["gauge-1", "hall-1"]
        gauge, hall = rows
        assert gauge["data_items"] == "height (MTR);count"
        assert (gauge["retention_days"], hall["retention_days"]) == ("30", "365")
        assert gauge["last_seen"].startswith("20") and hall["last_seen"] == ""
        assert (hall["personal_data"], hall["personal_data_note"]) == (
            "yes", "カメラ映像 (保存しない)")
        assert (gauge["longitude"], gauge["latitude"]) == ("136.31", "36.305")

        geojson = client.get("/sensors.geojson")
        assert geojson.headers["content-type"] == "application/geo+json"
        features = geojson.json()["features"]
        assert features[1]["geometry"] == {"type": "Point", "coordinates": [136.35, 36.29]}
        assert features[1]["properties"]["operator"] == "加賀市"
        assert features[1]["properties"]["personal_data"] is True

        client.delete("/iot/devices/hall-1")
        assert [f["id"] for f in client.get("/sensors.geojson").json()["features"]] == [
            "gauge-1"]


def test_page_in_japanese_and_english(tmp_path: Path) -> None:
    with iot_app(tmp_path / "db.sqlite") as client:
        provision(client, COUNTER)
        provision(client, {**RIVER_GAUGE, "purpose": "", "purpose_en": "River level"})
        japanese = client.get("/sensors").text
        assert '<html lang="ja">' in japanese and "センサー設置状況" in japanese
        assert "混雑状況の把握" in japanese and "⚠ 取得する" in japanese
        assert "River level" in japanese  # no Japanese text: the English one is shown
        english = client.get("/sensors", params={"lang": "en"}).text
        assert '<html lang="en">' in english and "Sensor registry" in english
        assert "Crowding" in english and "Data collected" in english
        assert "収集する項目" in japanese and "peopleCount (C62)" in japanese
        for page in (japanese, english):
            assert not re.search(r"<script(?![^>]*\bsrc=)", page)  # no inline scripts
            assert "/sensors/static/leaflet/leaflet.js" in page
        assert client.get("/sensors/static/leaflet/leaflet.js").status_code == 200
        assert client.get("/sensors/static/sensors.js").status_code == 200
