"""Every page a person opens, in Chromium under the page's real Content-Security-Policy
(no bypass): no `securitypolicyviolation` event, no console message about the policy, no
script error, and the page's main content actually rendered. The browser tests of each
app bypass the policy for their own probes (axe-core, wait_for_function); this file is
the one that loads the pages as a resident's browser does. A probe page that breaks the
policy on purpose shows the check can fail."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from cityos.security.headers import CONTENT_SECURITY_POLICY
from tests.browser_support import PHONE
from tests.e2e.server import ServerProcess

# Collects violations from the first moment of every document (init scripts are added by
# the browser's debugging protocol, not subject to the page's policy).
WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " " + (e.blockedURI || "inline") +
                              " " + (e.sourceFile || "") + ":" + e.lineNumber);
});
"""


@dataclass
class Watched:
    page: Any
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        found: list[str] = self.page.evaluate("() => window.__cspViolations || []")
        policy = [m for m in self.console if "Content Security Policy" in m]
        return found + policy + self.errors


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("csp") / "city.db", None, "--demo")
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def watched(browser: Any) -> Iterator[Watched]:
    context = browser.new_context(viewport=PHONE, locale="ja-JP")  # bypass_csp stays off
    context.add_init_script(WATCH)
    # No base-map tile server is reachable here: refuse tile requests at once.
    context.route("https://cyberjapandata.gsi.go.jp/**", lambda route: route.abort())
    page = context.new_page()
    found = Watched(page)
    page.on("console", lambda message: found.console.append(message.text))
    page.on("pageerror", lambda error: found.errors.append(f"page error: {error}"))
    try:
        yield found
    finally:
        context.close()


def open_strict(watched: Watched, url: str) -> Any:
    """Go to a page and check it came with the strict policy (no inline script/style)."""
    answer = watched.page.goto(url)
    assert answer is not None and answer.status == 200, url
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "style-src 'self';" in policy, policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, policy
    return watched.page


def test_the_check_sees_a_violation(server: ServerProcess, watched: Watched) -> None:
    """A page with an inline script and an inline style under the strict policy."""
    probe = server.url + "/csp-probe"
    watched.page.route(probe, lambda route: route.fulfill(
        status=200, content_type="text/html", headers={
            "Content-Security-Policy": CONTENT_SECURITY_POLICY},
        body='<!doctype html><p style="color:red">x</p><script>document.title="x"</script>'))
    watched.page.goto(probe)
    watched.page.locator("p").wait_for()
    problems = watched.problems()
    assert any("script-src" in p for p in problems), problems
    assert any("style-src" in p for p in problems), problems


def test_public_shelter_map(server: ServerProcess, watched: Watched) -> None:
    page = open_strict(watched, server.url + "/shelters")
    page.locator("#list li.shelter").nth(80).wait_for()
    page.locator("#status-line", has_text="自動更新中").wait_for()
    assert page.locator(".leaflet-marker-icon").count() == 83
    assert page.locator(".leaflet-overlay-pane path").count() > 0  # the city outline
    page.click("a.lang")  # the English page too
    page.locator("html[lang=en]").wait_for()
    page.locator("#list li.shelter").nth(80).wait_for()
    assert watched.problems() == []


def test_staff_page(server: ServerProcess, watched: Watched) -> None:
    page = open_strict(watched, server.url + "/shelters/staff")  # development mode: no login
    page.locator("#staff-list li.card").nth(10).wait_for()
    assert page.locator("#add-map.leaflet-container").count() == 1
    page.fill("#search", "金明")
    page.locator("#staff-list li.card", has_text="加賀市立金明小学校").wait_for()
    assert watched.problems() == []


def test_twin_page_runs_a_scenario(server: ServerProcess, watched: Watched) -> None:
    page = open_strict(watched, server.url + "/twin")
    assert page.locator("#scenario option").count() >= 2
    page.select_option("#scenario", "flood-ryokan")
    page.click("#run")
    page.locator("#shelter-table tbody tr").first.wait_for(timeout=120_000)
    assert page.locator("#curve svg polyline").count() == 2
    assert watched.problems() == []


def test_sensor_registry(server: ServerProcess, watched: Watched) -> None:
    page = open_strict(watched, server.url + "/sensors")
    page.locator("#sensor-map.leaflet-container").wait_for()
    page.locator("#sensor-map .leaflet-control-zoom").wait_for()
    assert page.locator("h2#list-heading").count() == 1
    assert watched.problems() == []


def test_login_page(server: ServerProcess, watched: Watched) -> None:
    page = open_strict(watched, server.url + "/auth/login?next=/shelters/staff")
    assert page.get_by_label("ユーザー名").is_visible()
    assert page.get_by_role("button", name="次へ").is_visible()
    # The stylesheet applied (served from this origin): the button is not the default grey.
    colour = page.locator("button[type=submit]").evaluate(
        "b => getComputedStyle(b).backgroundColor")
    assert colour not in ("rgb(239, 239, 239)", "rgba(0, 0, 0, 0)")
    assert watched.problems() == []


def test_api_docs_page(server: ServerProcess, watched: Watched) -> None:
    page = watched.page
    answer = page.goto(server.url + "/docs")
    assert answer is not None and answer.status == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    assert page.locator("h1").count() == 1
    assert page.locator("code", has_text="/ngsi-ld/v1/entities").count() > 0
    assert watched.problems() == []
