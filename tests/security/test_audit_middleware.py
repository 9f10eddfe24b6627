"""The operation an audit record names (cityos.security.audit_middleware): the route
template, taken from the matched route when it spans the whole path."""

from __future__ import annotations

from starlette.routing import Route

from cityos.security.audit_middleware import _template, route_template


async def _nothing() -> None:
    return None


def test_the_matched_route_gives_its_template_without_converters() -> None:
    route = Route("/ngsi-ld/v1/entities/{entity_id:str}/attrs/{attr_id}", _nothing)
    path = "/ngsi-ld/v1/entities/urn:ngsi-ld:Sensor:1/attrs/count"
    params = {"entity_id": "urn:ngsi-ld:Sensor:1", "attr_id": "count"}
    assert _template({"route": route}, path, params) == \
        "/ngsi-ld/v1/entities/{entity_id}/attrs/{attr_id}"


def test_a_route_inside_a_mounted_app_falls_back_to_the_path() -> None:
    inner = Route("/{shelter_id}", _nothing)  # mounted under /shelters/api
    path = "/shelters/api/kaga-001"
    params = {"shelter_id": "kaga-001"}
    assert _template({"route": inner}, path, params) == "/shelters/api/{shelter_id}"
    assert _template({}, path, params) == route_template(path, params)
