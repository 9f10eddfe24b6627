"""The shelter app over HTTP (in-process, development mode): the Kaga demo, the cached
public feed, staff updates through the broker, temporary shelters, exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.config import load_settings
from tests.apps.shelters.support import (
    KINMEI,
    SHIOYA,
    eventually,
    feature_of,
    staff_patch,
)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}", "dev": True,
                              "demo": True}, environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026") as test_client:
        yield test_client


def test_the_demo_is_one_shelter_per_facility(client: TestClient) -> None:
    features = client.get("/shelters/feed.geojson").json()["features"]
    assert len(features) == 83
    kinmei = next(f for f in features if f["id"] == KINMEI)["properties"]
    assert kinmei["name"] == "加賀市立金明小学校"
    assert kinmei["status"] == "closed"
    assert "peopleCapacity" not in kinmei  # the GSI data has none: never invented
    assert kinmei["source"] == "出典：国土地理院 指定緊急避難場所・指定避難所データ"
    entities = client.get("/ngsi-ld/v1/entities", params={
        "type": "EvacuationShelter", "limit": 1000, "count": "true"})
    assert entities.headers["NGSILD-Results-Count"] == "83"


def test_the_feed_is_cacheable(client: TestClient) -> None:
    first = client.get("/shelters/feed.geojson")
    assert first.headers["content-type"] == "application/geo+json"
    assert first.headers["cache-control"] == "public, max-age=5"
    etag = first.headers["etag"]
    again = client.get("/shelters/feed.geojson", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    staff_patch(client, KINMEI, {"status": "open"})
    changed = eventually(lambda: client.get("/shelters/feed.geojson").headers["etag"] != etag)
    assert changed


def test_staff_opens_a_shelter_and_sets_85_of_100(client: TestClient) -> None:
    response = staff_patch(client, KINMEI, {"status": "open", "capacity": 100,
                                            "occupancy": 85})
    assert response.status_code == 200
    assert response.json()["crowding_level"] == "full"
    feature = eventually(lambda: (f := feature_of(client, KINMEI))
                         and f["properties"]["status"] == "open" and f)
    props = feature["properties"]
    assert (props["peopleOccupancy"], props["peopleCapacity"], props["crowdingLevel"],
            props["crowdingLevelSource"]) == (85, 100, "full", "derived")
    assert "updatedBy" not in props and "notes" not in props  # staff-only
    entity = client.get(f"/ngsi-ld/v1/entities/{KINMEI}",
                        params={"options": "keyValues,sysAttrs"}).json()
    assert entity["updatedBy"] == "developer"
    assert entity["crowdingLevel"] == "full"
    assert entity["modifiedAt"] == props["modifiedAt"]


def test_staff_changes_are_in_the_temporal_history(client: TestClient) -> None:
    staff_patch(client, KINMEI, {"status": "open", "capacity": 100, "occupancy": 10})
    staff_patch(client, KINMEI, {"occupancy": 70})
    history = client.get(f"/ngsi-ld/v1/temporal/entities/{KINMEI}",
                         params={"attrs": "peopleOccupancy,updatedBy",
                                 "timeproperty": "modifiedAt"}).json()
    counts = [i["value"] for i in history["peopleOccupancy"]]
    assert counts == [10, 70]
    assert {i["value"] for i in history["updatedBy"]} == {"developer"}


def test_closing_hides_the_count_and_crowding(client: TestClient) -> None:
    staff_patch(client, KINMEI, {"status": "open", "capacity": 100, "occupancy": 40})
    staff_patch(client, KINMEI, {"status": "closed"})
    props = eventually(lambda: (f := feature_of(client, KINMEI))
                       and f["properties"]["status"] == "closed" and f["properties"])
    assert "crowdingLevel" not in props and "peopleOccupancy" not in props


def test_a_staff_crowding_level_without_capacity(client: TestClient) -> None:
    body = staff_patch(client, SHIOYA, {"status": "open", "crowding": "crowded"}).json()
    assert (body["crowding_level"], body["crowding_source"], body["capacity"]) == \
        ("crowded", "staff", None)
    back = staff_patch(client, SHIOYA, {"crowding": "auto"}).json()
    assert back["crowding_level"] is None  # no capacity: nothing to derive from
    entity = client.get(f"/ngsi-ld/v1/entities/{SHIOYA}").json()
    assert "crowdingLevel" not in entity


def test_writes_need_the_csrf_header_and_the_same_origin(client: TestClient) -> None:
    refused = staff_patch(client, KINMEI, {"status": "open"}, headers={})
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("Forbidden")
    cross = staff_patch(client, KINMEI, {"status": "open"}, headers={
        "X-Requested-With": "cityos", "Origin": "https://evil.example"})
    assert cross.status_code == 403
    site = staff_patch(client, KINMEI, {"status": "open"}, headers={
        "X-Requested-With": "cityos", "Sec-Fetch-Site": "cross-site"})
    assert site.status_code == 403
    same = staff_patch(client, KINMEI, {"status": "open"}, headers={
        "X-Requested-With": "cityos", "Origin": "http://127.0.0.1:1026",
        "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200


@pytest.mark.parametrize("body", [{"occupancy": -3}, {"status": "maybe"}, {"x": 1}])
def test_bad_updates_are_problem_details(client: TestClient, body: dict[str, object]) -> None:
    response = staff_patch(client, KINMEI, body)
    assert response.status_code == 400
    assert response.json()["type"].endswith("BadRequestData")


def test_bad_json_and_unknown_shelters(client: TestClient) -> None:
    broken = client.patch(f"/shelters/api/shelters/{KINMEI}", content=b"{oops",
                          headers={"X-Requested-With": "cityos"})
    assert broken.status_code == 400
    missing = staff_patch(client, "urn:ngsi-ld:EvacuationShelter:nope", {"status": "open"})
    assert missing.status_code == 404


def test_staff_add_a_temporary_shelter(client: TestClient) -> None:
    town = client.get("/shelters/api/geocode", params={"address": "石川県加賀市山代温泉18"})
    assert town.json()["town"] == "山代温泉"
    created = client.post("/shelters/api/shelters", headers={"X-Requested-With": "cityos"},
                          json={"name": "山代温泉 臨時避難所（旅館）", "kind": "ryokan",
                                "address": "加賀市山代温泉18", "lat": town.json()["lat"],
                                "lon": town.json()["lon"], "capacity": None})
    assert created.status_code == 201
    shelter_id = created.json()["id"]
    props = eventually(lambda: (f := feature_of(client, shelter_id)) and f["properties"])
    assert (props["category"], props["shelterKind"], props["status"]) == \
        ("temporaryShelter", "ryokan", "closed")
    assert "peopleCapacity" not in props
    bad = client.post("/shelters/api/shelters", headers={"X-Requested-With": "cityos"},
                      json={"name": "x", "kind": "castle", "lat": 36.3, "lon": 136.3})
    assert bad.status_code == 400


def test_exports(client: TestClient) -> None:
    staff_patch(client, KINMEI, {"status": "open", "capacity": 100, "occupancy": 85})
    eventually(lambda: (f := feature_of(client, KINMEI)) and f["properties"]["status"] == "open")
    text = client.get("/shelters/export.csv").content.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 83
    row = next(r for r in rows if r["名称"] == "加賀市立金明小学校")
    assert (row["全国地方公共団体コード"], row["開設状況"], row["避難者数"], row["想定収容人数"],
            row["混雑状況"], row["災害種別_洪水"]) == ("172065", "開設", "85", "100", "full", "1")
    entities = client.get("/shelters/export.jsonld").json()
    kinmei = next(e for e in entities if e["id"] == KINMEI)
    assert kinmei["@context"] == ["http://127.0.0.1:1026/shelters/context.jsonld"]
    assert kinmei["peopleOccupancy"]["value"] == 85
    context = client.get("/shelters/context.jsonld").json()["@context"]
    assert context[0]["peopleCapacity"] == \
        "https://uri.etsi.org/ngsi-ld/default-context/peopleCapacity"


def test_pages_and_map_data(client: TestClient) -> None:
    page = client.get("/shelters")
    assert page.status_code == 200 and '<html lang="ja">' in page.text
    assert "出典：国土地理院 指定緊急避難場所・指定避難所データ" in page.text
    assert "Geolonia 住所データ" in page.text and "国土数値情報" in page.text
    assert "<script>" not in page.text  # no inline scripts (CSP script-src 'self')
    english = client.get("/shelters", params={"lang": "en"})
    assert '<html lang="en">' in english.text and english.cookies.get("lang") == "en"
    outline = client.get("/shelters/outline.geojson").json()
    assert outline["features"] and len(client.get("/shelters/outline.geojson").content) < 20000
    assert len(client.get("/shelters/districts.json").json()) == 237
    assert client.get("/shelters/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/shelters/staff").status_code == 200  # development mode


def test_the_demo_keeps_what_staff_set_across_restarts(tmp_path: Path) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'r.db'}", "dev": True,
                              "demo": True}, environ={})
    with TestClient(build_app(settings)) as first:
        staff_patch(first, KINMEI, {"status": "open", "capacity": 100, "occupancy": 30})
    with TestClient(build_app(settings)) as second:
        props = feature_of(second, KINMEI)
        assert props is not None
        assert props["properties"]["status"] == "open"
        assert props["properties"]["peopleOccupancy"] == 30
        assert len(second.get("/shelters/feed.geojson").json()["features"]) == 83


def test_the_earlier_demo_ids_are_replaced(tmp_path: Path) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'o.db'}", "dev": True},
                             environ={})
    old = "urn:ngsi-ld:EvacuationShelter:E1720600002111:designatedShelter"
    with TestClient(build_app(settings)) as before:
        before.post("/ngsi-ld/v1/entities", json={
            "id": old, "type": "EvacuationShelter",
            "name": {"type": "Property", "value": "旧形式"},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [136.3, 36.3]}}})
    with TestClient(build_app(settings.__class__(**{**settings.__dict__,
                                                    "demo": True}))) as after:
        assert after.get(f"/ngsi-ld/v1/entities/{old}").status_code == 404
        assert feature_of(after, KINMEI) is not None


def test_a_shelter_the_map_cannot_show_stays_off_the_feed(client: TestClient) -> None:
    """Anyone with a write grant may store an EvacuationShelter without a Point location
    through the NGSI-LD API: it stays in the broker, off the map, and breaks nothing."""
    before = client.get("/shelters/feed.geojson").json()["features"]
    broken = {"id": "urn:ngsi-ld:EvacuationShelter:no-location", "type": "EvacuationShelter",
              "name": {"type": "Property", "value": "位置のない避難所"},
              "peopleCapacity": {"type": "Property", "value": "many"}}
    assert client.post("/ngsi-ld/v1/entities", json=broken).status_code == 201
    client.portal.call(client.app.state.platform.bus.drain)  # type: ignore[attr-defined]
    after = client.get("/shelters/feed.geojson")
    assert after.status_code == 200
    assert len(after.json()["features"]) == len(before)
    staff = client.get("/shelters/api/staff/shelters")
    assert staff.status_code == 200
def test_a_shelter_entity_without_location_does_not_break_the_app(
        client: TestClient, tmp_path: Path) -> None:
    """An EvacuationShelter written through the NGSI-LD API without a location is left
    out of the map and the staff app, also when the server starts again."""
    created = client.post("/ngsi-ld/v1/entities", json={
        "id": "urn:ngsi-ld:EvacuationShelter:no-place", "type": "EvacuationShelter",
        "name": {"type": "Property", "value": "場所のない避難所"}},
        headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    again = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}", "dev": True},
                          environ={})
    with TestClient(build_app(again), base_url="http://127.0.0.1:1026") as restarted:
        for answer in (restarted.get("/shelters/feed.geojson"),
                       restarted.get("/shelters/api/staff/shelters")):
            assert answer.status_code == 200
            assert "no-place" not in answer.text
