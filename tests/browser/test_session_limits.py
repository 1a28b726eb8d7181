"""PROTOCOL §9's connection limit as a person meets it: with more tabs open than
COUP_WS_MAX_SESSIONS_PER_USER allows, the server closes the oldest with 1008 "too many
connections". That tab says so and offers to reconnect, and the person stays signed in; a 1008
for a revoked session (signed out from another browser) still signs every open tab out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DESKTOP,
    PASSWORD,
    WebServer,
    api_post,
    serving_coup,
    sign_up_through_api,
)

MAX_TABS = 2
TOO_MANY_TABS = "이 탭의 실시간 연결이 끊어졌습니다"


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """A `coup serve` like the shared one, but allowing only MAX_TABS sockets per user."""
    with serving_coup(tmp_path_factory.mktemp("coup-limits"), "browser-limits",
                      COUP_WS_MAX_SESSIONS_PER_USER=str(MAX_TABS)) as server:
        yield server


@pytest.fixture()
def new_context(browser: Any, limited_server: WebServer) -> Iterator[Any]:
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(base_url=limited_server.base_url, viewport=DESKTOP,
                                      locale="ko-KR", timezone_id="Asia/Seoul")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def open_tab(context: Any, name: str) -> Any:
    page = context.new_page()
    page.goto("/dashboard")
    expect(page.get_by_role("heading", name=f"안녕하세요, {name}님")).to_be_visible()
    connected(page)
    return page


def connected(page: Any) -> None:
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")


def signed_out(page: Any) -> None:
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    expect(page.get_by_role("heading", name="로그인")).to_be_visible()


def test_too_many_tabs_close_the_oldest_without_signing_out_and_a_revoked_session_still_does(
        new_context: Any) -> None:
    browser_a = new_context()
    user = sign_up_through_api(browser_a, "한서윤")
    first = open_tab(browser_a, "한서윤")
    second = open_tab(browser_a, "한서윤")

    # One tab more than allowed: the oldest is told why, and is not signed out.
    third = open_tab(browser_a, "한서윤")
    notice = first.get_by_role("alertdialog", name=TOO_MANY_TABS)
    expect(notice).to_be_visible()
    expect(notice.get_by_text("로그인은 그대로 유지됩니다", exact=False)).to_be_visible()
    expect(first.get_by_test_id("connection-state")).to_have_attribute("data-state", "closed")
    expect(first).to_have_url(re.compile(r"/dashboard$"))
    connected(second)
    connected(third)

    # A reload keeps the session (it closes the now-oldest tab instead).
    first.reload()
    expect(first.get_by_role("heading", name="안녕하세요, 한서윤님")).to_be_visible()
    connected(first)
    expect(first.get_by_role("alertdialog", name=TOO_MANY_TABS)).to_have_count(0)
    expect(second.get_by_role("alertdialog", name=TOO_MANY_TABS)).to_be_visible()

    # "Reconnect" takes the connection back in place.
    second.get_by_role("button", name="다시 연결").click()
    expect(second.get_by_role("alertdialog", name=TOO_MANY_TABS)).to_have_count(0)
    connected(second)
    expect(third.get_by_role("alertdialog", name=TOO_MANY_TABS)).to_be_visible()

    # Signed out from another browser: that 1008 ends the session in every open tab.
    browser_b = new_context()
    api_post(browser_b, "/api/auth/login", {"email": user["email"], "password": PASSWORD})
    sessions = browser_b.request.get("/api/auth/sessions").json()["data"]
    other = next(session for session in sessions if not session["current"])
    token = browser_b.request.get("/api/auth/csrf").json()["data"]["xsrf_token"]
    response = browser_b.request.delete(f"/api/auth/sessions/{other['id']}",
                                        headers={"X-XSRFToken": token})
    assert response.ok, response.text()
    signed_out(first)
    signed_out(second)
