"""Evaluation of q / scopeQ / type expressions on internal-form entities (ETSI GS CIM 009
clauses 4.9, 4.17, 4.19)."""

from __future__ import annotations

from typing import Any

import pytest

from cityos.ngsild.query import (
    evaluate_q,
    evaluate_scope_q,
    evaluate_types,
    parse_q,
    parse_scope_q,
    parse_type_expression,
)
from cityos.ngsild.query.evaluate import stored_datetime_key

DEFAULT = "https://uri.etsi.org/ngsi-ld/default-context/"


def expand(term: str) -> str:
    return term if ":" in term else DEFAULT + term


def d(term: str) -> str:
    return DEFAULT + term


VEHICLE: dict[str, Any] = {
    "id": "urn:ngsi-ld:Vehicle:A4567",
    "type": [d("Vehicle")],
    "scope": ["/Madrid/Gardens/ParqueNorte", "/Spain"],
    "createdAt": "2024-01-01T00:00:00.000000Z",
    "modifiedAt": "2024-01-02T00:00:00.000000Z",
    "attrs": {
        d("speed"): [
            {"type": "Property", "value": 80, "unitCode": "KMH",
             "observedAt": "2018-12-04T12:00:00Z",
             "attrs": {d("accuracy"): {"type": "Property", "value": 0.5}}},
            {"type": "Property", "value": 120, "datasetId": "urn:ngsi-ld:Dataset:gps",
             "observedAt": "2018-12-04T12:00:00.250Z"},
        ],
        d("brandName"): [{"type": "Property", "value": "Mercedes"}],
        d("isParked"): [{"type": "Relationship", "object": "urn:ngsi-ld:Parking:P1",
                         "objectType": d("Parking"),
                         "attrs": {d("providedBy"): {"type": "Relationship",
                                                     "object": "urn:ngsi-ld:Person:Bob"}}}],
        d("colors"): [{"type": "Property", "value": ["blue", "red"]}],
        d("name"): [{"type": "LanguageProperty",
                     "languageMap": {"en": "Car", "ja": ["車", "自動車"]}}],
        d("category"): [{"type": "VocabProperty", "vocab": d("commercial")}],
        d("config"): [{"type": "JsonProperty", "json": {"mode": "eco", "level": 3}}],
        d("readings"): [{"type": "ListProperty", "valueList": [1, 2, 3]}],
        d("passengers"): [{"type": "ListRelationship",
                           "objectList": ["urn:ngsi-ld:Person:A", "urn:ngsi-ld:Person:B"]}],
        d("address"): [{"type": "Property",
                        "value": {"street": "Gran Via", "geo": {"zip": "28013"},
                                  "tags": ["a", "b"]}}],
        d("active"): [{"type": "Property", "value": True}],
        d("code"): [{"type": "Property", "value": "1"}],
        d("location"): [{"type": "GeoProperty",
                         "value": {"type": "Point", "coordinates": [-3.7, 40.4]}}],
        d("empty"): [{"type": "Property", "value": []}],
        d("nothing"): [],
        "http://example.org/ns#weight": [{"type": "Property", "value": 1500}],
    },
}


@pytest.mark.parametrize(("text", "expected"), [
    # equality and order on numbers; any instance (datasetId) may match
    ("speed==80", True), ("speed==120", True), ("speed==100", False), ("speed>100", True),
    ("speed<80", False), ("speed<=80", True), ("speed>=120", True), ("speed>120", False),
    ("speed==80.0", True), ("speed!=80", True), ("speed==70..90", True),
    ("speed==81..119", False), ("speed!=70..130", False), ("speed==1,80", True),
    ("speed==1,2", False), ("speed!=80,120", False),
    # kinds never mix
    ('speed=="80"', False), ("code==1", False), ('code=="1"', True), ("active==1", False),
    ("active==true", True), ("active==false", False), ("active!=false", True),
    ("speed==true", False),
    # strings
    ('brandName=="Mercedes"', True), ("brandName==Mercedes", True), ('brandName>"M"', True),
    ('brandName<"M"', False), ('brandName=="A".."N"', True), ('brandName~="^Mer"', True),
    ('brandName~="^mer"', False), ('brandName~="(?i)^mer"', True), ('brandName!~="^Mer"', False),
    ('brandName!~="^X"', True), ("brandName!=Mercedes", False), ("brandName!=Audi", True),
    # relationships, vocab, json, lists
    ("isParked==urn:ngsi-ld:Parking:P1", True), ("isParked==urn:ngsi-ld:Parking:P2", False),
    (f"category=={d('commercial')}", True), ("config[mode]==eco", True),
    ("config[level]>2", True), ("config[missing]==1", False), ("readings==2", True),
    ("readings>3", False), ("readings!=2", False), ("readings!=7", True),
    ("passengers==urn:ngsi-ld:Person:B", True),
    # arrays: any element
    ("colors==red", True), ("colors==green", False), ("colors!=green", True),
    ("colors!=red", False), ('colors~="^bl"', True),
    # language maps: any language, any string
    ("name==Car", True), ("name==車", True), ("name==自動車", True), ("name==Auto", False),
    ("name[en]==Car", True), ("name[ja]==車", True), ("name[fr]==Car", False),
    # compound values and key paths
    ('address[street]=="Gran Via"', True), ('address[geo.zip]=="28013"', True),
    ('address[geo][zip]=="28013"', True), ('address[tags]=="b"', True),
    ('address=="Gran Via"', False), ('address!="Gran Via"', True), ("address[geo]==1", False),
    ("address[street.x]==1", False),
    # members and sub-attributes
    ('speed.unitCode=="KMH"', True), ('speed.unitCode=="CEL"', False),
    ("speed.datasetId==urn:ngsi-ld:Dataset:gps", True),
    ("speed.observedAt==2018-12-04T12:00:00Z", True),
    ("speed.observedAt>2018-12-04T12:00:00.1Z", True),
    ("speed.observedAt>2018-12-04T12:00:00.3Z", False),
    ("speed.observedAt==2018-12-04T13:00:00+01:00", True),
    ("speed.observedAt==2018-12-04T00:00:00Z..2018-12-05T00:00:00Z", True),
    ('speed.observedAt=="2018-12-04T12:00:00Z"', True),
    # a quoted DateTime is a plain string: "...00Z" sorts after "...00.9Z"
    ('speed.observedAt>="2018-12-04T12:00:00.9Z"', True),
    ("speed.observedAt>=2018-12-04T12:00:00.9Z", False),
    (f"isParked.objectType=={d('Parking')}", True),
    ("speed.accuracy==0.5", True), ("speed.accuracy>1", False),
    ("isParked.providedBy==urn:ngsi-ld:Person:Bob", True),
    ("speed.accuracy.observedAt", False),
    ("http://example.org/ns#weight>1000", True),
    # empty array: the target exists, nothing equals
    ("empty==1", False), ("empty!=1", True),
    # existence
    ("speed", True), ("missing", False), ("nothing", False), ("speed.accuracy", True),
    ("speed.missing", False), ("speed.observedAt", True), ("brandName.observedAt", False),
    ("speed.datasetId", True), ("config[mode]", True), ("config[nope]", False),
    ("isParked.providedBy", True),
    # absent attributes: neither positive nor negated terms hold
    ("missing==1", False), ("missing!=1", False), ('missing!~="x"', False),
    # logic
    ("speed==80;brandName==Mercedes", True), ("speed==1;brandName==Mercedes", False),
    ("speed==1|brandName==Mercedes", True), ("(speed==1|speed==2);brandName", False),
    ("speed==1;brandName|colors==red", True), ("speed==1;(brandName|colors==red)", False),
])
def test_q(text: str, expected: bool) -> None:
    assert evaluate_q(parse_q(text, expand), VEHICLE) is expected


def test_entity_without_attrs() -> None:
    entity = {"id": "urn:x", "type": [d("T")]}
    assert evaluate_q(parse_q("a", expand), entity) is False
    assert evaluate_q(parse_q("a!=1", expand), entity) is False


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-12-04T12:00:00Z", "2018-12-04T12:00:00.000000Z"),
    ("2018-12-04T12:00:00.1234567Z", "2018-12-04T12:00:00.123456Z"),
    ("2018-12-04T12:00:00.5Z", "2018-12-04T12:00:00.500000Z"),
    ("2018-12-04T12:00:00+01:00", None), ("2018-12-04", None), ("2018-12-04T12:00:00.Z", None),
    ("x2018-12-04T12:00:00Z", None), ("2018-12-04T12:00:00Z\n", None),
])
def test_stored_datetime_key(text: str, expected: str | None) -> None:
    assert stored_datetime_key(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("/Madrid/Gardens/ParqueNorte", True), ("/Madrid/Gardens", False), ("/Madrid/#", True),
    ("/Madrid/Gardens/#", True), ("/Madrid/Gardens/ParqueNorte/#", True),
    ("/Madrid/Gar/#", False), ("/Madrid/+", False), ("/Madrid/+/ParqueNorte", True),
    ("/+/+/+", True), ("/+", True), ("/+/#", True), ("/#", True), ("/Spain", True),
    ("/Spain;/Madrid/#", True), ("/Spain;/France", False), ("/France,/Spain", True),
    ("/France|/Spain", True), ("(/France|/Spain);/Madrid/+/+", True),
])
def test_scope_q(text: str, expected: bool) -> None:
    assert evaluate_scope_q(parse_scope_q(text), VEHICLE["scope"]) is expected


def test_scope_q_without_scopes() -> None:
    assert evaluate_scope_q(parse_scope_q("/#"), []) is False


@pytest.mark.parametrize(("text", "expected"), [
    ("Vehicle", True), ("Car", False), ("Car,Vehicle", True), ("Car|Vehicle", True),
    ("Car;Vehicle", False), ("Vehicle;Thing", True), ("(Car;Vehicle)|Bus", False),
    ("(Car|Vehicle);Thing", True),
])
def test_types(text: str, expected: bool) -> None:
    types = [d("Vehicle"), d("Thing")]
    assert evaluate_types(parse_type_expression(text, expand), types) is expected
