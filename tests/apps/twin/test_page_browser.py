"""The /twin page in a real browser (Debian Chromium) against a real `cityos serve`."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser_support import DESKTOP, PHONE, screenshot_path
from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("twin") / "city.db", None, "--demo")
    try:
        yield process
    finally:
        process.stop()


def _run(browser: Any, server: ServerProcess, viewport: dict[str, int], lang: str,
         scenario: str) -> Any:
    # bypass_csp: wait_for_function is a script the page's policy forbids;
    # tests/test_pages_csp.py loads the pages under the policy.
    page = browser.new_page(viewport=viewport, bypass_csp=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/twin?lang={lang}")
    page.select_option("#scenario", scenario)
    page.click("#run")
    page.wait_for_selector("#shelter-table tbody tr", timeout=90_000)
    page.wait_for_timeout(500)
    assert errors == []
    return page


def test_desktop_run_shows_map_curve_table_and_synthetic_note(browser: Any,
                                                              server: ServerProcess) -> None:
    page = _run(browser, server, DESKTOP, "ja", "flood-ryokan")
    assert "合成" in page.inner_text("#synthetic")
    assert page.locator("#shelter-table tbody tr").count() == 86  # 83 GSI facilities + 3 ryokan
    assert page.locator("#curve svg polyline").count() == 2
    # shelters, routes, closed and bottleneck links drawn on the map's canvas
    assert int(page.get_attribute("#twin", "data-map-layers") or 0) > 1000
    assert "満員" in page.inner_text("#shelter-table")  # a word, not only a colour
    links = [page.get_attribute(f"#downloads li:nth-child({i}) a", "href") for i in (1, 2, 3)]
    assert all(link and link.startswith("/twin/api/runs/") for link in links)
    page.screenshot(path=str(screenshot_path("twin-desktop-ja")), full_page=False)
    first_run = page.get_attribute("#twin", "data-run")
    page.select_option("#scenario", "flood-baseline")
    page.click("#run")
    page.wait_for_function(f"document.getElementById('twin').dataset.run !== '{first_run}'",
                           timeout=90_000)
    page.wait_for_selector("#compare-table tbody tr", timeout=30_000)
    assert "旅館" in page.inner_text("#compare-a") and "基本" in page.inner_text("#compare-b")
    assert page.locator("#compare-table tbody tr").count() == 6
    page.locator("#compare-section").screenshot(path=str(screenshot_path("twin-compare")))
    page.close()


def test_phone_layout_in_english_is_keyboard_usable(browser: Any,
                                                    server: ServerProcess) -> None:
    page = browser.new_page(viewport=PHONE)
    page.goto(f"{server.url}/twin?lang=en")
    page.keyboard.press("Tab")  # the language switch
    page.keyboard.press("Tab")  # the scenario select
    assert page.evaluate("document.activeElement.id") == "scenario"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # the run button
    page.wait_for_selector("#shelter-table tbody tr", timeout=90_000)
    assert "synthetic" in page.inner_text("#synthetic")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"]  # nothing wider than the phone
    page.screenshot(path=str(screenshot_path("twin-phone-en")), full_page=True)
    page.close()

