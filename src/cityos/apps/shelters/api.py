"""The staff API (JSON): the shelters a staff member is responsible for, updates (status,
evacuee count, capacity, crowding, notes), temporary shelters, and the assignment of staff
to shelters (administrators only). Every call needs a staff principal (access.py); writes
need the CSRF header and go through the broker."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.apps.shelters.access import require_staff, responsible_for, sees_all
from cityos.apps.shelters.geodata import town_of_address
from cityos.apps.shelters.model import (
    Shelter,
    ShelterError,
    parse_assignment,
    parse_staff_update,
)
from cityos.apps.shelters.service import ShelterService
from cityos.metrics import Counters
from cityos.ngsild.errors import BadRequestData, Forbidden, ResourceNotFound

if TYPE_CHECKING:
    from cityos.security.identity import Identity

MAX_BODY = 16_384


class StaffApi:
    def __init__(self, service: ShelterService, counters: Counters,
                 identity: Callable[[], Identity | None] = lambda: None) -> None:
        self.service = service
        self.counters = counters
        self.identity = identity  # the operators, to refuse assigning unknown ones

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/shelters/api/staff/shelters", self.my_shelters, methods=["GET"]),
            Route("/shelters/api/shelters", self.add_temporary, methods=["POST"]),
            Route("/shelters/api/shelters/{shelter_id}", self.update, methods=["PATCH"]),
            Route("/shelters/api/shelters/{shelter_id}/staff", self.assign, methods=["PUT"]),
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

    async def assign(self, request: Request) -> Response:
        """PUT {"responsibleStaff": [username…]}: who is responsible for the shelter."""
        principal = require_staff(request, write=True)
        if not sees_all(principal):
            raise Forbidden("only an administrator assigns staff to shelters")
        shelter_id = request.path_params["shelter_id"]
        try:
            subjects = parse_assignment(await _json_body(request))
        except ShelterError as error:
            raise BadRequestData(str(error)) from None
        await self._require_operators(subjects)
        try:
            shelter = await self.service.assign(shelter_id, subjects, principal.subject)
        except ResourceNotFound:
            raise ResourceNotFound(f"no shelter {shelter_id}") from None
        self.counters.inc("cityos_shelter_updates_total",
                          "Shelter changes made in the staff app", kind="assignment")
        return JSONResponse(staff_view(shelter), headers={"Cache-Control": "no-store"})

    async def _require_operators(self, subjects: tuple[str, ...]) -> None:
        identity = self.identity()
        if identity is None:
            return
        for subject in subjects:
            username = subject.removeprefix("operator:")
            if await identity.operators.get(username) is None:
                raise BadRequestData(f"there is no operator {username}")

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
