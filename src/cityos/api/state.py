"""What every request handler can reach: the services assembled by cityos.app."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.entities import EntityService
from cityos.broker.subscriptions import SubscriptionService
from cityos.broker.temporal import TemporalService
from cityos.ngsild.errors import BadRequestData

_TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:.")


@dataclass
class ApiState:
    entities: EntityService
    resolver: ContextResolver
    max_body_bytes: int
    subscriptions: SubscriptionService | None = None
    temporal: TemporalService | None = None


def api_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


def tenant_of(request: Request) -> str:
    """§4.14: the NGSILD-Tenant header selects the tenant; none means the default one."""
    cached: str | None = request.scope.get("cityos.tenant")
    if cached is not None:
        return cached
    tenant = request.headers.get("ngsild-tenant", "")
    if len(tenant) > 128 or not set(tenant) <= _TENANT_CHARS:
        raise BadRequestData("NGSILD-Tenant must be up to 128 letters, digits, '_', '-', ':'"
                             " or '.'")
    request.scope["cityos.tenant"] = tenant
    return tenant
