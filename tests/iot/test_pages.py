"""The sensor registry page in a real browser, on a phone-sized screen: the demo sensors
listed and on the map, the language switch, keyboard reachable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser_support import PHONE, screenshot_path
from tests.e2e.server import ServerProcess


def test_registry_page_on_a_phone(browser: Any, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "db.sqlite", None, "--demo")
    try:
        page = browser.new_page(viewport=PHONE)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(server.url + "/sensors")
        assert page.locator("h1").inner_text() == "センサー設置状況"
        assert page.locator(".sensors > li").count() == 5
        page.wait_for_selector("#sensor-map[data-markers='5']", timeout=15_000)
        assert page.locator(".leaflet-marker-icon").count() == 5
        page.screenshot(path=str(screenshot_path("sensor-registry-ja-phone")), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"]  # no sideways scrolling on a phone
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent").strip() == "English"
        page.keyboard.press("Enter")
        page.wait_for_url("**/sensors?lang=en")
        assert page.locator("h1").inner_text() == "Sensor registry"
        page.wait_for_selector("#sensor-map[data-markers='5']", timeout=15_000)
        marker = page.locator(".leaflet-marker-icon").first
        marker.focus()  # markers are reachable by keyboard; Enter opens the popup
        page.keyboard.press("Enter")
        assert page.locator(".leaflet-popup-content h3").inner_text().startswith("people-")
        page.wait_for_timeout(600)  # let the popup finish panning into view
        page.screenshot(path=str(screenshot_path("sensor-registry-en-phone")))
        assert errors == []
    finally:
        server.stop()
