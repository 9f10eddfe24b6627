"""The shelter pages in a real browser (Debian Chromium) against a real server with the
Kaga demo: a staff change reaches the public map already open in another page; language
switch; sorting by distance; filters; accessibility (axe-core); screenshots at phone and
desktop widths in test-artifacts/. No base-map tile is reachable here: the map must still
show markers and the city outline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.apps.shelters.browser_helpers import (
    distance_km,
    serious_violations,
    sign_in_as_staff,
)
from tests.apps.shelters.support import KINMEI
from tests.browser_support import ARTIFACTS, DESKTOP, PHONE, screenshot_path
from tests.e2e.server import ServerProcess

KATAYAMAZU = (36.3440, 136.3560)  # near 片山津温泉
ITEM = "#list li.shelter"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("shelters") / "c.db", None, "--demo")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    # bypass_csp: the test's own probes (wait_for_function, axe-core) are scripts the
    # pages' policy forbids; tests/test_pages_csp.py loads the pages under the policy.
    context = browser.new_context(viewport=PHONE, locale="ja-JP", bypass_csp=True,
                                  geolocation={"latitude": KATAYAMAZU[0],
                                               "longitude": KATAYAMAZU[1]},
                                  permissions=["geolocation"])
    try:
        yield context
    finally:
        context.close()


def _open_map(context: Any, url: str) -> Any:
    page = context.new_page()
    page.goto(url + "/shelters")
    page.wait_for_function("document.querySelectorAll('#list li.shelter').length > 80")
    page.wait_for_selector("#status-line:has-text('自動更新中')")
    return page


def _shelter_card(staff: Any, name: str) -> Any:
    staff.fill("#search", name)
    card = staff.locator("#staff-list li.card", has_text=name)
    card.wait_for()
    return card


def test_a_staff_change_reaches_the_open_public_map(server: ServerProcess,
                                                     context: Any) -> None:
    public = _open_map(context, server.url)
    assert public.locator(".leaflet-marker-icon").count() == 83
    assert public.locator("path.leaflet-interactive, .leaflet-overlay-pane path").count() > 0
    staff = context.new_page()
    sign_in_as_staff(staff, server.url)
    card = _shelter_card(staff, "加賀市立金明小学校")
    card.locator("button.toggle").click()
    card.locator("button.toggle:has-text('閉鎖する')").wait_for()
    card.locator("input.capacity").fill("100")
    card.locator("input.count").fill("85")
    saved_at = time.monotonic()
    card.locator("button.save").click()
    full = public.locator(f"{ITEM}[data-id='{KINMEI}'][data-state='full']")
    full.wait_for(timeout=15_000)
    latency = time.monotonic() - saved_at
    _record("shelters_live_latency", {"staff_save_to_public_full_seconds": round(latency, 3)})
    assert "満" in full.inner_text()
    assert "避難者数 85 / 収容人数 100" in full.inner_text()
    assert public.locator(".marker.state-full", has_text="満").count() == 1
    card.locator(".badge.state-full").wait_for()
    _screenshots(public, "shelters_public", full)
    _screenshots(staff, "shelters_staff", card)
    public.check("#open-only")
    assert public.locator(ITEM).count() == 1


def test_language_switch(server: ServerProcess, context: Any) -> None:
    page = _open_map(context, server.url)
    assert page.locator("html").get_attribute("lang") == "ja"
    page.click("a.lang")
    page.wait_for_function("document.documentElement.lang === 'en'")
    page.wait_for_function("document.querySelectorAll('#list li.shelter').length > 80")
    assert page.locator("h1").inner_text() == "Kaga City shelters: open and crowding status"
    assert page.locator(".legend").inner_text().count("Full") == 1
    page.screenshot(path=str(screenshot_path("shelters_public_en_phone")))
    page.goto(server.url + "/shelters")  # the choice is remembered
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(server.url + "/shelters?lang=ja")


def test_list_sorted_by_distance(server: ServerProcess, context: Any) -> None:
    features = httpx.get(server.url + "/shelters/feed.geojson").json()["features"]

    def nearest(origin: tuple[float, float]) -> list[str]:
        ranked = sorted(features, key=lambda f: distance_km(
            origin, (f["geometry"]["coordinates"][1], f["geometry"]["coordinates"][0])))
        return [f["id"] for f in ranked[:5]]

    page = _open_map(context, server.url)
    page.click("#locate")
    page.wait_for_selector(f"{ITEM} .meta:has-text('km')")
    shown = [page.locator(ITEM).nth(n).get_attribute("data-id") for n in range(5)]
    assert shown == nearest(KATAYAMAZU)
    option = page.locator("#district option", has_text="山中温泉").first
    value = option.get_attribute("value")
    assert value is not None
    page.select_option("#district", value=value)
    lat, lon = (float(part) for part in value.split(","))
    page.wait_for_function(
        "id => document.querySelector('#list li.shelter').dataset.id === id",
        arg=nearest((lat, lon))[0])
    shown = [page.locator(ITEM).nth(n).get_attribute("data-id") for n in range(5)]
    assert shown == nearest((lat, lon))


def test_hazard_filter(server: ServerProcess, context: Any) -> None:
    page = _open_map(context, server.url)
    page.select_option("#hazard", "volcano")
    page.wait_for_function("document.querySelectorAll('#list li.shelter').length < 10")
    volcano = [f for f in httpx.get(server.url + "/shelters/feed.geojson").json()["features"]
               if "volcano" in f["properties"]["hazardTypes"]]
    assert page.locator(ITEM).count() == len(volcano) >= 1


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_no_serious_accessibility_violations(server: ServerProcess, context: Any,
                                             viewport: dict[str, int]) -> None:
    public = _open_map(context, server.url)
    public.set_viewport_size(viewport)
    assert serious_violations(public) == []
    staff = context.new_page()
    staff.set_viewport_size(viewport)
    sign_in_as_staff(staff, server.url)
    staff.wait_for_selector("#staff-list li.card")
    assert serious_violations(staff) == []


def test_keyboard_reaches_the_list(server: ServerProcess, context: Any) -> None:
    page = _open_map(context, server.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.id")
    assert focused == "hazard"


def test_keyboard_opens_a_shelter_from_the_list(server: ServerProcess, context: Any) -> None:
    """Markers are not keyboard stops (83 of them); the list is the keyboard route: each
    shelter's name is a button announced with its state, and Enter shows it on the map."""
    page = _open_map(context, server.url)
    first = page.locator(f"{ITEM} button.name").first
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('name')"):
            break
    assert page.evaluate("document.activeElement === document.querySelector("
                         "'#list li.shelter button.name')")
    name = first.inner_text()
    described = page.evaluate("""() => {
        const b = document.activeElement;
        return document.getElementById(b.getAttribute('aria-describedby')).innerText;
    }""")
    state = page.locator(f"{ITEM} .state-line").first.inner_text()
    assert described == state and state.strip() != ""
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # a visible focus indicator
    page.keyboard.press("Enter")
    popup = page.locator(".leaflet-popup-content", has_text=name)
    popup.wait_for()
    assert page.evaluate("document.activeElement.classList.contains('name')")  # kept


def _screenshots(page: Any, name: str, focus: Any) -> None:
    """The top of the page and the part around `focus`, at phone and desktop widths."""
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.evaluate("window.scrollTo(0, 0)")
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshot_path(f"{name}_{label}")))
        focus.scroll_into_view_if_needed()
        page.wait_for_timeout(200)
        page.screenshot(path=str(screenshot_path(f"{name}_{label}_detail")))


def _record(name: str, values: dict[str, float]) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    Path(ARTIFACTS / f"{name}.json").write_text(json.dumps(values))


def test_staff_add_a_temporary_shelter(server: ServerProcess, context: Any) -> None:
    public = _open_map(context, server.url)
    before = public.locator(".leaflet-marker-icon").count()
    staff = context.new_page()
    sign_in_as_staff(staff, server.url)
    staff.wait_for_selector("#staff-list li.card")
    staff.fill("#add-name", "山代温泉 旅館の臨時避難所")
    staff.select_option("#add-kind", "ryokan")
    staff.fill("#add-address", "石川県加賀市山代温泉18")
    staff.click("#find-address")
    staff.wait_for_function("document.getElementById('add-lat').value !== ''")
    assert staff.input_value("#add-lat").startswith("36.2")
    box = staff.locator("#add-map").bounding_box()
    assert box is not None
    staff.fill("#add-lat", "")
    staff.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # tap
    assert staff.input_value("#add-lat").startswith("36.2")
    assert staff.locator("#add-map .leaflet-marker-icon").count() == 1
    staff.click("#add-form button[type=submit]")
    staff.wait_for_selector("#status-line:has-text('保存しました')")
    public.wait_for_function(f"document.querySelectorAll('.leaflet-marker-icon').length"
                             f" === {before + 1}")
    item = public.locator(ITEM, has_text="山代温泉 旅館の臨時避難所")
    assert "臨時避難所" in item.inner_text() and "利用停止中" in item.inner_text()
