"""The account pages as people use them: profile, avatar, password change signing out the
other sessions live, a live notification marked read in the centre, and an invite link that
takes a signed-out person through sign-in into the study."""

from __future__ import annotations

import os
import re
import struct
import zlib
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, api_post, sign_up_through_api

NEW_PASSWORD = "Another-pass-456"
# Slow enough that a ~120 KB avatar takes a few seconds, so the progress bar can be seen.
UPLOAD_BYTES_PER_SECOND = 40_000


def noise_png(path: Path, size: int = 200) -> Path:
    """A PNG of random pixels: incompressible, so it stays well above the 1 KB minimum."""
    rows = b"".join(b"\x00" + os.urandom(size * 3) for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def connected(page: Any) -> None:
    expect(page.get_by_test_id("connection-state")).to_have_attribute("data-state", "connected")


def test_profile_edit_avatar_and_password_change_signs_out_the_other_browser(
        new_context: Any, tmp_path: Path) -> None:
    laptop = new_context()
    user = sign_up_through_api(laptop, "박지훈")
    # The same person on a second device (its own browser context and session).
    phone_context = new_context()
    api_post(phone_context, "/api/auth/login", {"email": user["email"], "password": PASSWORD})
    phone = phone_context.new_page()
    phone.goto("/dashboard")
    expect(phone.get_by_role("heading", name="안녕하세요, 박지훈님")).to_be_visible()
    connected(phone)

    page = laptop.new_page()
    page.goto("/me")
    expect(page.get_by_role("heading", name="내 프로필")).to_be_visible()
    expect(page.get_by_test_id("login-session")).to_have_count(2)
    page.get_by_label("이름").fill("박지훈 학생")
    page.get_by_label("소개").fill("알고리즘과 영어를 공부합니다.")
    page.get_by_role("button", name="저장").click()
    expect(page.get_by_text("프로필을 저장했습니다.")).to_be_visible()
    expect(page.get_by_role("link", name="박지훈 학생님의 프로필")).to_be_visible()

    # The avatar goes up with a visible progress bar, then shows in the header.
    cdp = laptop.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": UPLOAD_BYTES_PER_SECOND})
    page.get_by_label("사진 올리기").set_input_files(str(noise_png(tmp_path / "me.png")))
    expect(page.get_by_role("progressbar", name="사진 올리는 중")).to_be_visible()
    expect(page.get_by_text("프로필 사진을 바꿨습니다.")).to_be_visible(timeout=30_000)
    cdp.send("Network.emulateNetworkConditions", {
        "offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1})
    expect(page.locator(".header img[src^='/media/avatars/']")).to_be_visible()
    expect(page.get_by_role("button", name="사진 삭제")).to_be_visible()

    # The password rules are shown while typing; the change signs the phone out at once.
    page.get_by_label("현재 비밀번호").fill(PASSWORD)
    new_password = page.get_by_label("새 비밀번호", exact=True)
    new_password.fill("short")
    expect(page.get_by_text("8자 이상 128자 이하: 미충족")).to_be_attached()
    new_password.fill(NEW_PASSWORD)
    expect(page.get_by_text("8자 이상 128자 이하: 충족")).to_be_attached()
    page.get_by_label("새 비밀번호 확인").fill(NEW_PASSWORD)
    page.get_by_role("button", name="비밀번호 바꾸기").click()
    expect(page.get_by_text("비밀번호를 바꿨습니다.", exact=False)).to_be_visible()

    expect(phone.get_by_text("다른 곳에서 종료되었습니다", exact=False)).to_be_visible()
    expect(phone).to_have_url(re.compile(r"/sign-in\?next="))
    expect(phone.get_by_role("heading", name="로그인")).to_be_visible()
    expect(page.get_by_test_id("login-session")).to_have_count(1)
    page.reload()
    expect(page.get_by_role("heading", name="내 프로필")).to_be_visible()
    expect(page.get_by_label("이름")).to_have_value("박지훈 학생")


def test_a_notification_arrives_live_and_is_marked_read_in_the_centre(new_context: Any) -> None:
    owner = new_context()
    sign_up_through_api(owner, "김민수")
    study = api_post(owner, "/api/studies", {
        "emoji": "🧮", "name": "알고리즘 매일 한 문제", "category": "개발", "max_members": 6,
        "description": "하루 한 문제씩 풀고 풀이를 공유합니다. 초보도 환영합니다.",
        "auto_approve": True})
    member_context = new_context()
    sign_up_through_api(member_context, "이서연")
    api_post(member_context, f"/api/studies/{study['id']}/join", {})

    page = member_context.new_page()
    page.goto("/notifications")
    expect(page.get_by_text("알림이 없습니다")).to_be_visible()
    connected(page)

    api_post(owner, f"/api/studies/{study['id']}/notices", {
        "title": "이번 주 문제 목록", "content": "<p>백준 1000번부터 풀어요.</p>"})
    row = page.get_by_test_id("notification").filter(has_text="새 공지: 이번 주 문제 목록")
    expect(row).to_be_visible()
    expect(page.get_by_test_id("unread-count")).to_have_text("1")
    expect(row.get_by_text("안 읽음", exact=False)).to_be_attached()

    row.get_by_role("button", name=re.compile("읽음 표시")).click()
    expect(page.get_by_test_id("unread-count")).to_be_hidden()
    expect(row.get_by_role("button", name=re.compile("읽음 표시"))).to_be_hidden()
    page.get_by_role("tab", name="안 읽음").click()
    expect(page.get_by_text("알림이 없습니다")).to_be_visible()

    # Bulk delete, after a confirmation.
    page.get_by_role("tab", name="전체").click()
    page.get_by_label("이 목록 전체 선택").check()
    page.get_by_role("button", name="선택 삭제 (1)").click()
    page.get_by_role("dialog").get_by_role("button", name="삭제").click()
    expect(page.get_by_text("알림 1개를 삭제했습니다.")).to_be_visible()
    expect(page.get_by_text("알림이 없습니다")).to_be_visible()


def test_an_invite_link_brings_a_signed_out_person_through_sign_in_into_the_study(
        new_context: Any) -> None:
    owner = new_context()
    sign_up_through_api(owner, "김민수")
    study = api_post(owner, "/api/studies", {
        "emoji": "🎨", "name": "주말 드로잉 모임", "category": "교양/취미", "max_members": 6,
        "description": "아이패드 드로잉을 처음 시작하는 분들과 함께 그립니다.",
        "is_public": False, "auto_approve": False})
    code = api_post(owner, f"/api/studies/{study['id']}/invite", {})["invite_code"]
    # The guest has an account but is signed out in this browser.
    guest = sign_up_through_api(new_context(), "최유나")

    page = new_context().new_page()
    page.goto(f"/join/{code}")
    expect(page.get_by_role("heading", name="주말 드로잉 모임")).to_be_visible()
    expect(page.get_by_text("스터디에 초대받았습니다")).to_be_visible()
    page.get_by_role("link", name="로그인하고 참여하기").click()
    expect(page).to_have_url(re.compile(r"/sign-in\?next="))
    page.get_by_label("이메일").fill(guest["email"])
    page.get_by_label("비밀번호").fill(PASSWORD)
    page.get_by_role("button", name="로그인").last.click()

    expect(page).to_have_url(re.compile(f"/join/{code}$"))
    page.get_by_role("button", name="초대 수락하고 참여하기").click()
    expect(page).to_have_url(re.compile(f"/studies/{study['id']}/room"))
    expect(page.get_by_label("메시지 입력")).to_be_visible()
