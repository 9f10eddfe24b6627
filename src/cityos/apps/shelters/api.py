"""The staff API (JSON): the shelters a staff member is responsible for, updates (status,
evacuee count, capacity, crowding, notes) and temporary shelters. Every call needs a staff
principal (access.py); writes need the CSRF header and go through the broker."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.apps.shelters.access import require_staff, responsible_for
from cityos.apps.shelters.geodata import town_of_address
from cityos.apps.shelters.model import Shelter, ShelterError, parse_staff_update
from cityos.apps.shelters.service import ShelterService
from cityos.metrics import Counters
from cityos.ngsild.errors import BadRequestData, Forbidden, ResourceNotFound

MAX_BODY = 16_384


class StaffApi:
    def __init__(self, service: ShelterService, counters: Counters) -> None:
        self.service = service
        self.counters = counters

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/shelters/api/staff/shelters", self.my_shelters, methods=["GET"]),
            Route("/shelters/api/shelters", self.add_temporary, methods=["POST"]),
            Route("/shelters/api/shelters/{shelter_id}", self.update, methods=["PATCH"]),
            Route("/shelters/api/geocode", self.geocode, methods=["GET"]),
        ]

    async def my_shelters(self, request: Request) -> Response:
        principal = require_staff(request)
        # From the database, not the feed: staff see their own write at once, even
        # before the event bus has delivered it.
        shelters = await self.service.all_shelters()
        mine = [staff_view(s) for s in sorted(shelters, key=lambda s: s.name)
                if responsible_for(principal, s)]
        return JSONResponse(mine, headers={"Cache-Control": "no-store"})

    async def update(self, request: Request) -> Response:
        principal = require_staff(request, write=True)
        shelter_id = request.path_params["shelter_id"]
        try:
            current = await self.service.get(shelter_id)
        except ResourceNotFound:
            raise ResourceNotFound(f"no shelter {shelter_id}") from None
        if not responsible_for(principal, current):
            raise Forbidden(f"{principal.subject} is not responsible for {shelter_id}")
        try:
            update = parse_staff_update(await _json_body(request))
            shelter = await self.service.update(shelter_id, update, principal.subject)
        except ShelterError as error:
            raise BadRequestData(str(error)) from None
        self.counters.inc("cityos_shelter_updates_total",
                          "Shelter changes made in the staff app", kind="update")
        return JSONResponse(staff_view(shelter), headers={"Cache-Control": "no-store"})

    async def add_temporary(self, request: Request) -> Response:
        principal = require_staff(request, write=True)
        body = await _json_body(request)
        if not isinstance(body, dict):
            raise BadRequestData("the request body must be a JSON object")
        try:
            shelter = await self.service.add_temporary(
                str(body.get("name") or ""), str(body.get("kind") or ""), body.get("lon"),
                body.get("lat"), body.get("address"), body.get("capacity"),
                principal.subject)
        except ShelterError as error:
            raise BadRequestData(str(error)) from None
        self.counters.inc("cityos_shelter_updates_total",
                          "Shelter changes made in the staff app", kind="temporary")
        return JSONResponse(staff_view(shelter), status_code=201,
                            headers={"Location": f"/shelters/api/shelters/{shelter.id}"})

    async def geocode(self, request: Request) -> Response:
        require_staff(request)
        town = town_of_address(request.query_params.get("address", ""))
        if town is None:
            raise ResourceNotFound("no town of Kaga found in this address")
        return JSONResponse(town)


def staff_view(shelter: Shelter) -> dict[str, Any]:
    view = asdict(shelter)
    view.pop("extra", None)
    view["shown_crowding"] = shelter.shown_crowding
    return view


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise BadRequestData("the request body is too large")
    try:
        return json.loads(raw or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise BadRequestData(f"the request body is not JSON: {error}") from None
