"""HTTP routes of the IoT service: south-bound ingestion compatible with the FIWARE IoT
Agents (`POST /iot/d?k=APIKEY&i=DEVICE` UltraLight, `POST /iot/json?k=…&i=…` JSON) and
the provisioning API (`/iot/services`, `/iot/devices`, FIWARE shapes plus City OS fields)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from cityos.iot.csv_import import read_devices
from cityos.iot.directory import DeviceDirectory
from cityos.iot.ingest import Ingester, Message
from cityos.iot.payloads import MAX_PAYLOAD_BYTES, PayloadFormat
from cityos.iot.rejections import Rejected
from cityos.ngsild.errors import BadRequestData, Forbidden, NgsiLdError, Unauthenticated
from cityos.security.principal import Principal, may_administer, principal_of

IOT_ADMIN_ROLE = "iot-admin"
MAX_PROVISIONING_BYTES = 4 * 1_048_576


def may_provision_devices(principal: Principal) -> bool:
    """Who may provision devices and groups: an administrator (or development mode), or an
    operator or client holding the `iot-admin` role."""
    if may_administer(principal):
        return True
    return principal.kind in ("operator", "client") and principal.has_role(IOT_ADMIN_ROLE)


def _authorize(request: Request) -> None:
    principal = principal_of(request.scope)
    if may_provision_devices(principal):
        return
    if principal.is_anonymous:
        raise Unauthenticated("device provisioning needs an administrator or the iot-admin "
                              "role")
    raise Forbidden("device provisioning needs an administrator or the iot-admin role")


def _tenant(request: Request) -> str:
    return request.headers.get("ngsild-tenant") or request.headers.get("fiware-service") or ""


async def _body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadRequestData(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def _json(request: Request) -> Any:
    try:
        return orjson.loads(await _body(request, MAX_PROVISIONING_BYTES))
    except orjson.JSONDecodeError:
        raise BadRequestData("the body is not JSON") from None


def _items(body: Any, key: str) -> list[Any]:
    items = body.get(key) if isinstance(body, dict) else None
    if not isinstance(items, list) or not items:
        raise BadRequestData(f'the body must be {{"{key}": [ … ]}}')
    return items


class IotRoutes:
    def __init__(self, directory: DeviceDirectory, ingester: Ingester) -> None:
        self.directory = directory
        self.ingester = ingester

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/iot/d", self.ultralight, methods=["POST"]),
            Route("/iot/json", self.json_measures, methods=["POST"]),
            Route("/iot/services", self.list_groups, methods=["GET"]),
            Route("/iot/services", self.create_groups, methods=["POST"]),
            Route("/iot/services/{name}", self.delete_group, methods=["DELETE"]),
            Route("/iot/devices", self.list_devices, methods=["GET"]),
            Route("/iot/devices", self.create_devices, methods=["POST"]),
            Route("/iot/devices/import", self.import_devices, methods=["POST"]),
            Route("/iot/devices/{device_id}", self.get_device, methods=["GET"]),
            Route("/iot/devices/{device_id}", self.delete_device, methods=["DELETE"]),
        ]

    # -- south-bound ingestion ---------------------------------------------------------
    async def ultralight(self, request: Request) -> Response:
        return await self._measures(request, "auto")

    async def json_measures(self, request: Request) -> Response:
        return await self._measures(request, "json")

    async def _measures(self, request: Request, payload_format: PayloadFormat) -> Response:
        apikey, device_id = request.query_params.get("k"), request.query_params.get("i")
        if not apikey or not device_id:
            raise BadRequestData("query parameters k (API key) and i (device id) are required")
        payload = await _body(request, MAX_PAYLOAD_BYTES + 200)
        header = request.headers.get("cityos-signature")
        message = Message(apikey, device_id, payload, "http", payload_format,
                          header.encode("latin-1") if header is not None else None)
        try:
            written = await self.ingester.ingest_and_wait(message)
        except Rejected as rejected:
            raise _problem(rejected) from None
        return JSONResponse({"measurements": written})

    # -- provisioning ------------------------------------------------------------------
    async def create_groups(self, request: Request) -> Response:
        _authorize(request)
        tenant = _tenant(request)
        created = []
        for raw in _items(await _json(request), "services"):
            group, apikey = await self.directory.provision_group(raw, tenant)
            created.append({**group.as_json(), **({"apikey": apikey} if apikey else {})})
        return JSONResponse({"services": created}, status_code=201)

    async def list_groups(self, request: Request) -> Response:
        _authorize(request)
        tenant = _tenant(request)
        groups = [g.group.as_json() for (t, _), g in sorted(self.directory.groups.items())
                  if t == tenant]
        return JSONResponse({"count": len(groups), "services": groups})

    async def delete_group(self, request: Request) -> Response:
        _authorize(request)
        await self.directory.remove_group(_tenant(request), request.path_params["name"])
        return Response(status_code=204)

    async def create_devices(self, request: Request) -> Response:
        _authorize(request)
        tenant = _tenant(request)
        items = _items(await _json(request), "devices")
        for raw in items:  # all or nothing: credentials are shown once
            self.directory.check_device(raw, tenant)
        created = [(await self.directory.provision_device(raw, tenant)).as_json()
                   for raw in items]
        return JSONResponse({"devices": created}, status_code=201)

    async def import_devices(self, request: Request) -> Response:
        """CSV bulk provisioning (csv_import.py): every valid row is provisioned; refused
        rows are listed with their line number."""
        _authorize(request)
        tenant = _tenant(request)
        try:
            text = (await _body(request, MAX_PROVISIONING_BYTES)).decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestData("the CSV must be UTF-8") from None
        created, errors = [], []
        for line, row in read_devices(text):
            try:
                if isinstance(row, NgsiLdError):
                    raise row
                created.append((await self.directory.provision_device(row, tenant)).as_json())
            except NgsiLdError as error:
                errors.append({"line": line, "detail": error.detail})
        return JSONResponse({"devices": created, "errors": errors},
                            status_code=201 if created else 400)

    async def list_devices(self, request: Request) -> Response:
        _authorize(request)
        tenant = _tenant(request)
        devices = [self._device_json(e.device.device_id)
                   for e in self.directory.devices.values() if e.device.tenant == tenant]
        return JSONResponse({"count": len(devices), "devices": devices})

    async def get_device(self, request: Request) -> Response:
        _authorize(request)
        device_id = request.path_params["device_id"]
        entry = self.directory.devices.get(device_id)
        if entry is None or entry.device.tenant != _tenant(request):
            raise _not_found(device_id)
        return JSONResponse(self._device_json(device_id))

    async def delete_device(self, request: Request) -> Response:
        _authorize(request)
        device_id = request.path_params["device_id"]
        entry = self.directory.devices.get(device_id)
        if entry is None or entry.device.tenant != _tenant(request):
            raise _not_found(device_id)
        await self.directory.remove_device(device_id)
        return Response(status_code=204)

    def _device_json(self, device_id: str) -> dict[str, Any]:
        entry = self.directory.devices[device_id]
        body = entry.device.as_json()
        body["hmac"] = entry.hmac_key is not None
        body["last_seen"] = self.directory.last_seen.get(device_id)
        return body


def _not_found(device_id: str) -> NgsiLdError:
    from cityos.ngsild.errors import ResourceNotFound
    return ResourceNotFound(f"no device {device_id!r}")


def _problem(rejected: Rejected) -> NgsiLdError:
    if rejected.reason == "payloadMalformed":
        return BadRequestData(rejected.detail)
    return Unauthenticated(f"{rejected.reason}: {rejected.detail}")
