"""The plugin hooks: a plugin's routes are served, its startup/demo/shutdown hooks run in
order, its metrics appear on /metrics and its commands join the command line."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from click.testing import CliRunner
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.testclient import TestClient

from cityos.app import build_app
from cityos.cli import CityGroup
from cityos.config import load_settings
from cityos.plugins import CityPlugin, Platform


class RecordingPlugin(CityPlugin):
    name = "recording"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        async def hello(request: Request) -> Response:
            platform.counters.inc("cityos_hello_total", "Greetings served.", page="hello")
            return PlainTextResponse("こんにちは")
        return [Route("/hello", hello)]

    async def startup(self, platform: Platform) -> None:
        self.calls.append("startup")

    async def load_demo(self, platform: Platform) -> None:
        self.calls.append("demo")

    async def shutdown(self) -> None:
        self.calls.append("shutdown")

    def metrics_text(self) -> str:
        return "cityos_recording_up 1\n"

    def commands(self) -> Sequence[click.Command]:
        @click.command("greet")
        def greet() -> None:
            click.echo("hello from a plugin")
        return [greet]


def test_plugin_hooks_run_in_order_and_routes_are_served(tmp_path: Path) -> None:
    plugin = RecordingPlugin()
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}",
                              "demo": True}, environ={})
    with TestClient(build_app(settings, plugins=[plugin])) as client:
        assert client.get("/hello").text == "こんにちは"
        metrics = client.get("/metrics").text
    assert 'cityos_hello_total{page="hello"} 1' in metrics
    assert "cityos_recording_up 1" in metrics
    assert plugin.calls == ["startup", "demo", "shutdown"]


def test_demo_hook_is_skipped_without_demo(tmp_path: Path) -> None:
    plugin = RecordingPlugin()
    settings = load_settings({"database_url": f"sqlite:///{tmp_path / 'c.db'}"}, environ={})
    with TestClient(build_app(settings, plugins=[plugin])):
        pass
    assert plugin.calls == ["startup", "shutdown"]


def test_plugin_commands_join_the_command_line(monkeypatch: object) -> None:
    import cityos.plugins

    group = CityGroup(name="cityos")
    original = cityos.plugins.installed_plugins
    cityos.plugins.installed_plugins = lambda: [RecordingPlugin()]  # type: ignore[assignment]
    try:
        result = CliRunner().invoke(group, ["greet"])
        listing = CliRunner().invoke(group, ["--help"])
    finally:
        cityos.plugins.installed_plugins = original  # type: ignore[assignment]
    assert result.output == "hello from a plugin\n"
    assert "greet" in listing.output
