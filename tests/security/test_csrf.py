"""The reusable CSRF module, on a page of its own (as another app would use it)."""

from __future__ import annotations

import re

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from cityos.api import problem
from cityos.ngsild.errors import NgsiLdError
from cityos.security.csrf import (
    CSRF_COOKIE,
    CSRF_FIELD,
    check_csrf,
    csrf_token,
    read_form,
    remember_csrf_cookie,
)


async def form_page(request: Request) -> Response:
    token = csrf_token(request)
    response = HTMLResponse(f'<form method="post"><input name="{CSRF_FIELD}" '
                            f'value="{token}"><input name="note"></form>')
    remember_csrf_cookie(request, response)
    return response


async def form_post(request: Request) -> Response:
    form = await read_form(request)
    check_csrf(request, form)
    return PlainTextResponse(f"saved {form['note']}")


def app_client() -> TestClient:
    app = Starlette(routes=[Route("/note", form_page), Route("/note", form_post,
                                                               methods=["POST"])],
                    exception_handlers={NgsiLdError: problem.on_ngsi_error})
    return TestClient(app, base_url="http://127.0.0.1:1026")


def token_of(html: str) -> str:
    found = re.search(r'value="([^"]+)"', html)
    assert found
    return found.group(1)


def test_a_post_with_the_page_token_is_accepted() -> None:
    client = app_client()
    page = client.get("/note")
    assert CSRF_COOKIE in page.headers["set-cookie"]
    assert "samesite=strict" in page.headers["set-cookie"].lower()
    answer = client.post("/note", data={CSRF_FIELD: token_of(page.text), "note": "ok"})
    assert answer.status_code == 200 and answer.text == "saved ok"
    # The cookie's token is kept across pages (several tabs work).
    assert token_of(client.get("/note").text) == token_of(page.text)


def test_posts_without_or_with_a_wrong_token_are_refused() -> None:
    client = app_client()
    page = client.get("/note")
    missing = client.post("/note", data={"note": "x"})
    assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
    wrong = client.post("/note", data={CSRF_FIELD: token_of(page.text)[:-2] + "zz",
                                       "note": "x"})
    assert wrong.status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_token() -> None:
    client = app_client()
    page = client.get("/note")
    answer = client.post("/note", headers={"Origin": "https://evil.example"},
                         data={CSRF_FIELD: token_of(page.text), "note": "x"})
    assert answer.status_code == 403


def test_non_form_bodies_are_a_bad_request() -> None:
    client = app_client()
    client.get("/note")
    answer = client.post("/note", json={"note": "x"})
    assert answer.status_code == 400
