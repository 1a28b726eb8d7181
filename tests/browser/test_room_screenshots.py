"""Every study-room tab at 390×844 (phone) and 1440×900 (desktop): no horizontal scrolling.

Like test_screenshots.py: with COUP_SCREENSHOTS=docs/screenshots the pictures are written there
as room-<tab>-<size>.png (`COUP_SCREENSHOTS=docs/screenshots .venv/bin/pytest -n 0 -q
tests/browser/test_room_screenshots.py`); otherwise into a temporary folder.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PHONE, api_post, capture_fitting_page
from tests.browser.room_support import seed_room

SIZES = {"phone": PHONE, "desktop": DESKTOP}
SEOUL = ZoneInfo("Asia/Seoul")


@pytest.fixture(scope="module")
def out_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("COUP_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("room-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def upload(context: Any, study_id: str, name: str, body: bytes, folder: str | None) -> None:
    token = context.request.get("/api/auth/csrf").json()["data"]["xsrf_token"]
    multipart: dict[str, Any] = {"file": {"name": name, "mimeType": "text/plain", "buffer": body}}
    if folder:
        multipart["folder"] = folder
    response = context.request.post(f"/api/studies/{study_id}/files", multipart=multipart,
                                    headers={"X-XSRFToken": token})
    assert response.ok, response.text()


@pytest.fixture(scope="module")
def seeded(browser: Any, web_server: Any) -> dict[str, Any]:
    """A room with a little of everything: notices, files, events, tasks and a check-in."""
    owner = browser.new_context(base_url=web_server.base_url)
    member = browser.new_context(base_url=web_server.base_url)
    try:
        room = seed_room(owner, member, name="토익 900 스터디")
        sid = room.study_id
        api_post(owner, f"/api/studies/{sid}/notices", {
            "title": "12월 모의고사 일정 안내", "is_pinned": True, "is_important": True,
            "content": "<p><b>토요일 10시</b>에 강남역 스터디카페에서 모의고사를 봅니다.</p>"
                       "<ul><li>LC 45분</li><li>RC 75분</li></ul>"})
        api_post(owner, f"/api/studies/{sid}/notices", {
            "title": "단어장 공유합니다", "content": "파일 탭의 **단어장** 폴더를 확인해 주세요."})
        upload(member, sid, "파트5-오답노트.md", "# 오답\n- 전치사\n".encode() * 200, "오답노트")
        upload(owner, sid, "토익-필수단어-800.txt", "abandon 버리다\n".encode() * 2000, "단어장")
        today = datetime.now(SEOUL).date()
        for days, title, start, end, color in (
                (1, "LC 모의고사", "10:00", "12:00", "#6366F1"),
                (1, "RC 풀이", "11:00", "13:00", "#EC4899"),
                (3, "단어 시험", "20:00", "21:00", "#10B981")):
            api_post(owner, f"/api/studies/{sid}/calendar", {
                "title": title, "date": (today + timedelta(days=days)).isoformat(),
                "start_time": start, "end_time": end, "location": "강남역 스터디카페",
                "color": color})
        for title, status, priority in (("파트 5 단어 정리", "TODO", "HIGH"),
                                        ("LC 받아쓰기 20문장", "IN_PROGRESS", "MEDIUM"),
                                        ("모의고사 오답 공유", "REVIEW", "URGENT"),
                                        ("교재 구매", "DONE", "LOW")):
            api_post(owner, f"/api/studies/{sid}/tasks", {
                "title": title, "status": status, "priority": priority,
                "due_date": (today + timedelta(days=5)).isoformat(),
                "assignee_ids": [room.member_id, room.owner_id]})
        api_post(member, "/api/attendance/check-in", {"study_id": sid})
        api_post(owner, "/api/attendance/check-in", {"study_id": sid})
        api_post(owner, f"/api/studies/{sid}/chat", {"content": "이번 주도 화이팅!"})
        return {"owner": owner.storage_state(), "study_id": sid}
    finally:
        owner.close()
        member.close()


TABS = [
    # (tab, path below the room, text shown when the tab is ready)
    ("home", "home", "오늘의 출석"),
    ("chat", "", "이번 주도 화이팅!"),
    ("notices", "notices", "12월 모의고사 일정 안내"),
    ("files", "files", "토익-필수단어-800.txt"),
    ("calendar", "calendar", "일정 추가"),
    ("tasks", "tasks", "모의고사 오답 공유"),
    ("attendance", "attendance", "오늘 출석했습니다"),
    ("members", "members", "멤버 2 / 8"),
    ("settings", "settings", "초대 코드 만들기"),
]


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize(("tab", "path", "ready"), TABS, ids=[tab[0] for tab in TABS])
def test_room_tab_fits_the_screen(browser: Any, web_server: Any, seeded: dict[str, Any],
                                  out_dir: Path, size: str, tab: str, path: str,
                                  ready: str) -> None:
    context = browser.new_context(base_url=web_server.base_url, viewport=SIZES[size],
                                  locale="ko-KR", timezone_id="Asia/Seoul",
                                  storage_state=seeded["owner"])
    try:
        page = context.new_page()
        page.goto(f"/studies/{seeded['study_id']}/room/{path}")
        expect(page.get_by_text(ready).first).to_be_attached()
        capture_fitting_page(page, out_dir / f"room-{tab}-{size}.png", f"room {tab} at {size}",
                             signed_in=True)
    finally:
        context.close()
