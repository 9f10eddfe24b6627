"""The login and TOTP enrolment pages in a real browser at phone width (360 px):
password, QR enrolment, recovery codes, English switch. Screenshots go to
test-artifacts/ for a person to look at."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from tests.browser_support import PHONE, screenshot_path
from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("browser") / "cityos.db")
    try:
        yield process
    finally:
        process.stop()


def new_operator(server: ServerProcess, username: str) -> str:
    answer = httpx.post(f"{server.url}/admin/operators",
                        json={"username": username, "roles": ["admin"]}, timeout=10)
    assert answer.status_code == 201
    return str(answer.json()["oneTimePassword"])


def test_login_and_enrolment_on_a_phone(browser: Any, server: ServerProcess) -> None:
    password = new_operator(server, "kaga-admin")
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{server.url}/auth/login?next=/auth/account")
        assert page.locator("html").get_attribute("lang") == "ja"
        page.screenshot(path=str(screenshot_path("identity-login-ja-360")), full_page=True)
        # Labels name the fields (what a screen reader announces).
        page.get_by_label("ユーザー名").fill("kaga-admin")
        page.get_by_label("パスワード").fill(password)
        page.get_by_role("button", name="次へ").click()
        page.wait_for_url("**/auth/totp**")
        assert page.locator("svg").count() >= 1
        page.screenshot(path=str(screenshot_path("identity-enrol-ja-360")), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the enrolment page scrolls sideways on a phone"
        secret = page.locator("code.secret").inner_text().replace(" ", "")
        page.get_by_label("確認コード").fill("000000" if pyotp.TOTP(secret).now() != "000000"
                                         else "111111")
        page.get_by_role("button", name="確認").click()
        assert page.get_by_role("alert").is_visible()  # wrong code: a visible message
        page.screenshot(path=str(screenshot_path("identity-enrol-error-ja-360")),
                        full_page=True)
        page.get_by_label("確認コード").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="確認").click()
        page.wait_for_selector("ul.codes")
        assert page.locator("ul.codes li").count() == 10
        page.screenshot(path=str(screenshot_path("identity-recovery-ja-360")), full_page=True)
        page.get_by_role("link", name="続ける").click()
        page.wait_for_url("**/auth/password**")
        page.screenshot(path=str(screenshot_path("identity-password-ja-360")), full_page=True)
        page.get_by_label("現在のパスワード").fill(password)
        page.get_by_label("新しいパスワード", exact=True).fill("加賀の海と山と温泉 2026")
        page.get_by_label("新しいパスワード（確認）").fill("加賀の海と山と温泉 2026")
        page.get_by_role("button", name="変更する").click()
        page.wait_for_url("**/auth/account")
        assert "kaga-admin" in page.content()
        page.get_by_role("link", name="English").click()
        assert page.locator("html").get_attribute("lang") == "en"
        page.screenshot(path=str(screenshot_path("identity-account-en-360")), full_page=True)
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/auth/login**")
    finally:
        page.close()


def test_keyboard_only_login_form(browser: Any, server: ServerProcess,
                                  tmp_path: Path) -> None:
    password = new_operator(server, "keyboard-user")
    page = browser.new_page(viewport=PHONE)
    try:
        page.goto(f"{server.url}/auth/login?lang=en")
        # The username field takes the focus by itself (autofocus), then keys only.
        page.wait_for_function("document.activeElement && "
                               "document.activeElement.id === 'username'")
        page.keyboard.type("keyboard-user")
        page.keyboard.press("Tab")
        page.keyboard.type(password)
        page.keyboard.press("Enter")
        page.wait_for_url("**/auth/totp**")
        assert page.get_by_label("Verification code").is_visible()
        page.screenshot(path=str(screenshot_path("identity-enrol-en-360")), full_page=True)
    finally:
        page.close()
