"""What every request handler can reach: the services assembled by cityos.app."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request

from cityos.broker.context_resolver import ContextResolver
from cityos.broker.entities import EntityService
from cityos.broker.subscriptions import SubscriptionService
from cityos.broker.subscriptions.caller import CallerSubscriptions
from cityos.broker.temporal import TemporalService
from cityos.ngsild.errors import BadRequestData
from cityos.security.access import authorizer_for
from cityos.security.policy import Authorizer

_TENANT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-:.")


@dataclass
class ApiState:
    entities: EntityService
    resolver: ContextResolver
    max_body_bytes: int
    subscriptions: SubscriptionService | CallerSubscriptions | None = None
    temporal: TemporalService | None = None
    authz: Authorizer | None = None  # set on the per-request view (api_state)

    def for_caller(self, authz: Authorizer) -> ApiState:
        """The services limited to what this caller may do."""
        return replace(self, entities=self.entities.for_caller(authz),
                       temporal=None if self.temporal is None
                       else self.temporal.for_caller(authz),
                       subscriptions=self.subscriptions.for_caller(authz)
                       if isinstance(self.subscriptions, SubscriptionService)
                       else self.subscriptions, authz=authz)


_STATE_KEY = "cityos.api_state"


def api_state(request: Request) -> ApiState:
    """The services as the request's caller may use them: every handler reaches the
    broker through this, so none can skip authorization."""
    bound = request.scope.get(_STATE_KEY)
    if isinstance(bound, ApiState):
        return bound
    state: ApiState = request.app.state.api
    authz = authorizer_for(request.scope, tenant_of(request))
    # Authorizers are kept while the grants stand, so the view is built once per caller.
    bound = authz.views.get(id(state))
    if not isinstance(bound, ApiState):
        bound = authz.views[id(state)] = state.for_caller(authz)
    request.scope[_STATE_KEY] = bound
    return bound


def authorizer_of(request: Request) -> Authorizer:
    authz = api_state(request).authz
    assert authz is not None
    return authz


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
