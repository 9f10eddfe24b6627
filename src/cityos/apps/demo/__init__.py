"""The Kaga demo data as a plugin: loaded when the server runs with CITYOS_DEMO."""

from __future__ import annotations

from cityos.plugins import CityPlugin, Platform


class DemoPlugin(CityPlugin):
    name = "demo"

    async def load_demo(self, platform: Platform) -> None:
        from cityos.apps.demo.kaga import load_demo_data
        await load_demo_data(platform.entities)
