"""The browser fixture drives a real Chromium against a real page of the server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.browser_support import PHONE, screenshot_path
from tests.e2e.server import ServerProcess


def test_chromium_renders_a_page_of_the_server(browser: Any, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "c.db")
    try:
        page = browser.new_page(viewport=PHONE)
        page.goto(server.url + "/docs")
        assert page.title()
        page.screenshot(path=str(screenshot_path("api-docs-phone")))
        page.close()
    finally:
        server.stop()
    assert screenshot_path("api-docs-phone").stat().st_size > 0
