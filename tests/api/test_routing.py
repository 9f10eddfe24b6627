"""The indexed router runs exactly the route Starlette's ordered walk would pick, for
every NGSI-LD route and method, with path parameters that hold `/` (an id with `/`),
empty segments and paths no route has."""

from __future__ import annotations

import asyncio
import re

import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from cityos.api.routing import IndexedRouter
from cityos.app import NGSI_LD_ROOT, _ngsi_routes

ROUTES = _ngsi_routes()
FILLINGS = ["urn:ngsi-ld:Sensor:1", "a/b", "urn:x:a/b/c", "x"]


def ordered_walk(method: str, path: str) -> Route | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": ""}
    for route in ROUTES:
        assert isinstance(route, Route)
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return route
    return None


def recording_routes(chosen: list[str]) -> list[Route]:
    """The NGSI-LD routes, same paths, methods and order, each noting its path when run."""
    def endpoint_for(path: str):  # type: ignore[no-untyped-def]
        async def endpoint(request: Request) -> Response:
            chosen.append(path)
            return Response(status_code=204)
        return endpoint
    return [Route(r.path, endpoint_for(r.path), methods=sorted(r.methods or ()))
            for r in ROUTES if isinstance(r, Route)]


def dispatched(router: IndexedRouter, chosen: list[str], method: str, path: str
               ) -> str | None:
    scope = {"type": "http", "method": method, "path": path, "root_path": "",
             "query_string": b"", "headers": [], "http_version": "1.1"}

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    async def send(message: object) -> None:
        pass

    chosen.clear()
    asyncio.run(router.app(scope, receive, send))
    return chosen[0] if chosen else None


def sample_paths() -> set[str]:
    paths = {NGSI_LD_ROOT + "/entities//attrs", NGSI_LD_ROOT + "/nothing/here",
             NGSI_LD_ROOT + "/entities/a/b/c/d/e/f"}
    for route in ROUTES:
        assert isinstance(route, Route)
        for filling in FILLINGS:
            paths.add(re.sub(r"\{[^}]+\}", filling, route.path))
    return paths


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_the_index_agrees_with_the_ordered_walk(method: str) -> None:
    chosen: list[str] = []
    router = IndexedRouter(recording_routes(chosen), root=NGSI_LD_ROOT)
    disagreements = []
    for path in sorted(sample_paths()):
        expected = ordered_walk(method, path)
        got = dispatched(router, chosen, method, path)
        if got != (expected.path if expected else None):
            disagreements.append((path, got, expected and expected.path))
    assert not disagreements
