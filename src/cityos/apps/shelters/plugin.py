"""The shelter app as a City OS plugin: routes under /shelters, the in-memory feed kept up
to date from the event bus, the Kaga demo shelters, and `cityos import shelters`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from cityos.apps.shelters.api import StaffApi
from cityos.apps.shelters.feed import ShelterFeed
from cityos.apps.shelters.importers import read_shelter_file
from cityos.apps.shelters.live import LiveHub
from cityos.apps.shelters.model import CrowdingThresholds, Shelter
from cityos.apps.shelters.pages import SheltersWeb
from cityos.apps.shelters.service import ShelterService
from cityos.plugins import CityPlugin, Platform

if TYPE_CHECKING:
    import click

log = logging.getLogger(__name__)
RECONCILE_SECONDS = 30.0  # how soon writes of other processes reach the feed
DEMO_FILES = ("gsi_designated_shelters_172065.geojson",
              "gsi_emergency_evacuation_sites_172065.geojson")


class SheltersPlugin(CityPlugin):
    name = "shelters"


    def links(self) -> Sequence[tuple[str, str]]:
        return [("Shelter map", "/shelters"), ("Shelter staff", "/shelters/staff")]

    def __init__(self) -> None:
        self.hub: LiveHub | None = None
        self.feed: ShelterFeed | None = None
        self.service: ShelterService | None = None
        self._listening = False
        self._reconciler: asyncio.Task[None] | None = None

    def _parts(self, platform: Platform) -> tuple[ShelterService, ShelterFeed, LiveHub]:
        if self.service is None or self.feed is None or self.hub is None:
            thresholds = CrowdingThresholds.parse(platform.settings.shelters_crowding_thresholds)
            self.hub = LiveHub(platform.settings.shelters_max_live_clients)
            self.feed = ShelterFeed(self.hub)
            self.service = ShelterService(platform.entities, thresholds)
        return self.service, self.feed, self.hub

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        service, feed, hub = self._parts(platform)
        web = SheltersWeb(platform.settings, feed, hub)
        api = StaffApi(service, platform.counters, lambda: platform.identity)
        return [*web.routes(), *api.routes()]

    async def startup(self, platform: Platform) -> None:
        service, feed, _ = self._parts(platform)
        feed.load(await service.all_shelters())
        if not self._listening:  # the app may be started more than once (tests)
            platform.bus.listen(feed.on_events)
            self._listening = True
        self._reconciler = asyncio.create_task(self._reconcile(service, feed))

    async def _reconcile(self, service: ShelterService, feed: ShelterFeed) -> None:
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            try:
                changed = feed.reconcile(await service.all_shelters())
            except Exception:  # a database hiccup must not end the loop
                log.exception("shelter feed reconciliation failed")
                continue
            if changed:
                log.info("shelter feed: %d shelters changed by other processes", changed)

    async def load_demo(self, platform: Platform) -> None:
        """The 62 designated shelters and 53 emergency evacuation sites of Kaga (GSI), one
        shelter per facility; shelters already there keep what staff set."""
        service, _, _ = self._parts(platform)
        removed = await service.remove_old_demo_entities()
        outcome = await service.import_shelters(kaga_demo_shelters())
        for entity_id, error in outcome.errors:
            log.error("demo shelter %s not stored: %s", entity_id, error.detail)
        log.info("Kaga demo shelters: %d stored, %d of the earlier id scheme removed",
                 len(outcome.success), removed)

    async def shutdown(self) -> None:
        if self._reconciler is not None:
            self._reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reconciler
        if self.hub is not None:
            self.hub.close()

    def metrics_text(self) -> str:
        clients = self.hub.client_count if self.hub is not None else 0
        return ("# HELP cityos_shelter_live_clients Open shelter pages receiving live updates\n"
                "# TYPE cityos_shelter_live_clients gauge\n"
                f"cityos_shelter_live_clients {clients}\n")

    def commands(self) -> Sequence[click.Command]:
        from cityos.apps.shelters.cli import import_shelters_command
        return (import_shelters_command,)


def kaga_demo_shelters() -> list[Shelter]:
    """The GSI shelter records of Kaga shipped in the package (not yet merged per
    facility; `merge_shelters` does that)."""
    records: list[Shelter] = []
    for filename in DEMO_FILES:
        data = resources.files("cityos.data.kaga").joinpath(filename).read_bytes()
        report = read_shelter_file(data, filename)
        for rejection in report.rejections:
            log.error("demo shelter rejected: %s", rejection)
        records.extend(record.shelter for record in report.records)
    return records
