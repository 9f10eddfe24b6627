"""Routes of features a storage backend does not offer yet: they answer 501 with a
ProblemDetails naming the backend, instead of failing deep inside a handler."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NoReturn

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from cityos.ngsild.errors import NgsiLdError


class NotAvailableOnBackend(NgsiLdError):
    """A feature the configured storage backend does not provide yet."""

    error_type: ClassVar[str] = "OperationNotSupported"
    status: ClassVar[int] = 501
    title: ClassVar[str] = "Not available on this storage backend"


def unavailable_routes(routes: Sequence[BaseRoute], feature: str,
                       backend: str) -> list[Route]:
    """The same paths and methods as `routes`, each answering 501."""
    detail = f"{feature} is not yet available on {backend}; use the SQLite backend for it"

    async def refuse(request: Request) -> NoReturn:
        raise NotAvailableOnBackend(detail)

    return [Route(route.path, refuse, methods=list(route.methods or ()))
            for route in routes if isinstance(route, Route)]
