"""The shelter issue's acceptance with security on (no development mode): a real
`cityos serve --demo`, a shelter-staff operator created with `cityos operators add`, made
responsible for 加賀市立金明小学校 by an NGSI-LD PATCH of `responsibleStaff` with an API key
(created with `cityos apikeys create`, allowed by `cityos policies grant`), then in
Chromium: password, TOTP enrolment (code computed with pyotp from the key the page shows),
the forced change of the one-time password, the staff page, 100 places and 85 evacuees →
the public map open before in an anonymous browser context shows 満 / full. Pages run under
the real Content-Security-Policy (no bypass). Screenshots at 360 px and desktop widths."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest

from tests.apps.shelters.browser_helpers import serious_violations
from tests.apps.shelters.support import KINMEI
from tests.browser_support import ARTIFACTS, DESKTOP, PHONE, screenshot_path
from tests.e2e.server import ServerProcess

STAFF = "kaga-staff"
NEW_PASSWORD = "山代温泉の湯けむり 2026"
ITEM = "#list li.shelter"
ASSIGNER_ROLE = "shelter-assigner"
ADMIN = "kaga-admin"
ADMIN_PASSWORD: list[str] = []  # the administrator's one-time password, once created
SECRETS: dict[str, tuple[str, int]] = {}  # username → TOTP key, time step of its last use


def cityos(database: Path, *args: str) -> str:
    """Run the real command line against the server's database; its standard output."""
    done = subprocess.run([sys.executable, "-m", "cityos", *args, "--database",
                           f"sqlite:///{database}"], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def secure_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess,
                                                                            str, str]]:
    """The server, the staff member's one-time password and the assigner's API key."""
    database = tmp_path_factory.mktemp("secure-shelters") / "cityos.db"
    added = cityos(database, "operators", "add", STAFF, "--role", "shelter-staff")
    password = re.search(r"one-time password: (\S+)", added)
    admin = re.search(r"one-time password: (\S+)",
                      cityos(database, "operators", "add", ADMIN, "--role", "admin"))
    assert admin
    ADMIN_PASSWORD.append(admin.group(1))
    key = re.search(r"key: (ck_\S+)", cityos(database, "apikeys", "create", "--name",
                                             "shelter assignments", "--role", ASSIGNER_ROLE))
    assert password and key
    cityos(database, "policies", "grant", "--audience", f"role:{ASSIGNER_ROLE}", "--op",
           "write", "--type", "EvacuationShelter", "--attr", "responsibleStaff")
    process = ServerProcess(database, None, "--demo", dev=False)
    try:
        yield process, password.group(1), key.group(1)
    finally:
        process.stop()


def assign(server: ServerProcess, api_key: str, shelter_id: str, subject: str) -> None:
    """What an administrator does (docs/shelters.md): PATCH responsibleStaff."""
    answer = httpx.patch(
        f"{server.url}/ngsi-ld/v1/entities/{shelter_id}/attrs",
        json={"responsibleStaff": {"type": "Property", "value": [subject]}},
        headers={"X-API-Key": api_key, "Content-Type": "application/json"}, timeout=10)
    assert answer.status_code == 204, answer.text


def test_security_is_on(secure_demo: tuple[ServerProcess, str, str]) -> None:
    server, _, api_key = secure_demo
    page = httpx.get(server.url + "/shelters/staff", timeout=10)
    assert page.status_code == 303
    assert page.headers["location"] == "/auth/login?next=/shelters/staff"
    assert httpx.get(server.url + "/shelters/api/staff/shelters",
                     timeout=10).status_code == 401
    # The assigner's key may change responsibleStaff only, nothing else of a shelter.
    other = httpx.patch(f"{server.url}/ngsi-ld/v1/entities/{KINMEI}/attrs",
                        json={"peopleOccupancy": {"type": "Property", "value": 1}},
                        headers={"X-API-Key": api_key}, timeout=10)
    assert other.status_code == 403, other.text


def _sign_in_first_time(page: Any, server: ServerProcess, password: str,
                        username: str = STAFF) -> None:
    """Password, TOTP enrolment, recovery codes, new password, back to the staff page."""
    page.goto(server.url + "/shelters/staff")
    page.wait_for_url("**/auth/login?next=/shelters/staff")
    _screenshot_both(page, "staff_login_password")
    page.get_by_label("ユーザー名").fill(username)
    page.get_by_label("パスワード").fill(password)
    page.get_by_role("button", name="次へ").click()
    page.wait_for_url("**/auth/totp**")
    _screenshot_both(page, "staff_login_enrol")
    secret = page.locator("code.secret").inner_text().replace(" ", "")
    SECRETS[username] = (secret, int(time.time()) // 30)
    page.get_by_label("確認コード").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="確認").click()
    page.wait_for_selector("ul.codes")
    page.get_by_role("link", name="続ける").click()
    page.wait_for_url("**/auth/password**")
    page.get_by_label("現在のパスワード").fill(password)
    page.get_by_label("新しいパスワード", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("新しいパスワード（確認）").fill(NEW_PASSWORD)
    page.get_by_role("button", name="変更する").click()
    page.wait_for_url("**/shelters/staff")


def test_staff_signs_in_with_totp_and_the_open_public_map_shows_full(
        browser: Any, secure_demo: tuple[ServerProcess, str, str]) -> None:
    server, password, api_key = secure_demo
    assign(server, api_key, KINMEI, f"operator:{STAFF}")
    public_context = browser.new_context(viewport=PHONE, locale="ja-JP")
    staff_context = browser.new_context(viewport=PHONE, locale="ja-JP")
    console: list[str] = []
    try:
        public = public_context.new_page()
        public.on("console", lambda message: console.append(message.text))
        public.goto(server.url + "/shelters")
        public.locator(ITEM).nth(80).wait_for()
        public.locator("#status-line", has_text="自動更新中").wait_for()
        staff = staff_context.new_page()
        staff.on("console", lambda message: console.append(message.text))
        _sign_in_first_time(staff, server, password)
        # Only the shelter this operator is responsible for.
        card = staff.locator("#staff-list li.card")
        card.first.wait_for()
        assert card.count() == 1
        assert "加賀市立金明小学校" in card.inner_text()
        assert STAFF in staff.locator("body").inner_text()
        card.locator("button.toggle").click()
        card.locator("button.toggle:has-text('閉鎖する')").wait_for()
        card.locator("input.capacity").fill("100")
        card.locator("input.count").fill("85")
        saved_at = time.monotonic()
        card.locator("button.save").click()
        full = public.locator(f"{ITEM}[data-id='{KINMEI}'][data-state='full']")
        full.wait_for(timeout=15_000)  # the target is 2 s; generous for a busy machine
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "shelters_secure_live_latency.json").write_text(json.dumps(
            {"staff_save_to_public_full_seconds": round(time.monotonic() - saved_at, 3)}))
        assert "満" in full.inner_text()
        assert "避難者数 85 / 収容人数 100" in full.inner_text()
        card.locator(".badge.state-full").wait_for()
        _screenshot_both(staff, "staff_signed_in")
        _screenshot_both(public, "staff_public_map_full", full_page=False)
        full.scroll_into_view_if_needed()
        _screenshot_both(public, "staff_public_map_full_item", full_page=False)
        staff.get_by_role("link", name="アカウント・ログアウト").click()
        staff.get_by_role("button", name="ログアウト").click()
        staff.wait_for_url("**/auth/login**")
        staff.goto(server.url + "/shelters/staff")  # signed out: back to the login
        staff.wait_for_url("**/auth/login?next=/shelters/staff")
        # Every page of the way ran under its real policy without breaking it.
        assert [m for m in console if "Content Security Policy" in m] == []
    finally:
        staff_context.close()
        public_context.close()


def test_a_password_only_session_cannot_reach_the_staff_api(
        browser: Any, secure_demo: tuple[ServerProcess, str, str]) -> None:
    """Runs after the enrolment above: the password is the operator's own by now."""
    server, _, _ = secure_demo
    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    try:
        page = context.new_page()
        page.goto(server.url + "/auth/login?next=/shelters/staff")
        page.get_by_label("ユーザー名").fill(STAFF)
        page.get_by_label("パスワード").fill(NEW_PASSWORD)
        page.get_by_role("button", name="次へ").click()
        page.wait_for_url("**/auth/totp**")  # the second factor is asked, not given
        api = context.request.get(server.url + "/shelters/api/staff/shelters")
        assert api.status in (401, 403), api.text()
        write = context.request.patch(
            f"{server.url}/shelters/api/shelters/{KINMEI}", data={"occupancy": 1},
            headers={"X-Requested-With": "cityos"})
        assert write.status in (401, 403), write.text()
        staff_page = context.request.get(server.url + "/shelters/staff", max_redirects=0)
        assert staff_page.status in (303, 403)
    finally:
        context.close()


def test_anonymous_visit_to_the_staff_page_goes_to_the_login(
        browser: Any, secure_demo: tuple[ServerProcess, str, str]) -> None:
    server, _, _ = secure_demo
    context = browser.new_context(viewport=PHONE, locale="ja-JP")
    try:
        page = context.new_page()
        page.goto(server.url + "/shelters/staff")
        page.wait_for_url("**/auth/login?next=/shelters/staff")
        assert page.get_by_label("ユーザー名").is_visible()
    finally:
        context.close()


def test_an_administrator_assigns_staff_on_the_staff_page(
        browser: Any, secure_demo: tuple[ServerProcess, str, str]) -> None:
    """After the staff member's test: the administrator adds 塩屋地区会館 to their
    shelters on the staff page; the staff member's list then has both."""
    server, _, _ = secure_demo
    # bypass_csp for axe-core only (a script the policy forbids); the staff member's
    # test above and tests/test_pages_csp.py run the pages under the policy.
    admin_context = browser.new_context(viewport=PHONE, locale="ja-JP", bypass_csp=True)
    staff_context = browser.new_context(viewport=PHONE, locale="ja-JP")
    try:
        admin = admin_context.new_page()
        _sign_in_first_time(admin, server, ADMIN_PASSWORD[0], ADMIN)
        admin.locator("#staff-list li.card").nth(80).wait_for()  # an admin sees all
        admin.fill("#search", "加賀市立塩屋地区会館")
        card = admin.locator("#staff-list li.card", has_text="加賀市立塩屋地区会館")
        names = card.get_by_label("担当職員（ユーザー名）")
        assert names.input_value() == ""
        names.fill(STAFF)
        card.get_by_role("button", name="担当職員を保存").click()
        admin.locator("#status-line", has_text="保存しました").wait_for()
        card.scroll_into_view_if_needed()
        _screenshot_both(admin, "staff_admin_assignment", full_page=False)
        for viewport in (PHONE, DESKTOP):  # the administrator's page, assignment fields
            admin.set_viewport_size(viewport)
            assert serious_violations(admin) == []
        admin.set_viewport_size(PHONE)
        admin.reload()  # stored, not only shown
        admin.fill("#search", "加賀市立金明小学校")
        kinmei = admin.locator("#staff-list li.card", has_text="加賀市立金明小学校")
        assert kinmei.get_by_label("担当職員（ユーザー名）").input_value() == STAFF
        staff = staff_context.new_page()
        staff.goto(server.url + "/auth/login?next=/shelters/staff")
        staff.get_by_label("ユーザー名").fill(STAFF)
        staff.get_by_label("パスワード").fill(NEW_PASSWORD)
        staff.get_by_role("button", name="次へ").click()
        staff.wait_for_url("**/auth/totp**")
        assert staff.locator("code.secret").count() == 0  # enrolled: a code, no QR now
        staff.get_by_label("確認コード").fill(_fresh_code(STAFF))
        staff.get_by_role("button", name="確認").click()
        staff.wait_for_url("**/shelters/staff")
        staff.locator("#staff-list li.card").nth(1).wait_for()
        shown = staff.locator("#staff-list li.card .card-name").all_inner_texts()
        assert sorted(shown) == ["加賀市立塩屋地区会館", "加賀市立金明小学校"]
        assert staff.locator(".assign-names").count() == 0  # staff do not assign
    finally:
        staff_context.close()
        admin_context.close()


def _fresh_code(username: str) -> str:
    """A TOTP code of a time step not used yet (a code works once per step): the next
    step's while the last one used is still current (accepted: one step of drift)."""
    secret, used = SECRETS[username]
    step = max(int(time.time()) // 30, used + 1)
    SECRETS[username] = (secret, step)
    return str(pyotp.TOTP(secret).at(step * 30))


def _screenshot_both(page: Any, name: str, full_page: bool = True) -> None:
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(300)
        page.screenshot(path=str(screenshot_path(f"{name}_{label}")), full_page=full_page)
    page.set_viewport_size(PHONE)
