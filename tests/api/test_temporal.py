"""The temporal API over HTTP (/ngsi-ld/v1/temporal/…)."""

from __future__ import annotations

import statistics
from typing import Any

from starlette.testclient import TestClient

ROOT = "/ngsi-ld/v1"
SENSOR = "urn:ngsi-ld:CrowdSensor:station"


def _create_sensor(client: TestClient, tenant: str = "") -> None:
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    response = client.post(f"{ROOT}/entities", headers=headers, json={
        "id": SENSOR, "type": "CrowdSensor",
        "people": {"type": "Property", "value": 10, "observedAt": "2024-05-01T08:00:00Z"}})
    assert response.status_code == 201


def _observe(client: TestClient, value: int, at: str, tenant: str = "") -> None:
    headers = {"NGSILD-Tenant": tenant} if tenant else {}
    response = client.patch(f"{ROOT}/entities/{SENSOR}/attrs", headers=headers, json={
        "people": {"type": "Property", "value": value, "observedAt": at}})
    assert response.status_code == 204, response.text


def _history(client: TestClient, query: str = "", **headers: str) -> Any:
    response = client.get(f"{ROOT}/temporal/entities/{SENSOR}{query}", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_history_appears_after_patches(client: TestClient) -> None:
    _create_sensor(client)
    _observe(client, 25, "2024-05-01T08:10:00Z")
    _observe(client, 40, "2024-05-01T08:20:00Z")
    people = _history(client)["people"]
    assert [i["value"] for i in people] == [10, 25, 40]
    assert len({i["instanceId"] for i in people}) == 3


def test_timerel_selects_instances_by_observedat(client: TestClient) -> None:
    _create_sensor(client)
    _observe(client, 25, "2024-05-01T08:10:00Z")
    _observe(client, 40, "2024-05-01T08:20:00Z")
    after = _history(client, "?timerel=after&timeAt=2024-05-01T08:10:00Z")["people"]
    before = _history(client, "?timerel=before&timeAt=2024-05-01T08:10:00Z")["people"]
    between = _history(client, "?timerel=between&timeAt=2024-05-01T08:05:00Z"
                               "&endTimeAt=2024-05-01T08:20:00Z")["people"]
    assert [i["value"] for i in after] == [25, 40]  # timeAt is an inclusive lower bound
    assert [i["value"] for i in before] == [10]     # and an exclusive upper bound
    assert [i["value"] for i in between] == [25]


def test_lastn_returns_the_most_recent_instances(client: TestClient) -> None:
    _create_sensor(client)
    for minute, value in ((10, 25), (20, 40), (30, 35)):
        _observe(client, value, f"2024-05-01T08:{minute}:00Z")
    values = _history(client, "?lastN=2&options=temporalValues")["people"]["values"]
    assert sorted(values, key=lambda pair: pair[1]) == [[40, "2024-05-01T08:20:00Z"],
                                                         [35, "2024-05-01T08:30:00Z"]]


def test_hourly_aggregation_matches_an_independent_computation(client: TestClient) -> None:
    readings = [(f"2024-05-01T{8 + n // 6:02d}:{(n % 6) * 10:02d}:00Z", (n * 37) % 101)
                for n in range(18)]  # three hours, six readings each
    instances = [{"type": "Property", "value": v, "observedAt": t} for t, v in readings]
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": SENSOR, "type": "CrowdSensor", "people": instances})
    assert response.status_code == 201
    body = _history(client, "?options=aggregatedValues&aggrPeriodDuration=PT1H"
                            "&aggrMethods=avg,min,max,sum,totalCount,stddev,sumsq"
                            "&timerel=after&timeAt=2024-05-01T08:00:00Z")["people"]
    for hour in range(3):
        values = [v for _, v in readings[hour * 6:hour * 6 + 6]]
        start = f"2024-05-01T{8 + hour:02d}:00:00Z"
        end = f"2024-05-01T{9 + hour:02d}:00:00Z"
        assert body["avg"][hour] == [statistics.fmean(values), start, end]
        assert body["min"][hour][0] == min(values)
        assert body["max"][hour][0] == max(values)
        assert body["sum"][hour][0] == sum(values)
        assert body["totalCount"][hour][0] == 6
        assert abs(body["stddev"][hour][0] - statistics.stdev(values)) < 1e-9
        assert body["sumsq"][hour][0] == sum(v * v for v in values)


def test_temporal_creation_writes_the_current_entity(client: TestClient) -> None:
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": SENSOR, "type": "CrowdSensor", "people": [
            {"type": "Property", "value": 3, "observedAt": "2024-05-01T09:00:00Z"},
            {"type": "Property", "value": 7, "observedAt": "2024-05-01T08:00:00Z"}]})
    assert response.status_code == 201
    current = client.get(f"{ROOT}/entities/{SENSOR}").json()
    assert current["people"]["value"] == 3  # the most recently observed one
    again = client.post(f"{ROOT}/temporal/entities", json={
        "id": SENSOR, "type": "CrowdSensor",
        "people": [{"type": "Property", "value": 9, "observedAt": "2024-05-01T10:00:00Z"}]})
    assert again.status_code == 204
    assert len(_history(client)["people"]) == 3


def test_deleted_attribute_is_listed_with_deletedat(client: TestClient) -> None:
    _create_sensor(client)
    assert client.delete(f"{ROOT}/entities/{SENSOR}/attrs/people").status_code == 204
    deleted = _history(client, "?timeproperty=deletedAt")["people"]
    assert len(deleted) == 1
    assert deleted[0]["value"] == "urn:ngsi-ld:null" and "deletedAt" in deleted[0]
    assert [i["value"] for i in _history(client)["people"]] == [10]


def test_deleting_the_temporal_entity_removes_history(client: TestClient) -> None:
    _create_sensor(client)
    assert client.delete(f"{ROOT}/temporal/entities/{SENSOR}").status_code == 204
    assert client.get(f"{ROOT}/temporal/entities/{SENSOR}").status_code == 404
    assert client.delete(f"{ROOT}/temporal/entities/{SENSOR}").status_code == 404


def test_instances_can_be_modified_and_deleted_one_by_one(client: TestClient) -> None:
    _create_sensor(client)
    _observe(client, 25, "2024-05-01T08:10:00Z")
    first = _history(client)["people"][0]["instanceId"]
    path = f"{ROOT}/temporal/entities/{SENSOR}/attrs/people/{first}"
    patched = client.patch(path, json={"people": {"type": "Property", "value": 11,
                                                  "observedAt": "2024-05-01T08:00:00Z"}})
    assert patched.status_code == 204
    assert [i["value"] for i in _history(client)["people"]] == [11, 25]
    assert client.delete(path).status_code == 204
    assert [i["value"] for i in _history(client)["people"]] == [25]
    assert client.delete(path).status_code == 404


def test_query_filters_entities_by_type_and_window(client: TestClient) -> None:
    _create_sensor(client)
    client.post(f"{ROOT}/temporal/entities", json={
        "id": "urn:ngsi-ld:Bus:1", "type": "Bus",
        "people": [{"type": "Property", "value": 1, "observedAt": "2024-05-01T08:00:00Z"}]})
    response = client.get(f"{ROOT}/temporal/entities?type=CrowdSensor&timerel=after"
                          "&timeAt=2024-01-01T00:00:00Z")
    assert response.status_code == 200
    assert [e["id"] for e in response.json()] == [SENSOR]
    late = client.get(f"{ROOT}/temporal/entities?type=CrowdSensor&timerel=after"
                      "&timeAt=2025-01-01T00:00:00Z")
    assert late.json() == []


def test_q_is_judged_on_instances_inside_the_window(client: TestClient) -> None:
    _create_sensor(client)  # 10 at 08:00
    _observe(client, 90, "2024-05-01T12:00:00Z")
    window = "&timerel=between&timeAt=2024-05-01T07:00:00Z&endTimeAt=2024-05-01T09:00:00Z"
    hit = client.get(f"{ROOT}/temporal/entities?type=CrowdSensor&q=people<20{window}")
    miss = client.get(f"{ROOT}/temporal/entities?type=CrowdSensor&q=people>50{window}")
    assert [e["id"] for e in hit.json()] == [SENSOR]
    assert miss.json() == []


def test_post_query_accepts_a_temporalq(client: TestClient) -> None:
    _create_sensor(client)
    response = client.post(f"{ROOT}/temporal/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "CrowdSensor"}],
        "temporalQ": {"timerel": "after", "timeAt": "2024-01-01T00:00:00Z", "lastN": 1}})
    assert response.status_code == 200
    assert response.json()[0]["people"][0]["value"] == 10


def test_too_many_instances_are_paginated_by_time(client: TestClient) -> None:
    instances = [{"type": "Property", "value": n, "observedAt": f"2024-05-01T08:00:{n:02d}Z"}
                 for n in range(30)]
    client.post(f"{ROOT}/temporal/entities", json={"id": SENSOR, "type": "CrowdSensor",
                                                   "people": instances * 40})
    response = client.get(f"{ROOT}/temporal/entities/{SENSOR}")
    assert response.status_code == 206
    assert response.headers["Content-Range"].startswith("date-time 2024-05-01T08:00:00Z-")
    assert len(response.json()["people"]) <= 1000


def test_bad_temporal_parameters_are_bad_request_data(client: TestClient) -> None:
    _create_sensor(client)
    for query in ("?timerel=during&timeAt=2024-05-01T08:00:00Z", "?timerel=after",
                  "?timerel=between&timeAt=2024-05-01T08:00:00Z",
                  "?timerel=between&timeAt=2024-05-02T00:00:00Z&endTimeAt=2024-05-01T00:00:00Z",
                  "?options=aggregatedValues&aggrMethods=median",
                  "?options=aggregatedValues&aggrMethods=avg&aggrPeriodDuration=1h",
                  "?lastN=0"):
        response = client.get(f"{ROOT}/temporal/entities/{SENSOR}{query}")
        assert response.status_code == 400, query
        assert response.json()["type"].endswith("/BadRequestData"), query
    assert client.get(f"{ROOT}/temporal/entities/not-a-uri").status_code == 400
    assert client.get(f"{ROOT}/temporal/entities?timerel=after"
                      "&timeAt=2024-05-01T08:00:00Z").status_code == 400
    unknown = client.get(f"{ROOT}/temporal/entities/urn:ngsi-ld:CrowdSensor:nobody")
    assert unknown.status_code == 404
    assert unknown.json()["type"].endswith("/ResourceNotFound")


def test_tenants_have_separate_histories(client: TestClient) -> None:
    _create_sensor(client, tenant="kaga")
    _observe(client, 50, "2024-05-01T09:00:00Z", tenant="kaga")
    assert client.get(f"{ROOT}/temporal/entities/{SENSOR}").status_code == 404
    assert [i["value"] for i in _history(client, **{"NGSILD-Tenant": "kaga"})["people"]] \
        == [10, 50]
    other = client.get(f"{ROOT}/temporal/entities/{SENSOR}",
                        headers={"NGSILD-Tenant": "nanao"})
    assert other.status_code == 404


VEHICLE = "urn:ngsi-ld:Vehicle:temporal-edges"


def _create_vehicle(client: TestClient) -> None:
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": VEHICLE, "type": "Vehicle",
        "speed": [{"type": "Property", "value": 120, "observedAt": "2020-09-01T12:03:00Z"},
                  {"type": "Property", "value": 80, "observedAt": "2020-09-01T12:05:00Z"}],
        "fuelLevel": [{"type": "Property", "value": 67,
                       "observedAt": "2020-09-01T12:03:00Z"}]})
    assert response.status_code == 201, response.text


def _vehicle(client: TestClient, query: str = "") -> Any:
    response = client.get(f"{ROOT}/temporal/entities/{VEHICLE}{query}")
    assert response.status_code == 200, response.text
    return response.json()


def test_patch_instance_takes_the_instance_fragment_itself(client: TestClient) -> None:
    _create_vehicle(client)
    first = _vehicle(client)["speed"][0]
    url = f"{ROOT}/temporal/entities/{VEHICLE}/attrs/speed/{first['instanceId']}"
    response = client.patch(url, json={"type": "Property", "value": 129,
                                       "observedAt": "2020-09-01T12:03:00Z"})
    assert response.status_code == 204, response.text
    speed = _vehicle(client)["speed"]
    assert speed[0]["instanceId"] == first["instanceId"]
    assert [i["value"] for i in speed] == [129, 80]
    # the wrapped form {attribute: instance} stays accepted
    response = client.patch(url, json={"speed": {"type": "Property", "value": 130}})
    assert response.status_code == 204, response.text
    assert _vehicle(client)["speed"][0]["value"] == 130


def test_patch_instance_of_unknown_targets_is_not_found(client: TestClient) -> None:
    _create_vehicle(client)
    instance_id = _vehicle(client)["speed"][0]["instanceId"]
    fragment = {"type": "Property", "value": 1}
    for url in (f"{ROOT}/temporal/entities/urn:ngsi-ld:Vehicle:none/attrs/speed/{instance_id}",
                f"{ROOT}/temporal/entities/{VEHICLE}/attrs/speed2/{instance_id}",
                f"{ROOT}/temporal/entities/{VEHICLE}/attrs/speed/urn:ngsi-ld:0123456789"):
        response = client.patch(url, json=fragment)
        assert response.status_code == 404, (url, response.text)
    response = client.patch(f"{ROOT}/temporal/entities/{VEHICLE}/attrs/speed/{instance_id}",
                            json="urn:ngsi-ld:null")
    assert response.status_code == 400


def test_delete_instance_without_attribute_name_is_bad_request(client: TestClient) -> None:
    _create_vehicle(client)
    instance_id = _vehicle(client)["speed"][0]["instanceId"]
    response = client.delete(f"{ROOT}/temporal/entities/{VEHICLE}/attrs//{instance_id}")
    assert response.status_code == 400
    assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert len(_vehicle(client)["speed"]) == 2


def test_dot_segment_attribute_names_are_bad_request(client: TestClient) -> None:
    _create_vehicle(client)
    for name in ("%2e%2e", "%252e%252e", "%2e"):
        response = client.delete(f"{ROOT}/temporal/entities/{VEHICLE}/attrs/{name}")
        assert response.status_code == 400, (name, response.text)
        assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert len(_vehicle(client)["speed"]) == 2


def test_null_entity_member_is_refused_in_temporal_input(client: TestClient) -> None:
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": VEHICLE, "type": "Vehicle", "expiresAt": "urn:ngsi-ld:null",
        "speed": [{"type": "Property", "value": 1, "observedAt": "2026-01-01T00:00:00Z"}]})
    assert response.status_code == 400
    assert response.json()["type"] == "https://uri.etsi.org/ngsi-ld/errors/BadRequestData"
    assert client.get(f"{ROOT}/temporal/entities/{VEHICLE}").status_code == 404


def test_upsert_replaces_the_instance_observed_at_the_same_time(client: TestClient) -> None:
    _create_vehicle(client)
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": VEHICLE, "type": "Vehicle",
        "speed": [{"type": "Property", "value": 121, "observedAt": "2020-09-01T12:03:00Z"},
                  {"type": "Property", "value": 100, "observedAt": "2020-09-01T12:07:00Z"}],
        "fuelLevel": [{"type": "Property", "value": 67, "observedAt": "2020-09-01T12:03:00Z",
                       "datasetId": "urn:ngsi-ld:Dataset:other"}]})
    assert response.status_code == 204, response.text
    found = _vehicle(client)
    assert [(i["value"], i["observedAt"]) for i in found["speed"]] == [
        (121, "2020-09-01T12:03:00Z"), (80, "2020-09-01T12:05:00Z"),
        (100, "2020-09-01T12:07:00Z")]
    assert len(found["fuelLevel"]) == 2  # another datasetId is another series


def test_pick_projects_the_attributes_of_temporal_entities(client: TestClient) -> None:
    _create_vehicle(client)
    query = f"{ROOT}/temporal/entities?type=Vehicle&timerel=after&timeAt=1970-01-01T00:00:00Z"
    response = client.get(query + "&pick=id")
    assert response.status_code == 200, response.text
    assert response.json() == [{"id": VEHICLE}]
    response = client.get(query + "&pick=id,speed")
    assert response.status_code == 200, response.text
    [entity] = response.json()
    assert sorted(entity) == ["id", "speed"]


def test_paged_temporal_values_keep_a_series_for_attributes_cut_away(
        client: TestClient) -> None:
    client.app.state.api.temporal.instance_limit = 3  # type: ignore[attr-defined]
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": "urn:ngsi-ld:Vehicle:early", "type": "Vehicle",
        "speed": [{"type": "Property", "value": n, "observedAt": f"2020-01-01T01:0{n}:00Z"}
                  for n in range(1, 6)]})
    assert response.status_code == 201, response.text
    _create_vehicle(client)
    response = client.get(f"{ROOT}/temporal/entities?type=Vehicle&options=temporalValues"
                          "&timerel=after&timeAt=2019-01-01T00:00:00Z")
    assert response.status_code == 206, response.text
    late = next(e for e in response.json() if e["id"] == VEHICLE)
    assert late["speed"] == {"type": "Property", "values": []}


def _current_people(client: TestClient) -> Any:
    response = client.get(f"{ROOT}/entities/{SENSOR}")
    assert response.status_code == 200, response.text
    return response.json().get("people", {}).get("value")


def _create_temporal_sensor(client: TestClient) -> list[str]:
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": SENSOR, "type": "CrowdSensor", "people": [
            {"type": "Property", "value": 4, "observedAt": "2024-05-01T08:00:00Z"},
            {"type": "Property", "value": 6, "observedAt": "2024-05-01T09:00:00Z"}]})
    assert response.status_code == 201, response.text
    return [i["instanceId"] for i in _history(client)["people"]]


def test_instance_edits_of_the_latest_observation_reach_the_current_entity(
        client: TestClient) -> None:
    older, latest = _create_temporal_sensor(client)
    path = f"{ROOT}/temporal/entities/{SENSOR}/attrs/people"
    assert client.patch(f"{path}/{older}", json={"value": 40}).status_code == 204
    assert _current_people(client) == 6  # not the latest: the current value stays
    assert client.patch(f"{path}/{latest}", json={"value": 60}).status_code == 204
    assert _current_people(client) == 60
    assert client.delete(f"{path}/{latest}").status_code == 204
    assert _current_people(client) == 40  # the series' latest remaining instance
    moved = client.patch(f"{path}/{older}", json={"value": 1,
                                                  "datasetId": "urn:ngsi-ld:Dataset:b"})
    assert moved.status_code == 400
    assert moved.json()["type"].endswith("/BadRequestData")


def test_deleting_an_attributes_history_removes_it_from_the_current_entity(
        client: TestClient) -> None:
    _create_temporal_sensor(client)
    response = client.delete(f"{ROOT}/temporal/entities/{SENSOR}/attrs/people")
    assert response.status_code == 204
    assert _current_people(client) is None
    again = client.delete(f"{ROOT}/temporal/entities/{SENSOR}/attrs/people")
    assert again.status_code == 404


def test_a_later_core_write_is_not_undone_by_temporal_edits(client: TestClient) -> None:
    _, latest = _create_temporal_sensor(client)
    _observe(client, 99, "2024-05-02T00:00:00Z")
    path = f"{ROOT}/temporal/entities/{SENSOR}/attrs/people/{latest}"
    assert client.patch(path, json={"value": 7}).status_code == 204
    assert _current_people(client) == 99


def test_post_query_with_a_malformed_temporalq_is_bad_request_data(
        client: TestClient) -> None:
    _create_temporal_sensor(client)
    for temporal_q in ("after", {"timerel": ["after"], "timeAt": "2024-05-01T00:00:00Z"},
                       {"timerel": "after", "timeAt": "2024-05-01T00:00:00Z", "lastN": 2.5},
                       {"timerel": "between", "timeAt": "2024-05-01T00:00:00Z"},
                       {"timerel": "after", "timeAt": "2024-05-01T00:00:00Z",
                        "timeproperty": "expiresAt"},
                       {"timerel": "after", "time": "2024-05-01T00:00:00Z"}):
        response = client.post(f"{ROOT}/temporal/entityOperations/query", json={
            "type": "Query", "entities": [{"type": "CrowdSensor"}], "temporalQ": temporal_q})
        assert response.status_code == 400, temporal_q
        assert response.json()["type"].endswith("/BadRequestData"), temporal_q


def test_post_query_reads_lastn_and_aggregation_from_temporalq(client: TestClient) -> None:
    _create_temporal_sensor(client)
    window = {"timerel": "after", "timeAt": "2024-05-01T00:00:00Z"}
    last = client.post(f"{ROOT}/temporal/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "CrowdSensor"}],
        "temporalQ": {**window, "lastN": 1}})
    assert [i["value"] for i in last.json()[0]["people"]] == [6]
    aggregated = client.post(f"{ROOT}/temporal/entityOperations/query", json={
        "type": "Query", "entities": [{"type": "CrowdSensor"}],
        "temporalQ": {**window, "aggrMethods": ["avg"]}})
    assert aggregated.status_code == 200, aggregated.text
    assert aggregated.json()[0]["people"]["avg"][0][0] == 5


def _scoped_sensor(client: TestClient, name: str, scopes: list[tuple[Any, str]],
                   people: list[tuple[int, str]]) -> None:
    response = client.post(f"{ROOT}/temporal/entities", json={
        "id": f"urn:ngsi-ld:CrowdSensor:{name}", "type": "CrowdSensor",
        **({"scope": [{"type": "Property", "value": v, "observedAt": at}
                      for v, at in scopes]} if scopes else {}),
        "people": [{"type": "Property", "value": v, "observedAt": at} for v, at in people]})
    assert response.status_code == 201, response.text


def _scoped(client: TestClient, scope_q: str) -> dict[str, list[Any]]:
    response = client.get(f"{ROOT}/temporal/entities", params={
        "type": "CrowdSensor", "scopeQ": scope_q, "timerel": "between",
        "timeAt": "2024-05-01T12:00:00Z", "endTimeAt": "2024-05-01T13:00:00Z"})
    assert response.status_code == 200, response.text
    return {e["id"].rsplit(":", 1)[1]: [i["value"] for i in e.get("people", [])]
            + [i["value"] for i in e.get("scope", [])] for e in response.json()}


def test_scopeq_follows_when_each_scope_was_valid(client: TestClient) -> None:
    _scoped_sensor(client, "daishoji", [("/Kaga/Daishoji", "2024-05-01T10:00:00Z")],
                   [(1, "2024-05-01T12:05:00Z")])
    _scoped_sensor(client, "bare", [], [(2, "2024-05-01T12:05:00Z")])
    _scoped_sensor(client, "mid", [("/Kaga/Yamashiro", "2024-05-01T12:10:00Z")],
                   [(3, "2024-05-01T12:05:00Z"), (4, "2024-05-01T12:15:00Z")])
    _scoped_sensor(client, "moved", [("/Kaga/Katayamazu", "2024-05-01T10:00:00Z"),
                                     ("/Kaga/Yamanaka", "2024-05-01T12:30:00Z")],
                   [(5, "2024-05-01T12:15:00Z"), (6, "2024-05-01T12:45:00Z")])
    _scoped_sensor(client, "late", [("/Kaga/Daishoji", "2024-05-01T14:00:00Z")],
                   [(7, "2024-05-01T12:05:00Z")])
    assert _scoped(client, "/Kaga/Daishoji") == {"daishoji": [1, ["/Kaga/Daishoji"]]}
    assert sorted(_scoped(client, "/#")) == ["daishoji", "mid", "moved"]
    assert _scoped(client, "/Kaga/Yamashiro") == {"mid": [4, ["/Kaga/Yamashiro"]]}
    assert _scoped(client, "/Kaga/Katayamazu") == {"moved": [5, ["/Kaga/Katayamazu"]]}
    assert _scoped(client, "/Kaga/Yamanaka") == {"moved": [6, ["/Kaga/Yamanaka"]]}
    assert _scoped(client, "/Nomi") == {}
    current = client.get(f"{ROOT}/entities/urn:ngsi-ld:CrowdSensor:moved").json()
    assert current["scope"] == "/Kaga/Yamanaka"  # the latest scope is the current one


def test_a_scope_instance_must_be_a_property_with_a_scope(client: TestClient) -> None:
    for scope in ([{"type": "Relationship", "object": "urn:x:1"}],
                  [{"type": "Property", "value": "no-slash"}],
                  [{"type": "Property", "value": "/A", "observedAt": "yesterday"}],
                  [{"type": "Property", "value": "/A", "unitCode": "C62"}]):
        response = client.post(f"{ROOT}/temporal/entities", json={
            "id": SENSOR, "type": "CrowdSensor", "scope": scope,
            "people": [{"type": "Property", "value": 1,
                        "observedAt": "2024-05-01T12:05:00Z"}]})
        assert response.status_code == 400, scope
        assert response.json()["type"].endswith("/BadRequestData"), scope


def test_negated_existence_is_judged_inside_the_window(client: TestClient) -> None:
    """q=!heading;speed>25 (V1.9 clause 4.9): no heading instance in the window."""
    at, late = "2024-05-01T08:00:00Z", "2024-05-03T08:00:00Z"
    for n, attrs in (("fast", {"speed": 30, "heading": 45}), ("slow", {"speed": 10}),
                     ("turned", {"speed": 40}), ("alone", {"speed": 50})):
        entity: dict[str, Any] = {"id": f"urn:ngsi-ld:Vehicle:{n}", "type": "Vehicle"}
        for name, value in attrs.items():
            entity[name] = [{"type": "Property", "value": value, "observedAt": at}]
        if n == "turned":  # a heading, but only outside the window
            entity["heading"] = [{"type": "Property", "value": 1, "observedAt": late}]
        assert client.post(f"{ROOT}/temporal/entities", json=entity).status_code == 201
    window = "timerel=between&timeAt=2024-05-01T00:00:00Z&endTimeAt=2024-05-02T00:00:00Z"
    response = client.get(f"{ROOT}/temporal/entities?type=Vehicle&{window}"
                          "&q=%21heading%3Bspeed%3E25")
    assert response.status_code == 200, response.text
    assert sorted(e["id"].rsplit(":", 1)[1] for e in response.json()) == ["alone", "turned"]
