"""The personal and account pages at 390×844 (phone) and 1440×900 (desktop): no horizontal
scrolling, and a screenshot each (docs/screenshots/<page>-<size>.png with COUP_SCREENSHOTS set,
as `make screenshots` does; a temporary folder otherwise)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, capture_fitting_page
from tests.browser.pages_support import seed_pages

SIZES = {"phone": PHONE, "desktop": DESKTOP}


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("COUP_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("page-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def seeded(browser: Any, web_server: Any) -> dict[str, Any]:
    return seed_pages(browser, web_server.base_url)


PAGES = [
    # (name, who, path or a function of the seeded data, text the ready page shows)
    ("dashboard", "member", "/dashboard", "안녕하세요, 이서연님"),
    ("notifications", "member", "/notifications", "새 공지: 이번 주 범위 안내"),
    ("tasks", "member", "/tasks", "모의고사 오답 정리"),
    ("profile", "member", "/me", "로그인한 기기"),
    ("user-profile", "member", lambda s: f"/users/{s['owner_user']['id']}", "김민수"),
    ("groups", "member", "/groups", "서울 개발자 모임"),
    ("group-detail", "member", lambda s: f"/groups/{s['group']['id']}", "초대 코드 만들기"),
    ("group-create", "member", "/groups/new", "그룹 이름"),
    ("reports", "member", "/reports", "김민수"),
    ("join-invite", None, lambda s: f"/join/{s['invite_code']}", "로그인하고 참여하기"),
    ("terms", None, "/terms", "이용약관"),
    ("privacy", None, "/privacy", "브라우저에 저장하는 것"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("name", "who", "path", "ready"), PAGES, ids=[page[0] for page in PAGES])
def test_page_fits_the_screen(browser: Any, web_server: Any, seeded: dict[str, Any], out_dir: Path,
                              size: str, name: str, who: str | None, path: Any, ready: str) -> None:
    context = browser.new_context(base_url=web_server.base_url, viewport=SIZES[size],
                                  locale="ko-KR", timezone_id="Asia/Seoul",
                                  storage_state=seeded[who] if who else None)
    try:
        page = context.new_page()
        page.goto(path(seeded) if callable(path) else path)
        expect(page.get_by_text(ready).first).to_be_visible()
        capture_fitting_page(page, out_dir / f"{name}-{size}.png", f"{name} at {size}",
                             signed_in=who is not None, full_page=size == "desktop")
    finally:
        context.close()
