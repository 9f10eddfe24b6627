"""Assembles the City OS: settings → store → services → HTTP app. No logic of its own."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

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
from cityos.api.gate import gated_route
from cityos.api.routing import IndexedRouter
from cityos.api.state import ApiState
from cityos.broker.context_persistence import PersistedContexts
from cityos.broker.context_resolver import ContextResolver
from cityos.broker.delivery.service import DeliveryConfig, NotificationDelivery
from cityos.broker.entities import EntityService
from cityos.broker.events import InProcessBus, ProcessBus
from cityos.broker.expiry import ExpirySweeper
from cityos.broker.subscriptions import SubscriptionService, target_checker
from cityos.broker.subscriptions.sharing import FreshMatcher, share_subscriptions
from cityos.broker.temporal import TemporalService
from cityos.broker.temporal_retention import RetentionJob, RetentionPolicy
from cityos.config import Settings
from cityos.metrics import Counters
from cityos.ngsild.errors import NgsiLdError
from cityos.plugins import CityPlugin, Platform, installed_plugins
from cityos.security import wiring
from cityos.security.access import AccessControl, owner_problem, owner_rights
from cityos.security.apikeys import ApiKeyAuthenticator
from cityos.security.audit import AuditSelfCheck
from cityos.security.audit_middleware import AuditMiddleware
from cityos.security.authentication import AuthenticationMiddleware, Authenticator
from cityos.security.body_limit import BodyLimitMiddleware
from cityos.security.events import SecurityEvents
from cityos.security.headers import SecurityHeadersMiddleware
from cityos.security.identity import Identity
from cityos.security.personal import PersonalAttributes
from cityos.security.rate_limit import RateLimitMiddleware
from cityos.storage.base import ContextRecords, EntityStore, SubscriptionStore, TemporalStore
from cityos.storage.delivery import DeliveryLog
from cityos.storage.grants import SecurityStore
from cityos.storage.security import SecurityRecords
from cityos.storage.siblings import sibling_store

log = logging.getLogger(__name__)
NGSI_LD_ROOT = "/ngsi-ld/v1"


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
    """API keys and grants beside the entity store (before it opens)."""
    result: SecurityStore = sibling_store(store, "grants", "SecurityStore")
    return result


def access_control(settings: Settings, store: Store) -> AccessControl:
    return AccessControl(open_security_store(store),
                         personal=PersonalAttributes.parse(settings.personal_attributes),
                         public_types=settings.public_types,
                         policy_file=settings.policies_file, dev=settings.dev)


def open_subscription_store(store: Store) -> SubscriptionStore:
    """Subscriptions beside the entity store (before it opens)."""
    result: SubscriptionStore = sibling_store(store, "subscriptions", "SubscriptionStore")
    return result


def open_delivery_log(store: Store) -> DeliveryLog:
    """The change journal and outbox beside the entity store (before it opens)."""
    result: DeliveryLog = sibling_store(store, "delivery_log", "DeliveryLog")
    return result


def open_temporal_store(store: Store) -> TemporalStore:
    """The temporal history beside the entity store (before it opens)."""
    result: TemporalStore = sibling_store(store, "temporal", "TemporalStore")
    return result


def open_security_records(store: Store) -> SecurityRecords:
    """Operators, sessions, OIDC clients and keys beside the entities (before it opens)."""
    result: SecurityRecords = sibling_store(store, "security", "SecurityRecords")
    return result


def subscription_service(settings: Settings, store: Store, resolver: ContextResolver,
                         entities: Store | None = None) -> SubscriptionService:
    from cityos.broker.delivery.targets import TargetPolicy
    policy = TargetPolicy.from_lists(settings.notification_allow, settings.notification_deny)
    return SubscriptionService(open_subscription_store(store), resolver, entities or store,
                               check_target=target_checker(policy))


def notification_delivery(settings: Settings, store: Store, bus: ProcessBus,
                          subscriptions: SubscriptionService,
                          entity_store: Store | None = None) -> NotificationDelivery:
    journal = wiring.opened_journal(open_delivery_log(store), entity_store)
    delivery = NotificationDelivery(journal, DeliveryConfig.from_settings(settings))
    delivery.listen(bus)
    subscriptions.on_presence_changed = delivery.on_presence_changed
    subscriptions.periodic.outbox = delivery
    subscriptions.periodic.sends_here = delivery.matches_here
    share_subscriptions(subscriptions, bus, delivery.on_presence_changed)
    return delivery


def temporal_service(settings: Settings,
                     store: Store) -> tuple[TemporalService | None, RetentionJob | None]:
    """The temporal history beside the entity store (it must exist before the store opens:
    it adds its tables and its write observer)."""
    history = open_temporal_store(store)
    job = RetentionJob(history, RetentionPolicy.parse(settings.temporal_retention),
                       settings.temporal_cleanup_interval)
    return TemporalService(store, history, settings.temporal_instance_limit), job


def open_event_bus(settings: Settings) -> ProcessBus:
    """In-process by default; NATS JetStream when several processes share a database."""
    if not settings.event_bus:
        return InProcessBus()
    if settings.event_bus.startswith(("nats://", "tls://")):
        from cityos.broker.bus_nats import NatsBusConfig, NatsEventBus
        return NatsEventBus(NatsBusConfig(url=settings.event_bus,
                                          stream=settings.event_bus_stream))
    raise ValueError(f"unsupported event bus {settings.event_bus!r}; use nats://HOST:PORT")


def build_app(settings: Settings, plugins: list[CityPlugin] | None = None) -> Starlette:
    """The whole City OS as one ASGI app; `plugins` defaults to the installed ones."""
    keys = wiring.key_ring(settings)  # refuses to start on a key file others may read
    store = open_store(settings)
    access = access_control(settings, store)
    temporal_svc, retention = temporal_service(settings, store)
    entity_store = wiring.field_encryption(settings, store, keys)  # personal data sealed
    wiring.seal_temporal(temporal_svc, entity_store)
    bus = open_event_bus(settings)
    if temporal_svc is not None:
        temporal_svc.bus = bus  # temporal writes publish the current entity's changes
    service = EntityService(entity_store, bus)
    sweeper = ExpirySweeper(service, settings.transient_sweep_interval)
    resolver = ContextResolver(base_url=settings.public_url,
                               store=PersistedContexts(store),
                               timeout=settings.context_fetch_timeout,
                               max_size=settings.context_max_bytes,
                               mirrors=settings.context_mirror_map)
    subscription_svc = subscription_service(settings, store, resolver, entity_store)
    delivery = notification_delivery(settings, store, bus, subscription_svc, entity_store)
    counters = Counters()
    audit = wiring.audit_trail(settings, store, counters, keys)
    security_events = SecurityEvents(service, counters)
    audit_check = AuditSelfCheck(audit, security_events, settings.audit_verify_interval)
    platform = Platform(settings=settings, entities=service, bus=bus, resolver=resolver,
                        counters=counters, security_events=security_events,
                        subscriptions=subscription_svc, temporal=temporal_svc, audit=audit,
                        access=access)
    platform.identity = Identity(settings, open_security_records(store), counters,
                                 platform.security_events)
    access.operators = platform.identity.operators
    limits = wiring.rate_limits(settings, store)
    limit_sharing = wiring.rate_limit_sharing(settings, store, limits)
    subscription_svc.owner_rights = owner_rights(access)
    subscription_svc.owner_problem = owner_problem(access)
    plugins = installed_plugins() if plugins is None else plugins

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await entity_store.open()
        await bus.start()
        await audit.start()
        audit_check.start()
        await access.load()
        access.start()
        if limit_sharing is not None:
            limit_sharing.start()
        await resolver.load()
        sweeper.start()
        if retention is not None:
            retention.start()
        if subscription_svc is not None and delivery is not None:
            await subscription_svc.load()
            await delivery.start(FreshMatcher(subscription_svc), subscription_svc.status,
                                 subscription_svc.delivers)
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
            if limit_sharing is not None:
                await limit_sharing.stop()
            await audit_check.stop()
            await audit.stop()
            await store.close()

    app = Starlette(
        exception_handlers={NgsiLdError: problem.on_ngsi_error,
                            HTTPException: problem.on_http_error,
                            Exception: problem.on_unexpected_error},
    )
    plugin_routes = [route for plugin in plugins for route in plugin.routes(platform)]
    app.router = IndexedRouter([*_ngsi_routes(), *system.routes, *openapi.routes,
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
    app.state.audit = audit
    app.state.rate_limit_sharing = limit_sharing
    metrics = app.state.metrics
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.max_body_bytes)
    app.add_middleware(RateLimitMiddleware, counters=counters, **limits)
    app.add_middleware(AuthenticationMiddleware,
                       authenticators=security_authenticators(platform), dev=settings.dev)
    app.add_middleware(AuditMiddleware, trail=audit)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(_outer(metrics))  # type: ignore[arg-type]
    return app


def security_authenticators(platform: Platform) -> list[Authenticator]:
    """How callers prove who they are, tried in this order (cityos.security)."""
    from cityos.security.identity_authenticators import identity_authenticators
    assert platform.access is not None
    identity = [*identity_authenticators(platform.identity)] if platform.identity else []
    # Bearer JWTs first: the API key authenticator also reads the Authorization header.
    return [*identity, ApiKeyAuthenticator(platform.access.keys)]


def _ngsi_routes() -> list[BaseRoute]:
    """All NGSI-LD routes under /ngsi-ld/v1, flat: one routing pass per request; each
    checked by the authorization gate before its handler runs."""
    routes = (entities.routes + batch.routes + discovery.routes + contexts.routes
              + subscriptions.routes + temporal_api.routes)
    return [gated_route(r.endpoint, NGSI_LD_ROOT + r.path, list(r.methods or ()))
            for r in routes]


def _outer(metrics: system.RequestMetrics) -> system.ASGIApp:
    """Path normalisation and request metrics, around everything else."""
    def wrap(inner: system.ASGIApp) -> system.ASGIApp:
        return system.request_rules(inner, metrics)
    return wrap  # type: ignore[return-value]
