"""Issue 12 scenario (3): a video call between two people, screen share on and off, the cap.

Chromium gets a fake camera and microphone (`--use-fake-device-for-media-stream`) and answers
every permission prompt itself (`--use-fake-ui-for-media-stream`, which also lets
getDisplayMedia pick a screen). The module runs its own `coup serve` with
COUP_VIDEO_MAX_PARTICIPANTS=2 (the setting's minimum), so a third person meets the cap.
With COUP_SCREENSHOTS=docs/screenshots the call tab's pictures are written there as
room-call-<size>.png.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    WebServer,
    api_post,
    has_no_horizontal_scroll,
    launch_chromium,
    serving_coup,
    sign_up_through_api,
)
from tests.browser.room_support import MEMBER_NAME, OWNER_NAME, seed_room

MEDIA_ARGS = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              "--auto-select-desktop-capture-source=Entire screen"]
CONNECT_MS = 30_000


@pytest.fixture(scope="module")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """This module's own server: the call cap lowered to 2, no STUN (loopback only)."""
    with serving_coup(tmp_path_factory.mktemp("coup-call"), "browser-call",
                      COUP_VIDEO_MAX_PARTICIPANTS="2",
                      # No network in CI: a STUN server would only slow ICE gathering down.
                      COUP_STUN_URLS="stun:127.0.0.1:9") as server:
        yield server


@pytest.fixture(scope="module")
def media_browser(playwright: Any) -> Iterator[Any]:
    browser = launch_chromium(playwright, *MEDIA_ARGS)
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture()
def person(media_browser: Any, web_server: WebServer) -> Iterator[Any]:
    """One browser context per person, allowed the camera and microphone."""
    contexts: list[Any] = []

    def make(viewport: dict[str, int] = DESKTOP) -> Any:
        context = media_browser.new_context(
            base_url=web_server.base_url, viewport=viewport, locale="ko-KR",
            timezone_id="Asia/Seoul", permissions=["camera", "microphone"])
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("COUP_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("call-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def join_call(page: Any, url: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="통화 참여").click()
    expect(page.get_by_role("toolbar", name="통화 조작")).to_be_visible()


def tile(page: Any, name: str) -> Any:
    tiles = page.get_by_role("list", name="참여자 화면")
    return tiles.get_by_role("listitem", name=name, exact=True)


def test_two_people_call_share_a_screen_chat_and_meet_the_cap(person: Any, out_dir: Path) -> None:
    owner, member = person(), person()
    room = seed_room(owner, member)
    owner_page, member_page = owner.new_page(), member.new_page()

    join_call(owner_page, room.url("call"))
    expect(owner_page.get_by_text("아직 아무도 없습니다")).to_be_visible()
    join_call(member_page, room.url("call"))

    # Both peer connections reach `connected`, each side seeing the other's tile.
    expect(tile(owner_page, MEMBER_NAME)).to_have_attribute(
        "data-connection-state", "connected", timeout=CONNECT_MS)
    expect(tile(member_page, OWNER_NAME)).to_have_attribute(
        "data-connection-state", "connected", timeout=CONNECT_MS)
    expect(owner_page.get_by_text("참여자 2명")).to_be_visible()
    # The remote video plays: the element has frames from the fake camera.
    expect(tile(member_page, OWNER_NAME).locator("video")).to_have_js_property(
        "readyState", 4, timeout=CONNECT_MS)

    # The member mutes: the owner's tile for them says so.
    member_page.get_by_role("button", name="마이크 끄기").click()
    expect(tile(owner_page, MEMBER_NAME).get_by_role("img", name="마이크 꺼짐")).to_be_visible()

    # Screen share on: the owner's button flips and the member sees the owner sharing.
    owner_page.get_by_role("button", name="화면 공유").click()
    stop = owner_page.get_by_role("button", name="공유 중지")
    expect(stop).to_have_attribute("aria-pressed", "true")
    expect(tile(member_page, OWNER_NAME)).to_have_attribute("data-screen", "true")
    expect(tile(member_page, OWNER_NAME).get_by_role("img", name="화면 공유 중")).to_be_visible()
    # Still connected: the track was replaced, not renegotiated.
    expect(tile(member_page, OWNER_NAME)).to_have_attribute("data-connection-state", "connected")
    # ... and off again.
    stop.click()
    share = owner_page.get_by_role("button", name="화면 공유")
    expect(share).to_have_attribute("aria-pressed", "false")
    expect(tile(member_page, OWNER_NAME)).to_have_attribute("data-screen", "false")

    # In-call chat reaches the other side (and is not stored).
    member_page.get_by_role("textbox", name="메시지 입력").fill("화면 잘 보여요!")
    member_page.get_by_role("button", name="보내기").click()
    call_chat = owner_page.get_by_role("complementary", name="통화 채팅")
    expect(call_chat.get_by_text("화면 잘 보여요!")).to_be_visible()

    # Screenshots of the call in progress, both sizes, no sideways scrolling.
    for size, viewport in {"phone": PHONE, "desktop": DESKTOP}.items():
        owner_page.set_viewport_size(viewport)
        expect(tile(owner_page, MEMBER_NAME)).to_have_attribute(
            "data-connection-state", "connected")
        assert has_no_horizontal_scroll(owner_page), size
        owner_page.screenshot(path=str(out_dir / f"room-call-{size}.png"))

    # A third member meets the cap (2 in this server): the call is full.
    third = person(PHONE)
    sign_up_through_api(third, "박지훈")
    api_post(third, f"/api/studies/{room.study_id}/join", {"introduction": "안녕하세요"})
    third_page = third.new_page()
    third_page.goto(room.url("call"))
    third_page.get_by_role("button", name="통화 참여").click()
    expect(third_page.get_by_role("alert")).to_contain_text("통화 인원이 가득 찼습니다")
    expect(tile(owner_page, "박지훈")).to_have_count(0)

    # Changing tab leaves the call: the owner's tile for the member goes away.
    tabs = member_page.get_by_role("navigation", name="스터디룸 메뉴")
    tabs.get_by_role("link", name="채팅").click()
    expect(tile(owner_page, MEMBER_NAME)).to_have_count(0)
    expect(owner_page.get_by_text("참여자 1명")).to_be_visible()
    # Now there is room for the third member.
    third_page.get_by_role("button", name="통화 참여").click()
    expect(tile(owner_page, "박지훈")).to_have_attribute(
        "data-connection-state", "connected", timeout=CONNECT_MS)
