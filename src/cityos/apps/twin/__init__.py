"""The city digital twin: evacuation simulation on the road network (plan §6-2), as a
plugin: `cityos twin …` commands and the /twin page."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

from cityos.plugins import CityPlugin, Platform

if TYPE_CHECKING:
    import click


class TwinPlugin(CityPlugin):
    name = "twin"

    def links(self) -> Sequence[tuple[str, str]]:
        return [("Digital twin", "/twin")]

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        from cityos.apps.twin.web import twin_routes
        return twin_routes(platform)

    async def shutdown(self) -> None:
        from cityos.apps.twin.web import shutdown_runner
        shutdown_runner()

    def commands(self) -> Sequence[click.Command]:
        from cityos.apps.twin.cli import twin
        return (twin,)
