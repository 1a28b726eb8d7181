"""The report buttons the app hands to features: a member reports the study from its page and
another member's message from the chat's message menu; nobody is offered to report their own."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, api_post
from tests.browser.room_support import OWNER_NAME, seed_room

MESSAGE = "이번 주 LC 세트는 3번까지 풀어요"
CLIENT_ID = "2b3c4d5e-0000-4000-8000-000000000001"


def file_report(dialog: Any, reason: str) -> None:
    dialog.get_by_role("textbox", name="자세한 내용").fill(reason)
    dialog.get_by_role("button", name="신고하기").click()
    expect(dialog).to_be_hidden()


def test_a_member_reports_the_study_and_a_message(new_context: Any) -> None:
    room = seed_room(new_context(), new_context(PHONE))
    api_post(room.owner, f"/api/studies/{room.study_id}/chat",
             {"content": MESSAGE, "client_id": CLIENT_ID})

    page = room.member.new_page()
    page.goto(f"/studies/{room.study_id}")
    expect(page.get_by_role("heading", name=room.study_name)).to_be_visible()
    page.get_by_role("button", name="신고").click()
    dialog = page.get_by_role("dialog", name="스터디 신고")
    expect(dialog.get_by_text(room.study_name, exact=False)).to_be_visible()
    file_report(dialog, "스터디 소개와 다른 광고만 올라옵니다.")
    expect(page.get_by_text("신고를 접수했습니다", exact=False)).to_be_visible()

    page.goto(room.url())
    expect(page.get_by_text(MESSAGE)).to_be_visible()
    page.get_by_role("button", name="메시지 메뉴").click()
    page.get_by_role("button", name="신고").click()
    dialog = page.get_by_role("dialog", name="메시지 신고")
    expect(dialog.get_by_text(f"{OWNER_NAME}: {MESSAGE}", exact=False)).to_be_visible()
    file_report(dialog, "같은 광고 메시지를 반복해서 보냅니다.")

    page.goto("/reports")
    expect(page.get_by_text(room.study_name, exact=False).first).to_be_visible()

    # The owner sees no report button on their own study, nor on their own message's menu.
    owner = room.owner.new_page()
    owner.goto(f"/studies/{room.study_id}")
    expect(owner.get_by_role("heading", name=room.study_name)).to_be_visible()
    expect(owner.get_by_role("button", name="신고")).to_have_count(0)
    owner.goto(room.url())
    owner.get_by_role("button", name="메시지 메뉴").click()
    expect(owner.get_by_role("button", name="수정")).to_be_visible()
    expect(owner.get_by_role("button", name="신고")).to_have_count(0)
