"""The hooks through which apps and platform services join the City OS.

Every built-in app (shelters, twin, IoT…) is a `CityPlugin` and joins through these hooks
only, exactly as a third-party package would: such a package declares an entry point in
the `cityos.plugins` group naming a `CityPlugin` subclass. Each hook's default does nothing,
so a plugin overrides only the ones it needs. Plugins reach the platform through the
`Platform` they are given (broker services), never through a storage backend directly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    import click

    from cityos.broker.context_resolver import ContextResolver
    from cityos.broker.entities import EntityService
    from cityos.broker.events import ProcessBus
    from cityos.broker.subscriptions import SubscriptionService
    from cityos.broker.temporal import TemporalService
    from cityos.config import Settings
    from cityos.metrics import Counters
    from cityos.security.access import AccessControl
    from cityos.security.audit import AuditTrail
    from cityos.security.events import SecurityEvents
    from cityos.security.identity import Identity

log = logging.getLogger(__name__)
ENTRY_POINT_GROUP = "cityos.plugins"


@dataclass
class Platform:
    """The assembled platform services a plugin may use."""

    settings: Settings
    entities: EntityService
    bus: ProcessBus
    resolver: ContextResolver
    counters: Counters
    security_events: SecurityEvents
    subscriptions: SubscriptionService | None = None
    temporal: TemporalService | None = None
    # `audit.record_admin_action(principal, action, target, result)` (cityos.security.audit)
    audit: AuditTrail = field(default_factory=lambda: _audit_off())
    identity: Identity | None = None
    access: AccessControl | None = None  # grants and API keys (cityos.security.access)


def _audit_off() -> AuditTrail:
    """A trail that records nothing (a Platform built without one, e.g. in a test)."""
    from cityos.metrics import Counters
    from cityos.security.audit import AuditTrail
    return AuditTrail(None, Counters())


class CityPlugin:
    """One app or platform service. Subclasses set `name` and override the hooks they use."""

    name: str = ""
    # Platform services (identity, IoT) describe their routes in the platform's OpenAPI
    # document (/openapi.json); apps (shelters, twin) document their pages themselves.
    in_platform_openapi: bool = False

    def routes(self, platform: Platform) -> Sequence[BaseRoute]:
        """HTTP routes (pages, APIs, static files) of this plugin, mounted at the root of
        the server (so a plugin chooses its own prefix, e.g. /shelters). Called once while
        the app is assembled, before startup."""
        return ()

    async def startup(self, platform: Platform) -> None:
        """Called once when the server starts, after the storage is open: start background
        tasks, connect to outside services."""

    async def load_demo(self, platform: Platform) -> None:
        """Called after startup when the server runs with the Kaga demo (CITYOS_DEMO):
        create demo data that is missing, leaving what is there as it is."""

    async def shutdown(self) -> None:
        """Called once when the server stops: stop background tasks, close connections."""

    def metrics_text(self) -> str:
        """Extra Prometheus text for /metrics (counters kept outside `Platform.counters`)."""
        return ""

    def links(self) -> Sequence[tuple[str, str]]:
        """Pages worth printing when the server starts: (label, path) pairs."""
        return ()

    def commands(self) -> Sequence[click.Command]:
        """Commands added to the `cityos` command line."""
        return ()


def builtin_plugins() -> list[CityPlugin]:
    """The apps that ship with the City OS, in start order."""
    from cityos.apps.shelters.plugin import SheltersPlugin
    from cityos.apps.twin import TwinPlugin
    from cityos.iot.plugin import IotPlugin
    from cityos.security.identity_plugin import IdentityPlugin
    return [IdentityPlugin(), IotPlugin(), SheltersPlugin(), TwinPlugin()]


def installed_plugins() -> list[CityPlugin]:
    """Built-in plugins, then those of installed packages (entry point group
    `cityos.plugins`), each once by name."""
    plugins = builtin_plugins()
    names = {plugin.name for plugin in plugins}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        plugin_class = entry.load()
        plugin = plugin_class()
        if plugin.name in names:
            log.warning("plugin %s from %s ignored: the name is taken", plugin.name, entry.value)
            continue
        names.add(plugin.name)
        plugins.append(plugin)
    return plugins
