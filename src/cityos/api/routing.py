"""Route dispatch indexed by method and first path segment.

Starlette's router tries every route in order; with some thirty NGSI-LD routes a GET of one
entity used to test eleven path patterns before reaching its own. Here each request only
tries the routes of its own method under the same first segment (`/entities`,
`/entityOperations`, …) and falls back to the ordinary ordered walk — which also decides
404 and 405 — when none of those matches. The outcome is the same as without the index.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route, Router
from starlette.types import Receive, Scope, Send


def _segment(path: str, root: str) -> str | None:
    if not path.startswith(root + "/"):
        return None
    return path[len(root) + 1:].split("/", 1)[0].split("{", 1)[0]


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute], *, root: str, **kwargs: Any) -> None:
        super().__init__(routes=list(routes), **kwargs)
        self._root = root
        self._index: dict[tuple[str, str], list[Route]] = defaultdict(list)
        for route in self.routes:
            if not isinstance(route, Route) or not route.methods:
                continue
            segment = _segment(route.path, root)
            # A template segment such as "{id}" cannot be indexed by its text.
            if segment:
                for method in route.methods:
                    self._index[(method, segment)].append(route)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            segment = _segment(scope["path"], self._root)
            for route in self._index.get((scope["method"], segment or ""), ()):
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.setdefault("router", self)
                    scope.update(child_scope)
                    scope["route"] = route  # as Starlette's own walk records it
                    await route.handle(scope, receive, send)
                    return
        await super().app(scope, receive, send)
