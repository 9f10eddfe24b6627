"""Policy evaluation, pure: grants × principal × tenant → what may be read and written."""

from __future__ import annotations

import pytest

from cityos.ngsild.context import core_context
from cityos.ngsild.errors import BadRequestData, Forbidden, Unauthenticated
from cityos.ngsild.query.ast import TypeAnd, TypeName, TypeOr
from cityos.security.personal import PersonalAttributes
from cityos.security.policy import Authorizer, Grant, public_read_grants
from cityos.security.principal import ANONYMOUS, DEVELOPER, Principal
from cityos.security.scoping import NOTHING, scoped_query
from cityos.storage.base import EntityQuery


def iri(term: str) -> str:
    return core_context().expand_term(term)


SHELTER, DEVICE = iri("EvacuationShelter"), iri("Device")
OCCUPANCY, NAME, PHONE = iri("peopleOccupancy"), iri("name"), iri("contactPhone")
PERSONAL = PersonalAttributes.parse("EvacuationShelter.contactPhone")
STAFF = Principal("apikey:staff", "client", roles=frozenset({"shelter-staff"}))
WELFARE = Principal("apikey:welfare", "client", roles=frozenset({"welfare"}))
GRANTS = [
    *public_read_grants("EvacuationShelter"),
    Grant.from_json({"audience": "role:shelter-staff", "operations": ["write"],
                     "tenant": "", "entityType": "EvacuationShelter",
                     "idPattern": "urn:ngsi-ld:EvacuationShelter:kaga-.*",
                     "attributes": ["peopleOccupancy", "status"]}),
    Grant.from_json({"audience": "role:welfare", "operations": ["read"],
                     "entityType": "EvacuationShelter", "attributes": ["contactPhone"]}),
    Grant.from_json({"audience": "subject:apikey:staff", "operations": ["read"],
                     "tenant": "", "entityType": "Device"}),
]


def shelter(entity_id: str = "urn:ngsi-ld:EvacuationShelter:kaga-1") -> dict:
    return {"id": entity_id, "type": [SHELTER],
            "attrs": {NAME: [{"type": "Property", "value": "錦城小学校"}],
                      OCCUPANCY: [{"type": "Property", "value": 10}],
                      PHONE: [{"type": "Property", "value": "0761-00-0000"}]}}


def authz(principal: Principal, tenant: str = "") -> Authorizer:
    return Authorizer(principal, tenant, GRANTS, PERSONAL)


def test_everyone_reads_public_types_without_personal_attributes() -> None:
    shown = authz(ANONYMOUS).readable(shelter())
    assert shown is not None
    assert set(shown["attrs"]) == {NAME, OCCUPANCY}


def test_personal_attribute_needs_a_grant_naming_it() -> None:
    shown = authz(WELFARE).readable(shelter())
    assert shown is not None and PHONE in shown["attrs"]
    assert not authz(STAFF).attribute_allowed("read", "urn:x", [SHELTER], PHONE)


def test_default_deny_for_types_without_grant() -> None:
    device = {"id": "urn:ngsi-ld:Device:1", "type": [DEVICE], "attrs": {}}
    assert authz(ANONYMOUS).readable(device) is None
    assert authz(WELFARE).readable(device) is None
    assert authz(STAFF).readable(device) is not None
    assert authz(STAFF, "other-tenant").readable(device) is None  # tenant-bound grant


def test_principal_limited_to_tenants_gets_nothing_elsewhere() -> None:
    limited = Principal("apikey:staff", "client", roles=frozenset({"shelter-staff"}),
                        tenants=frozenset({"kaga-b"}))
    assert authz(limited, "").grants("read") == []
    assert authz(limited, "").readable(shelter()) is None


def test_write_limited_to_id_pattern_and_attributes() -> None:
    staff = authz(STAFF)
    before = shelter()
    after = {**before, "attrs": {**before["attrs"], OCCUPANCY: [{"type": "Property",
                                                                "value": 11}]}}
    staff.check_write(before, after)
    renamed = {**before, "attrs": {**before["attrs"], NAME: [{"type": "Property",
                                                             "value": "x"}]}}
    with pytest.raises(Forbidden):
        staff.check_write(before, renamed)
    with pytest.raises(Forbidden):
        staff.check_write(None, shelter("urn:ngsi-ld:EvacuationShelter:other"))
    with pytest.raises(Forbidden):  # deleting touches every attribute
        staff.check_write(before, None)


def test_anonymous_is_told_to_authenticate_others_are_forbidden() -> None:
    with pytest.raises(Unauthenticated):
        authz(ANONYMOUS).require_any("write")
    with pytest.raises(Forbidden):
        authz(WELFARE).require_any("write")


def test_developer_is_unrestricted() -> None:
    dev = Authorizer(DEVELOPER, "", [], PERSONAL, unrestricted=True)
    assert dev.readable(shelter()) == shelter()
    dev.check_write(None, shelter())


def test_query_scoped_to_granted_types_and_filters_checked() -> None:
    query = scoped_query(authz(STAFF), EntityQuery())
    assert query.types == TypeOr((TypeName(DEVICE), TypeName(SHELTER)))
    narrowed = scoped_query(authz(ANONYMOUS), EntityQuery(types=TypeName(DEVICE)))
    assert narrowed.types == TypeAnd((TypeName(DEVICE), TypeName(SHELTER)))
    from cityos.ngsild.query import parse_q
    q = parse_q('contactPhone=="0761"', core_context().expand_term)
    with pytest.raises(Unauthenticated):
        scoped_query(authz(ANONYMOUS), EntityQuery(q=q))
    with pytest.raises(Forbidden):
        scoped_query(authz(STAFF), EntityQuery(q=q))
    scoped_query(authz(WELFARE), EntityQuery(q=q))  # its only read grants name it


def test_no_read_grant_in_tenant_means_nothing_is_queried() -> None:
    nobody = Authorizer(WELFARE, "", [GRANTS[1]], PERSONAL)
    with pytest.raises(Forbidden):
        scoped_query(nobody, EntityQuery())
    only_pattern = Authorizer(ANONYMOUS, "", [Grant("*", frozenset({"read"}),
                                                    entity_type=SHELTER, id_pattern="a.*")],
                              PERSONAL)
    assert scoped_query(only_pattern, EntityQuery()).id_pattern == "a.*"
    assert NOTHING.startswith("urn:")


@pytest.mark.parametrize("doc", [
    {"audience": "everyone", "operations": ["read"]},
    {"audience": "*", "operations": ["delete"]},
    {"audience": "*", "operations": []},
    {"audience": "*", "operations": ["read"], "idPattern": "("},
    {"audience": "*", "operations": ["read"], "attributes": "name"},
    {"audience": "*", "operations": ["read"], "tenant": 3},
])
def test_malformed_grants_are_refused(doc: dict) -> None:
    with pytest.raises(BadRequestData):
        Grant.from_json(doc)


def test_grant_round_trips_through_json() -> None:
    grant = GRANTS[1]
    assert Grant.from_json(grant.to_json()) == grant
