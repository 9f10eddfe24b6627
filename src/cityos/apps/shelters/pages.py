"""The public map page, the staff page and the public read-only resources (feed, live
events, outline, districts, @context, exports)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cityos.apps.shelters.access import login_redirect, sees_all
from cityos.apps.shelters.context import context_bytes
from cityos.apps.shelters.exports import csv_text, ngsi_ld_entities
from cityos.apps.shelters.feed import ShelterFeed
from cityos.apps.shelters.geodata import outline_bytes, towns, towns_bytes
from cityos.apps.shelters.i18n import LABELS, language_of
from cityos.apps.shelters.live import LiveHub, TooManyListeners
from cityos.apps.shelters.model import CROWDING_LEVELS, HAZARDS, SHELTER_KINDS
from cityos.config import Settings
from cityos.security.headers import content_security_policy, origin_of
from cityos.security.principal import principal_of

HERE = Path(__file__).parent
FEED_MAX_AGE = 5
STATIC_MAX_AGE = 3600
_env = Environment(loader=FileSystemLoader(HERE / "templates"),
                   autoescape=select_autoescape(["html"]))
_SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


class SheltersWeb:
    def __init__(self, settings: Settings, feed: ShelterFeed, hub: LiveHub) -> None:
        self.settings = settings
        self.feed = feed
        self.hub = hub
        self._pages: dict[str, bytes] = {}
        # The strict policy, plus the base-map tile server the page loads images from.
        self._policy = content_security_policy([origin_of(settings.map_tile_url)])

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/shelters", self.map_page), Route("/shelters/staff", self.staff_page),
            Route("/shelters/feed.geojson", self.geojson_feed),
            Route("/shelters/events", self.events),
            Route("/shelters/outline.geojson", self.outline),
            Route("/shelters/districts.json", self.districts),
            Route("/shelters/context.jsonld", self.context, name="shelters-context"),
            Route("/shelters/export.csv", self.export_csv),
            Route("/shelters/export.jsonld", self.export_ngsi_ld),
            Mount("/shelters/static/leaflet", _CachedStatic(
                directory=xstatic.pkg.leaflet.BASE_DIR), name="shelters-leaflet"),
            Mount("/shelters/static", _CachedStatic(directory=HERE / "static"),
                  name="shelters-static"),
        ]

    # -- pages -------------------------------------------------------------------------
    def _language(self, request: Request) -> str:
        return language_of(request.query_params.get("lang"), request.cookies.get("lang"))

    def _render(self, template: str, lang: str, **extra: Any) -> bytes:
        labels = LABELS[lang]
        return _env.get_template(template).render(
            lang=lang, t=labels, hazards=list(HAZARDS.values()), levels=CROWDING_LEVELS,
            kinds=SHELTER_KINDS, towns=towns(), tile_url=self.settings.map_tile_url,
            tile_attribution=self.settings.map_tile_attribution, **extra).encode()

    async def map_page(self, request: Request) -> Response:
        """The public page is the same for everyone of a language: rendered once."""
        lang = self._language(request)
        body = self._pages.get(lang)
        if body is None:
            body = self._pages[lang] = self._render("map.html", lang)
        return _html(body, lang, request, cache="public, max-age=60",
                     policy=self._policy)

    async def staff_page(self, request: Request) -> Response:
        target = login_redirect(request)
        if target is not None:
            return RedirectResponse(target, status_code=303)
        lang = self._language(request)
        principal = principal_of(request.scope)
        body = self._render("staff.html", lang,
                            who=principal.display_name or principal.subject,
                            operator=principal.kind == "operator",
                            admin=sees_all(principal))
        return _html(body, lang, request, cache="no-store", policy=self._policy)

    # -- public resources --------------------------------------------------------------
    async def geojson_feed(self, request: Request) -> Response:
        body, etag = self.feed.body()
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={FEED_MAX_AGE}",
                   "Access-Control-Allow-Origin": "*"}
        if etag in request.headers.get("if-none-match", ""):
            return Response(status_code=304, headers=headers)
        return Response(body, media_type="application/geo+json", headers=headers)

    async def events(self, request: Request) -> Response:
        try:
            messages = self.hub.stream()
        except TooManyListeners:
            return Response("busy", status_code=503, headers={"Retry-After": "10"})
        return StreamingResponse(messages, media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def outline(self, request: Request) -> Response:
        return _static_json(outline_bytes(), "application/geo+json")

    async def districts(self, request: Request) -> Response:
        return _static_json(towns_bytes(), "application/json")

    async def context(self, request: Request) -> Response:
        return _static_json(context_bytes(), "application/ld+json")

    async def export_csv(self, request: Request) -> Response:
        text = "\ufeff" + csv_text(sorted(self.feed.shelters, key=lambda s: s.id))
        return Response(text.encode(), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="kaga_shelters.csv"'})

    async def export_ngsi_ld(self, request: Request) -> Response:
        context_url = str(request.url_for("shelters-context"))
        body = json.dumps(ngsi_ld_entities(sorted(self.feed.shelters, key=lambda s: s.id),
                                           context_url), ensure_ascii=False)
        return Response(body.encode(), media_type="application/ld+json")


class _CachedStatic(StaticFiles):
    async def get_response(self, path: str, scope: Any) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = f"public, max-age={STATIC_MAX_AGE}"
        return response


def _static_json(body: bytes, media_type: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Cache-Control": f"public, max-age={STATIC_MAX_AGE}",
                             "Access-Control-Allow-Origin": "*"})


def _html(body: bytes, lang: str, request: Request, cache: str, policy: str) -> Response:
    response = HTMLResponse(body, headers={**_SECURITY_HEADERS, "Cache-Control": cache,
                                           "Content-Language": lang, "Vary": "Cookie",
                                           "Content-Security-Policy": policy})
    if request.query_params.get("lang") == lang:
        response.set_cookie("lang", lang, max_age=365 * 86400, samesite="lax")
    return response
