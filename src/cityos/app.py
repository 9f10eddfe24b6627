"""Assembles the City OS: settings → store → services → HTTP app. No logic of its own."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Protocol

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Route

from cityos.api import batch, contexts, discovery, entities, openapi, problem, system
from cityos.api.routing import IndexedRouter
from cityos.api.state import ApiState
from cityos.broker.context_persistence import PersistedContexts
from cityos.broker.context_resolver import ContextResolver
from cityos.broker.entities import EntityService
from cityos.broker.events import InProcessBus
from cityos.broker.expiry import ExpirySweeper
from cityos.config import Settings
from cityos.ngsild.errors import NgsiLdError
from cityos.storage.base import ContextRecords, EntityStore

log = logging.getLogger(__name__)
NGSI_LD_ROOT = "/ngsi-ld/v1"


class Store(EntityStore, ContextRecords, Protocol):
    """What the app needs of a storage backend."""


def open_store(settings: Settings) -> Store:
    path = settings.sqlite_path
    if path is not None:
        from cityos.storage.sqlite.store import SqliteStore
        return SqliteStore(path, synchronous=settings.sqlite_synchronous.upper())
    raise ValueError(f"unsupported database URL {settings.database_url!r}; "
                     "use sqlite:///PATH")


def build_app(settings: Settings) -> Starlette:
    store = open_store(settings)
    bus = InProcessBus()
    service = EntityService(store, bus)
    sweeper = ExpirySweeper(service, settings.transient_sweep_interval)
    resolver = ContextResolver(base_url=settings.public_url,
                               store=PersistedContexts(store),
                               timeout=settings.context_fetch_timeout,
                               max_size=settings.context_max_bytes,
                               mirrors=settings.context_mirror_map)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.open()
        await resolver.load()
        sweeper.start()
        if settings.demo:
            from cityos.apps.demo.kaga import load_demo_data
            await load_demo_data(service)
        try:
            yield
        finally:
            await sweeper.stop()
            await bus.close()
            await resolver.aclose()
            await store.close()

    app = Starlette(
        exception_handlers={NgsiLdError: problem.on_ngsi_error,
                            HTTPException: problem.on_http_error,
                            Exception: problem.on_unexpected_error},
    )
    app.router = IndexedRouter([*_ngsi_routes(), *system.routes, *openapi.routes],
                               root=NGSI_LD_ROOT, lifespan=lifespan)
    app.state.api = ApiState(entities=service, resolver=resolver,
                             max_body_bytes=settings.max_body_bytes)
    app.state.resolver = resolver
    app.state.settings = settings
    app.state.metrics = system.RequestMetrics()
    metrics = app.state.metrics
    app.add_middleware(_outer(metrics))  # type: ignore[arg-type]
    return app


def _ngsi_routes() -> list[BaseRoute]:
    """All NGSI-LD routes under /ngsi-ld/v1, flat: one routing pass per request."""
    routes = entities.routes + batch.routes + discovery.routes + contexts.routes
    return [Route(NGSI_LD_ROOT + r.path, r.endpoint, methods=list(r.methods or ()))
            for r in routes]


def _outer(metrics: system.RequestMetrics) -> system.ASGIApp:
    """Path normalisation and request metrics, around everything else."""
    def wrap(inner: system.ASGIApp) -> system.ASGIApp:
        return system.strip_trailing_slash(metrics.middleware(inner))
    return wrap  # type: ignore[return-value]
