"""Routes of the public sensor registry: the page (Japanese first, `?lang=en`), the open
data exports and the page's static files (its script, style and Leaflet)."""

from __future__ import annotations

from pathlib import Path

import orjson
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from cityos.broker.temporal_retention import RetentionPolicy
from cityos.config import Settings
from cityos.iot.directory import DeviceDirectory
from cityos.iot.sensor_registry import registry_csv, registry_geojson, registry_rows
from cityos.security.headers import content_security_policy, origin_of

STATIC = Path(__file__).parent / "static"
TEXT = {
    "ja": {"title": "センサー設置状況", "lead": "加賀市のデータ連携基盤にデータを送るセンサーの"
           "設置場所・目的・収集する項目・保存期間・運営者・個人情報の取得の有無を公開しています。",
           "map": "地図", "list": "一覧", "device": "センサー", "purpose": "目的",
           "data_items": "収集する項目", "retention": "保存期間", "operator": "運営者",
           "personal": "個人情報", "installed": "設置日", "last_seen": "最終受信",
           "location": "場所", "yes": "取得する", "no": "取得しない",
           "forever": "期間の定めなし", "days": "日", "never": "未受信",
           "download": "オープンデータ", "switch": "English", "count": "件",
           "none": "登録されたセンサーはありません。",
           "map_note": "地図上の印を選ぶと詳細を表示します。一覧にも同じ内容があります。"},
    "en": {"title": "Sensor registry", "lead": "Where each sensor feeding Kaga City's data "
           "platform is, why it is there, what it collects, how long data is kept, who "
           "operates it and whether it can capture personal data.",
           "map": "Map", "list": "List", "device": "Sensor", "purpose": "Purpose",
           "data_items": "Data collected", "retention": "Retention", "operator": "Operator",
           "personal": "Personal data", "installed": "Installed", "last_seen": "Last seen",
           "location": "Location", "yes": "Yes", "no": "No", "forever": "No limit",
           "days": "days", "never": "Not yet", "download": "Open data",
           "switch": "日本語", "count": "sensors", "none": "No sensors are registered.",
           "map_note": "Select a marker for details. The list below holds the same data."},
}
_templates = Environment(loader=PackageLoader("cityos.iot", "templates"),
                         autoescape=select_autoescape(["html"]))


def _leaflet_dir() -> str:
    import xstatic.pkg.leaflet as leaflet
    return str(leaflet.BASE_DIR)


class RegistryPages:
    def __init__(self, directory: DeviceDirectory, retention: RetentionPolicy,
                 settings: Settings) -> None:
        self.directory = directory
        self.retention = retention
        self.tiles = settings.map_tile_url
        self.tile_attribution = settings.map_tile_attribution
        # The strict policy, plus the base-map tile server the page loads images from.
        self.policy = content_security_policy([origin_of(settings.map_tile_url)])

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/sensors", self.page, methods=["GET"]),
            Route("/sensors.csv", self.csv, methods=["GET"]),
            Route("/sensors.geojson", self.geojson, methods=["GET"]),
            Mount("/sensors/static/leaflet", StaticFiles(directory=_leaflet_dir()),
                  name="sensors-leaflet"),
            Mount("/sensors/static", StaticFiles(directory=STATIC), name="sensors-static"),
        ]

    async def page(self, request: Request) -> Response:
        lang = "en" if request.query_params.get("lang") == "en" else "ja"
        rows = registry_rows(self.directory, self.retention)
        html = _templates.get_template("sensors.html").render(
            lang=lang, t=TEXT[lang], rows=rows, other="ja" if lang == "en" else "en",
            tiles=self.tiles, tile_attribution=self.tile_attribution)
        return HTMLResponse(html, headers={"Content-Security-Policy": self.policy})

    async def csv(self, request: Request) -> Response:
        rows = registry_rows(self.directory, self.retention)
        return Response(registry_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="sensors.csv"'})

    async def geojson(self, request: Request) -> Response:
        rows = registry_rows(self.directory, self.retention)
        return Response(orjson.dumps(registry_geojson(rows)),
                        media_type="application/geo+json")
