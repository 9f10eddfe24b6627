"""The IoT service as a plugin: provisioning and ingestion under /iot, the public sensor
registry under /sensors, the MQTT subscriber at startup, demo devices, `cityos iot`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from cityos.plugins import CityPlugin, Platform

if TYPE_CHECKING:
    import click

    from cityos.iot.service import IotService

log = logging.getLogger("cityos.iot")


class IotPlugin(CityPlugin):
    name = "iot"
    in_platform_openapi = True


    def links(self) -> Sequence[tuple[str, str]]:
        return [("Sensor registry", "/sensors")]

    def __init__(self) -> None:
        self.service: IotService | None = None

    def _service(self, platform: Platform) -> IotService:
        if self.service is None:
            from cityos.iot.service import IotService
            self.service = IotService(platform)
        return self.service

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        from cityos.iot.http_api import IotRoutes
        from cityos.iot.pages import RegistryPages
        service = self._service(platform)
        return [*IotRoutes(service.directory, service.ingester).routes(),
                *RegistryPages(service.directory, service.retention,
                              platform.settings).routes()]

    async def startup(self, platform: Platform) -> None:
        await self._service(platform).start()

    async def load_demo(self, platform: Platform) -> None:
        from cityos.iot.demo import DEMO_TENANT, GROUPS, demo_devices
        directory = self._service(platform).directory
        for group in GROUPS:
            if (DEMO_TENANT, group["name"]) not in directory.groups:
                await directory.provision_group(group, DEMO_TENANT)
        for device in demo_devices():
            if device["device_id"] not in directory.devices:
                await directory.provision_device(device, DEMO_TENANT)
        log.info("IoT demo devices provisioned (cityos iot simulate feeds them)")

    async def shutdown(self) -> None:
        if self.service is not None:
            await self.service.stop()

    def commands(self) -> Sequence[click.Command]:
        from cityos.iot.cli import iot
        return [iot]
