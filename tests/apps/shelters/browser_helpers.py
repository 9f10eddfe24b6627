"""Browser helpers of the shelter tests: signing staff in, axe-core, distances."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.browser_support import ARTIFACTS


def sign_in_as_staff(page: Any, base_url: str) -> None:
    """Open the staff app as a shelter staff member. These tests' server runs in
    development mode, where everyone is the developer, so there is nothing to fill in.
    The sign-in with password and TOTP (security on) is tested in
    test_staff_login_browser.py."""
    page.goto(base_url + "/shelters/staff")


def axe_script() -> Path:
    """axe-core (MPL-2.0) for the accessibility checks: CITYOS_AXE_JS, or installed with
    npm into test-artifacts/ (ignored by git) on first use. Under CI=true a missing axe
    fails the test."""
    given = os.environ.get("CITYOS_AXE_JS")
    if given:
        return Path(given)
    prefix = ARTIFACTS / "node"
    script = prefix / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists() and shutil.which("npm"):
        prefix.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-save", "--prefix", str(prefix),
                        "axe-core@4"], check=False, timeout=300, capture_output=True)
    if not script.exists():
        message = "axe-core is needed: set CITYOS_AXE_JS or make npm available"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return script


def serious_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's WCAG 2.1 A/AA violations of impact serious or critical on the page."""
    page.add_script_tag(path=str(axe_script()))
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {runOnly: {type: "tag",
            values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Haversine distance of two (lat, lon) points, as the page computes it."""
    rad = math.pi / 180
    d_lat, d_lon = (b[0] - a[0]) * rad, (b[1] - a[1]) * rad
    h = math.sin(d_lat / 2) ** 2 + math.cos(a[0] * rad) * math.cos(b[0] * rad) * \
        math.sin(d_lon / 2) ** 2
    return 12742 * math.asin(math.sqrt(h))
