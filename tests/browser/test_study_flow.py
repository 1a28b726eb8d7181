"""Two people in two browser contexts: sign up, create, find, apply, approve, chat, go offline.

Everything after the sign-up is seen live: no step reloads a page to see what the other person
did, except the one that checks that a reload keeps the history.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from playwright.sync_api import expect

from tests.browser.conftest import PASSWORD, unique_email


def sign_up(page: Any, name: str) -> None:
    page.goto("/sign-up")
    page.get_by_label("이메일").fill(unique_email("e2e"))
    page.get_by_label("이름").fill(name)
    password = page.get_by_label("비밀번호", exact=True)
    password.fill("short")
    # The rules are shown as the person types.
    expect(page.get_by_text("8자 이상 128자 이하: 미충족")).to_be_attached()
    password.fill(PASSWORD)
    expect(page.get_by_text("8자 이상 128자 이하: 충족")).to_be_attached()
    page.get_by_label("비밀번호 확인").fill(PASSWORD)
    page.get_by_role("button", name="가입하기").click()
    expect(page).to_have_url(re.compile(r"/studies$"))


def connection(page: Any) -> Any:
    return expect(page.get_by_test_id("connection-state"))


def bubbles(page: Any) -> list[str]:
    return [text.strip() for text in page.locator(".chat .bubble").all_inner_texts()]


def send(page: Any, text: str) -> None:
    box = page.get_by_label("메시지 입력")
    box.fill(text)
    box.press("Enter")


def test_two_people_find_apply_approve_and_chat_live(new_context: Any) -> None:
    owner = new_context().new_page()
    sign_up(owner, "김민수")
    study_name = f"알고리즘 스터디 {secrets.token_hex(2)}"
    owner.get_by_role("link", name="만들기").first.click()
    owner.get_by_label("스터디 이름").fill(study_name)
    owner.get_by_label("소개").fill("매주 토요일에 백준 문제를 함께 풉니다.\n초보도 환영합니다.")
    owner.get_by_role("button", name="만들기").click()
    expect(owner.get_by_role("heading", name=study_name)).to_be_visible()
    study_url = owner.url
    expect(owner.get_by_text("대기 중인 신청이 없습니다.")).to_be_visible()

    # The second person finds the study through search and applies.
    applicant_context = new_context()
    applicant = applicant_context.new_page()
    sign_up(applicant, "이서연")
    applicant.get_by_label("검색").fill(study_name)
    applicant.get_by_role("link", name=re.compile(study_name)).click()
    applicant.get_by_label("자기소개").fill("파이썬으로 알고리즘을 공부하고 있어요.")
    applicant.get_by_label("참여 동기").select_option("SKILL_UP")
    applicant.get_by_label("실력").select_option("BEGINNER")
    applicant.get_by_role("button", name="가입 신청하기").click()
    expect(applicant.get_by_text("승인 대기 중")).to_be_visible()

    # The owner sees the request arrive without reloading, and approves it.
    expect(owner.get_by_role("heading", name="가입 신청 1건")).to_be_visible()
    expect(owner.get_by_text("파이썬으로 알고리즘을 공부하고 있어요.")).to_be_visible()
    owner.get_by_role("button", name="승인: 이서연").click()
    expect(owner.get_by_text("대기 중인 신청이 없습니다.")).to_be_visible()
    assert owner.url == study_url

    # The applicant's page turns into a member's page on its own.
    applicant.get_by_role("link", name="스터디룸 입장").click()
    owner.get_by_role("link", name="스터디룸 입장").click()
    for page in (owner, applicant):
        connection(page).to_have_attribute("data-state", "connected")
        expect(page.get_by_text("온라인 2명")).to_be_visible()

    # Typing, a live message, and its read receipt.
    owner.get_by_label("메시지 입력").fill("안녕하세요")
    expect(applicant.get_by_text("김민수님이 입력 중…")).to_be_visible()
    owner.get_by_label("메시지 입력").press("Enter")
    expect(applicant.locator(".bubble", has_text="안녕하세요")).to_be_visible()
    expect(applicant.get_by_text("김민수님이 입력 중…")).to_be_hidden()
    mine = owner.locator(".msg-mine", has_text="안녕하세요")
    expect(mine.get_by_text("읽음")).to_be_visible()

    send(applicant, "반갑습니다! 잘 부탁드려요")
    expect(owner.locator(".bubble", has_text="반갑습니다! 잘 부탁드려요")).to_be_visible()
    expect(owner.locator(".day-separator")).to_have_count(1)

    # A reload keeps the history.
    applicant.reload()
    expect(applicant.locator(".bubble", has_text="안녕하세요")).to_be_visible()
    expect(applicant.locator(".bubble", has_text="반갑습니다! 잘 부탁드려요")).to_be_visible()
    connection(applicant).to_have_attribute("data-state", "connected")

    # The applicant goes offline; the owner keeps talking; the applicant writes one too.
    applicant_context.set_offline(True)
    connection(applicant).not_to_have_attribute("data-state", "connected")
    missed = [f"오프라인 중 메시지 {n}" for n in range(1, 4)]
    for text in missed:
        send(owner, text)
        expect(owner.locator(".msg-mine:not(.msg-pending) .bubble", has_text=text)).to_be_visible()
    send(applicant, "지하철이라 늦게 봤어요")
    queued = applicant.locator(".msg-pending", has_text="지하철이라 늦게 봤어요")
    expect(queued).to_have_attribute("data-status", "pending")

    applicant_context.set_offline(False)
    connection(applicant).to_have_attribute("data-state", "connected")
    for text in missed:
        expect(applicant.locator(".bubble", has_text=text)).to_have_count(1)
    expect(queued).to_have_count(0)
    expect(owner.locator(".bubble", has_text="지하철이라 늦게 봤어요")).to_have_count(1)
    expect(applicant.locator(".bubble", has_text="지하철이라 늦게 봤어요")).to_have_count(1)

    expected = ["안녕하세요", "반갑습니다! 잘 부탁드려요", *missed, "지하철이라 늦게 봤어요"]
    assert bubbles(applicant) == expected
    assert bubbles(owner) == expected
