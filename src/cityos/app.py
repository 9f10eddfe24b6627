"""Assembles the City OS: settings → store → services → HTTP app. No logic of its own."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route

from cityos.api import (
    admin_security,
    batch,
    contexts,
    discovery,
    entities,
    openapi,
    openapi_docs,
    problem,
    subscriptions,
    system,
)
from cityos.api import temporal as temporal_api
from cityos.api.gate import gated
from cityos.api.routing import IndexedRouter
from cityos.api.state import ApiState
from cityos.api.unavailable import unavailable_routes
from cityos.broker.context_persistence import PersistedContexts
from cityos.broker.context_resolver import ContextResolver
from cityos.broker.delivery.service import DeliveryConfig, NotificationDelivery
from cityos.broker.entities import EntityService
from cityos.broker.events import InProcessBus
from cityos.broker.expiry import ExpirySweeper
from cityos.broker.subscriptions import SubscriptionService, target_checker
from cityos.broker.temporal import TemporalService
from cityos.broker.temporal_retention import RetentionJob, RetentionPolicy
from cityos.config import Settings
from cityos.metrics import Counters
from cityos.ngsild.errors import NgsiLdError
from cityos.plugins import CityPlugin, Platform, installed_plugins
from cityos.security.access import AccessControl, owner_rights
from cityos.security.apikeys import ApiKeyAuthenticator
from cityos.security.authentication import AuthenticationMiddleware, Authenticator
from cityos.security.events import SecurityEvents
from cityos.security.personal import PersonalAttributes
from cityos.storage.base import ContextRecords, EntityStore, SubscriptionStore
from cityos.storage.security import SecurityStore

log = logging.getLogger(__name__)
NGSI_LD_ROOT = "/ngsi-ld/v1"
BACKEND = "PostgreSQL"


class Store(EntityStore, ContextRecords, Protocol):
    """What the app needs of a storage backend."""


def open_store(settings: Settings) -> Store:
    path = settings.sqlite_path
    if path is not None:
        from cityos.storage.sqlite.store import SqliteStore
        return SqliteStore(path, synchronous=settings.sqlite_synchronous.upper())
    if settings.postgres_url is not None:
        from cityos.storage.postgres.store import PostgresStore
        return PostgresStore(settings.postgres_url, pool_min=settings.postgres_pool_min,
                             pool_max=settings.postgres_pool_max)
    raise ValueError(f"unsupported database URL {settings.database_url!r}; "
                     "use sqlite:///PATH or postgresql://…")


def open_security_store(store: Store) -> SecurityStore:
    """API keys and policies beside the entity store (before it opens, on SQLite)."""
    from cityos.storage.sqlite.store import SqliteStore
    if isinstance(store, SqliteStore):
        from cityos.storage.sqlite.security import SqliteSecurityStore
        return SqliteSecurityStore(store)
    from cityos.storage.postgres.security import PostgresSecurityStore
    from cityos.storage.postgres.store import PostgresStore
    assert isinstance(store, PostgresStore)
    return PostgresSecurityStore(store)


def access_control(settings: Settings, store: Store) -> AccessControl:
    return AccessControl(open_security_store(store),
                         personal=PersonalAttributes.parse(settings.personal_attributes),
                         public_types=settings.public_types,
                         policy_file=settings.policies_file, dev=settings.dev)


def open_subscription_store(store: Store) -> SubscriptionStore:
    from cityos.storage.sqlite.store import SqliteStore
    from cityos.storage.sqlite.subscriptions import SqliteSubscriptionStore
    if isinstance(store, SqliteStore):
        return SqliteSubscriptionStore(store)
    raise ValueError("subscriptions need the SQLite backend")


def subscription_service(settings: Settings, store: Store,
                         resolver: ContextResolver) -> SubscriptionService:
    from cityos.broker.delivery.targets import TargetPolicy
    policy = TargetPolicy.from_lists(settings.notification_allow, settings.notification_deny)
    return SubscriptionService(open_subscription_store(store), resolver, store,
                               check_target=target_checker(policy))


def notification_delivery(settings: Settings, store: Store, bus: InProcessBus,
                          subscriptions: SubscriptionService) -> NotificationDelivery:
    from cityos.storage.sqlite.delivery_log import SqliteDeliveryLog
    from cityos.storage.sqlite.store import SqliteStore
    if not isinstance(store, SqliteStore):
        raise ValueError("notification delivery needs the SQLite backend")
    delivery = NotificationDelivery(SqliteDeliveryLog(store),
                                    DeliveryConfig.from_settings(settings))
    delivery.listen(bus)
    subscriptions.on_presence_changed = delivery.on_presence_changed
    subscriptions.periodic.outbox = delivery
    return delivery


def temporal_service(settings: Settings,
                     store: Store) -> tuple[TemporalService | None, RetentionJob | None]:
    """The temporal history beside the entity store (it must exist before the store opens:
    it adds its tables and its write observer). SQLite only for now: on another backend
    the temporal API answers OperationNotSupported."""
    from cityos.storage.sqlite.store import SqliteStore
    from cityos.storage.sqlite.temporal import SqliteTemporalStore
    if not isinstance(store, SqliteStore):
        return None, None
    history = SqliteTemporalStore(store)
    job = RetentionJob(history, RetentionPolicy.parse(settings.temporal_retention),
                       settings.temporal_cleanup_interval)
    return TemporalService(store, history, settings.temporal_instance_limit), job


def build_app(settings: Settings, plugins: list[CityPlugin] | None = None) -> Starlette:
    """The whole City OS as one ASGI app; `plugins` defaults to the installed ones."""
    store = open_store(settings)
    access = access_control(settings, store)
    # Temporal history and subscriptions keep sibling stores that exist on SQLite only so
    # far; on PostgreSQL their routes answer 501 (see _ngsi_routes).
    siblings = settings.sqlite_path is not None
    temporal_svc, retention = temporal_service(settings, store) if siblings else (None, None)
    bus = InProcessBus()
    service = EntityService(store, bus)
    sweeper = ExpirySweeper(service, settings.transient_sweep_interval)
    resolver = ContextResolver(base_url=settings.public_url,
                               store=PersistedContexts(store),
                               timeout=settings.context_fetch_timeout,
                               max_size=settings.context_max_bytes,
                               mirrors=settings.context_mirror_map)
    subscription_svc = subscription_service(settings, store, resolver) if siblings else None
    delivery = notification_delivery(settings, store, bus, subscription_svc) \
        if subscription_svc is not None else None
    counters = Counters()
    platform = Platform(settings=settings, entities=service, bus=bus, resolver=resolver,
                        counters=counters, security_events=SecurityEvents(service, counters),
                        subscriptions=subscription_svc, temporal=temporal_svc,
                        access=access)
    if subscription_svc is not None:
        subscription_svc.owner_rights = owner_rights(access)
    plugins = installed_plugins() if plugins is None else plugins

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await access.load()
        access.start()
        await resolver.load()
        sweeper.start()
        if retention is not None:
            retention.start()
        if subscription_svc is not None and delivery is not None:
            await subscription_svc.load()
            await delivery.start(subscription_svc.matcher, subscription_svc.status,
                                 subscription_svc.exists)
        for plugin in plugins:
            await plugin.startup(platform)
        if settings.demo:
            for plugin in plugins:
                await plugin.load_demo(platform)
        try:
            yield
        finally:
            for plugin in reversed(plugins):
                await plugin.shutdown()
            if subscription_svc is not None:
                await subscription_svc.close()
            if retention is not None:
                await retention.stop()
            await sweeper.stop()
            await bus.close()
            if delivery is not None:
                await delivery.stop()
            await resolver.aclose()
            await access.stop()
            await store.close()

    app = Starlette(
        exception_handlers={NgsiLdError: problem.on_ngsi_error,
                            HTTPException: problem.on_http_error,
                            Exception: problem.on_unexpected_error},
    )
    plugin_routes = [route for plugin in plugins for route in plugin.routes(platform)]
    app.router = IndexedRouter([*_ngsi_routes(siblings), *system.routes, *openapi.routes,
                                *openapi_docs.routes, *admin_security.routes,
                                *plugin_routes],
                               root=NGSI_LD_ROOT, lifespan=lifespan)
    app.state.api = ApiState(entities=service, resolver=resolver,
                             max_body_bytes=settings.max_body_bytes,
                             subscriptions=subscription_svc, temporal=temporal_svc)
    app.state.resolver = resolver
    app.state.settings = settings
    app.state.delivery = delivery
    app.state.platform = platform
    app.state.access = access
    app.state.plugins = plugins
    app.state.metrics = system.RequestMetrics()
    metrics = app.state.metrics
    app.add_middleware(AuthenticationMiddleware,
                       authenticators=security_authenticators(platform), dev=settings.dev)
    app.add_middleware(_outer(metrics))  # type: ignore[arg-type]
    return app


def security_authenticators(platform: Platform) -> list[Authenticator]:
    """How callers prove who they are, tried in this order (cityos.security)."""
    assert platform.access is not None
    return [ApiKeyAuthenticator(platform.access.keys)]


def _ngsi_routes(siblings: bool = True) -> list[BaseRoute]:
    """All NGSI-LD routes under /ngsi-ld/v1, flat: one routing pass per request. Without
    `siblings` (PostgreSQL), subscription and temporal routes answer 501."""
    routes = entities.routes + batch.routes + discovery.routes + contexts.routes
    if siblings:
        routes = routes + subscriptions.routes + temporal_api.routes
    else:
        routes = (routes + unavailable_routes(subscriptions.routes, "Subscriptions", BACKEND)
                  + unavailable_routes(temporal_api.routes, "The temporal API", BACKEND))
    return [Route(NGSI_LD_ROOT + r.path, gated(r.endpoint, NGSI_LD_ROOT + r.path),
                  methods=list(r.methods or ())) for r in routes]


def _outer(metrics: system.RequestMetrics) -> system.ASGIApp:
    """Path normalisation and request metrics, around everything else."""
    def wrap(inner: system.ASGIApp) -> system.ASGIApp:
        return system.strip_trailing_slash(metrics.middleware(inner))
    return wrap  # type: ignore[return-value]
