"""The /twin page and API over the real app (in-process), with live shelters."""

from __future__ import annotations

import csv
import io
import time
from typing import Any

import pytest
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.apps.twin.web import may_run
from cityos.config import load_settings
from cityos.security.principal import ANONYMOUS, DEVELOPER, Principal

SHELTERS = [("open1", "open", 200, 136.3105, 36.3066), ("closed1", "closed", 500, 136.355,
                                                          36.32),
            ("open2", "open", None, 136.363, 36.29)]


def _create_shelters(client: TestClient) -> None:
    for ident, status, capacity, lon, lat in SHELTERS:
        body: dict[str, Any] = {
            "id": f"urn:ngsi-ld:EvacuationShelter:{ident}", "type": "EvacuationShelter",
            "name": {"type": "Property", "value": ident},
            "status": {"type": "Property", "value": status},
            "category": {"type": "Property", "value": "designatedShelter"},
            "hazardTypes": {"type": "Property", "value": ["flood"]},
            "location": {"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [lon, lat]}}}
        if capacity is not None:
            body["peopleCapacity"] = {"type": "Property", "value": capacity}
        assert client.post("/ngsi-ld/v1/entities", json=body).status_code == 201


def _wait(client: TestClient, href: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(href).json()
        if job["status"] != "running":
            return job
        time.sleep(0.2)
    raise AssertionError("the run did not finish")


def test_page_is_japanese_first_with_an_english_switch(client: TestClient) -> None:
    page = client.get("/twin")
    assert page.status_code == 200
    assert '<html lang="ja">' in page.text and "避難シミュレーション" in page.text
    assert "<script>" not in page.text  # only script files (CSP script-src 'self')
    english = client.get("/twin?lang=en")
    assert "Evacuation simulation" in english.text
    assert client.get("/twin/static/leaflet/leaflet.js").status_code == 200
    assert client.get("/twin/static/twin.js").status_code == 200


def test_run_uses_live_shelters_stores_a_simulation_run_and_offers_downloads(
        client: TestClient) -> None:
    _create_shelters(client)
    started = client.post("/twin/api/runs", json={"scenario": "flood-baseline"})
    assert started.status_code == 202
    job = _wait(client, started.json()["href"])
    assert job["status"] == "done", job
    report = job["report"]
    assert report["synthetic"] is True and "合成" in report["syntheticNote"]["ja"]
    rows = {row["id"].rsplit(":", 1)[-1]: row for row in report["shelters"]}
    assert rows["closed1"]["usable"] is False and rows["closed1"]["arrivals"] == 0
    assert rows["open1"]["arrivals"] <= 200
    assert rows["open2"]["capacity"] == 500  # the scenario's number for unknown capacity
    assert report["summary"]["stranded"] > 0  # 500 places for tens of thousands
    entity = client.get(f"/ngsi-ld/v1/entities/{report['id']}").json()
    assert entity["type"] == "SimulationRun"
    assert entity["synthetic"]["value"] is True
    assert entity["summary"]["json"]["evacuated"] == report["summary"]["evacuated"]
    run = report["id"].rsplit(":", 1)[-1]
    table = list(csv.reader(io.StringIO(client.get(f"/twin/api/runs/{run}/shelters.csv").text)))
    assert table[0] == ["synthetic", "True"] and table[1][:2] == ["id", "name"]
    assert len(table) == 2 + len(SHELTERS)
    curve = client.get(f"/twin/api/runs/{run}/curve.csv").text.splitlines()
    assert curve[1].startswith("minutes,evacuatedShare")
    geo = client.get(f"/twin/api/runs/{run}/result.geojson").json()
    layers = {f["properties"]["layer"] for f in geo["features"]}
    assert {"shelter", "closedLink", "bottleneck"} <= layers
    assert all(f["properties"]["synthetic"] for f in geo["features"])
    same = client.get(f"/twin/api/compare?a={run}&b={run}").json()
    assert same["summary"]["evacuatedShare"]["change"] == 0
    assert client.get(f"/twin/api/compare?a={run}").status_code == 404


def test_run_without_any_shelter_reports_everyone_unplaced(client: TestClient) -> None:
    job = _wait(client, client.post("/twin/api/runs",
                                    json={"scenario": "flood-baseline"}).json()["href"])
    assert job["status"] == "done"
    summary = job["report"]["summary"]
    assert summary["evacuated"] == 0 and summary["unreachable"] == summary["residents"]
    assert any("no shelter entity" in note for note in job["report"]["notes"])


def test_bad_requests_get_problem_details(client: TestClient) -> None:
    unknown = client.post("/twin/api/runs", json={"scenario": "nope"})
    assert unknown.status_code == 400
    assert unknown.json()["type"].endswith("BadRequestData")
    assert client.post("/twin/api/runs", content=b"{").status_code == 400
    missing = client.get("/twin/api/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert client.get("/twin/api/runs/not-a-uuid/shelters.csv").status_code == 404


def test_only_developers_operators_and_planners_may_run() -> None:
    assert may_run(DEVELOPER)
    assert may_run(Principal("operator:a", "operator"))
    assert may_run(Principal("user:p", "user", roles=frozenset({"planner"})))
    assert not may_run(Principal("user:c", "user"))
    assert not may_run(ANONYMOUS)


@pytest.mark.parametrize("dev", [False])
def test_anonymous_run_is_refused_outside_development_mode(tmp_path: Any, dev: bool) -> None:
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}", "dev": dev},
                             environ={})
    with TestClient(build_app(settings), base_url="http://127.0.0.1:1026") as client:
        refused = client.post("/twin/api/runs", json={"scenario": "flood-baseline"})
        assert refused.status_code == 401
        assert client.get("/twin").status_code == 200
