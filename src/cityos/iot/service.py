"""The IoT service assembled for one server: device store for the backend in use,
directory, ingester, MQTT subscriber and the periodic jobs (directory reload, last-seen
flush)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cityos.broker.temporal_retention import RetentionPolicy
from cityos.iot.directory import RELOAD_SECONDS, DeviceDirectory
from cityos.iot.ingest import Ingester
from cityos.iot.mqtt import BrokerSettings, MqttIngestion
from cityos.plugins import Platform
from cityos.storage.devices import DeviceStore

log = logging.getLogger("cityos.iot")


def device_store(platform: Platform) -> DeviceStore:
    """The DeviceStore beside the platform's entity store (built before it opens)."""
    from cityos.storage.siblings import sibling_store
    result: DeviceStore = sibling_store(platform.entities.store, "devices", "DeviceStore")
    return result


class IotService:
    def __init__(self, platform: Platform) -> None:
        settings = platform.settings
        self.platform = platform
        self.directory = DeviceDirectory(device_store(platform), platform.entities,
                                         settings.iot_secret_key,
                                         settings.iot_secret_key_previous)
        self.ingester = Ingester(self.directory, platform.entities, platform.counters,
                                 platform.security_events, settings.iot_replay_window)
        self.retention = RetentionPolicy.parse(settings.temporal_retention)
        self.mqtt: MqttIngestion | None = None
        if settings.iot_mqtt_url:
            self.mqtt = MqttIngestion(
                BrokerSettings.parse(settings.iot_mqtt_url, settings.iot_mqtt_ca_file),
                settings.iot_mqtt_topic_prefix, self.ingester, platform.counters,
                settings.iot_mqtt_shared_group)
        self._upkeep: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.directory.load()
        created = await self.directory.publish_device_entities()
        if created:
            log.info("IoT: published %d devices as NGSI-LD Device entities", created)
        self.ingester.start()
        if self.mqtt is not None:
            self.mqtt.start()
        self._upkeep = asyncio.get_running_loop().create_task(self._maintain(),
                                                              name="iot-upkeep")

    async def stop(self) -> None:
        if self._upkeep is not None:
            self._upkeep.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._upkeep
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.ingester.stop()
        with contextlib.suppress(Exception):
            await self.directory.flush_last_seen()

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(RELOAD_SECONDS)
            try:
                await self.directory.flush_last_seen()
                await self.directory.load()
            except Exception:
                log.exception("IoT directory upkeep failed; retrying later")
