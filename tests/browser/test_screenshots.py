"""Every page at 390×844 (phone) and 1440×900 (desktop): no horizontal scrolling, a screenshot.

`make screenshots` sets COUP_SCREENSHOTS=docs/screenshots to refresh the committed pictures;
otherwise they go to a temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    api_post,
    capture_fitting_page,
    sign_up_through_api,
)

SIZES = {"phone": PHONE, "desktop": DESKTOP}

STUDIES = [
    ("📚", "토익 900 스터디",
     "매일 LC 한 세트와 RC 파트 7을 함께 풉니다. 주말에는 모의고사를 봅니다.",
     "취업/자격증", ["토익", "영어"]),
    ("💻", "React 실전 프로젝트",
     "React와 TypeScript로 작은 서비스를 함께 만들어 배포까지 해 봅니다.",
     "개발", ["react", "typescript"]),
    ("🧮", "알고리즘 매일 한 문제",
     "백준과 프로그래머스 문제를 하루 한 문제씩 풀고 풀이를 공유합니다.",
     "개발", ["알고리즘"]),
    ("🎨", "주말 드로잉 모임",
     "아이패드 드로잉을 처음 시작하는 분들과 함께 그립니다.",
     "교양/취미", ["그림"]),
]

CHAT = ["이번 주 모의고사 범위는 어디까지인가요?", "파트 5, 6까지 풀어 오시면 돼요!",
        "토요일 10시에 온라인으로 만나요 🙌", "좋아요, 그때 봬요."]


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("COUP_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def seeded(browser: Any, web_server: Any) -> dict[str, Any]:
    """An owner with studies and a chat, a member who applied to one of them."""
    owner = browser.new_context(base_url=web_server.base_url)
    member = browser.new_context(base_url=web_server.base_url)
    try:
        sign_up_through_api(owner, "김민수")
        member_user = sign_up_through_api(member, "이서연")
        studies = [api_post(owner, "/api/studies", {
            "emoji": emoji, "name": name, "description": description, "category": category,
            "tags": tags, "max_members": 8, "auto_approve": index != 1})
            for index, (emoji, name, description, category, tags) in enumerate(STUDIES)]
        first = studies[0]["id"]
        api_post(member, f"/api/studies/{first}/join", {"introduction": "토익 850점이 목표예요."})
        api_post(member, f"/api/studies/{studies[1]['id']}/join",
                 {"introduction": "프론트엔드 취업을 준비하고 있습니다.", "motivation": "JOB_PREP",
                  "level": "BEGINNER"})
        for index, text in enumerate(CHAT):
            api_post(member if index % 2 else owner, f"/api/studies/{first}/chat",
                     {"content": text})
        return {"owner": owner.storage_state(), "member": member.storage_state(),
                "member_id": member_user["id"], "studies": studies}
    finally:
        owner.close()
        member.close()


PAGES = [
    # (name, who, path or a function of the seeded data, what the page shows when ready)
    ("landing", None, "/", "함께 공부하면 더 멀리 갑니다"),
    ("sign-in", None, "/sign-in", "다시 오신 것을 환영합니다."),
    ("sign-up", None, "/sign-up", "이메일로 1분 만에 가입하세요."),
    ("explore", "member", "/studies", "React 실전 프로젝트"),
    ("study-detail", "member", lambda s: f"/studies/{s['studies'][1]['id']}", "승인 대기 중"),
    ("study-owner", "owner", lambda s: f"/studies/{s['studies'][1]['id']}", "가입 신청 1건"),
    ("create-study", "owner", "/studies/new", "스터디 만들기"),
    ("my-studies", "member", "/my-studies", "토익 900 스터디"),
    ("chat", "member", lambda s: f"/studies/{s['studies'][0]['id']}/room", CHAT[-1]),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("name", "who", "path", "ready"), PAGES, ids=[page[0] for page in PAGES])
def test_page_fits_the_screen(browser: Any, web_server: Any, seeded: dict[str, Any],
                              out_dir: Path, size: str, name: str, who: str | None,
                              path: Any, ready: str) -> None:
    context = browser.new_context(base_url=web_server.base_url, viewport=SIZES[size],
                                  locale="ko-KR", timezone_id="Asia/Seoul",
                                  storage_state=seeded[who] if who else None)
    try:
        page = context.new_page()
        page.goto(path(seeded) if callable(path) else path)
        expect(page.get_by_text(ready).first).to_be_visible()
        capture_fitting_page(page, out_dir / f"{name}-{size}.png", f"{name} at {size}",
                             signed_in=who is not None)
    finally:
        context.close()


def test_english_is_one_click_away(browser: Any, web_server: Any) -> None:
    context = browser.new_context(base_url=web_server.base_url, viewport=PHONE)
    try:
        page = context.new_page()
        page.goto("/sign-up")
        page.get_by_role("button", name=re.compile("언어")).click()
        expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
        expect(page.locator("html")).to_have_attribute("lang", "en")
        page.reload()  # the choice is remembered
        expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
    finally:
        context.close()
