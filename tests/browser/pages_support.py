"""Seed data for the personal and account pages' browser tests (dashboard, notifications, tasks,
profile, groups, reports, invites), made through the REST API so each test starts from a page."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any
from zoneinfo import ZoneInfo

from tests.browser.conftest import api_post, sign_up_through_api

SEOUL = ZoneInfo("Asia/Seoul")


def local_date(days_ahead: int = 0) -> str:
    return (dt.datetime.now(SEOUL).date() + dt.timedelta(days=days_ahead)).isoformat()


def seed_pages(browser: Any, base_url: str) -> dict[str, Any]:
    """An owner with a study (event, notice, invite code), a member with tasks, a group, a report.

    Returns each person's storage state and the ids the pages need.
    """
    owner = browser.new_context(base_url=base_url)
    member = browser.new_context(base_url=base_url)
    try:
        owner_user = sign_up_through_api(owner, "김민수")
        member_user = sign_up_through_api(member, "이서연")
        study = api_post(owner, "/api/studies", {
            "emoji": "📚", "name": "토익 900 스터디", "category": "취업/자격증", "tags": ["토익"],
            "description": "매일 LC 한 세트와 RC 파트 7을 함께 풉니다. 주말에는 모의고사를 봅니다.",
            "max_members": 8, "auto_approve": True})
        room = f"/api/studies/{study['id']}"
        api_post(member, f"{room}/join", {"introduction": "토익 850점이 목표예요."})
        api_post(owner, f"{room}/calendar", {
            "title": "주말 모의고사", "date": local_date(1), "start_time": "10:00",
            "end_time": "12:00", "location": "온라인"})
        api_post(owner, f"{room}/notices", {
            "title": "이번 주 범위 안내", "content": "<p>파트 5, 6까지 풀어 오세요.</p>",
            "is_important": True})
        invite = api_post(owner, f"{room}/invite", {"expires_in_hours": 72, "max_uses": 5})
        for title, priority, due in [("LC 파트 3 복습", "HIGH", local_date(0)),
                                     ("단어장 Day 12 외우기", "MEDIUM", local_date(2)),
                                     ("모의고사 오답 정리", "URGENT", local_date(-1))]:
            api_post(member, "/api/tasks", {"title": title, "priority": priority, "due_date": due,
                                            "study_id": study["id"]})
        done = api_post(member, "/api/tasks", {"title": "스터디 규칙 읽기", "priority": "LOW"})
        member.request.patch(f"/api/tasks/{done['id']}/toggle", data={},
                             headers={"X-XSRFToken": xsrf(member)})
        group = api_post(member, "/api/groups", {
            # Group names are unique on the whole server, which the test modules share.
            "name": f"서울 개발자 모임 {secrets.token_hex(2)}", "category": "NETWORK",
            "tags": ["개발", "서울"],
            "description": "한 달에 한 번 모여 만든 것을 보여 주고 이야기합니다."})
        api_post(owner, f"/api/groups/{group['id']}/join", {})
        api_post(member, f"/api/groups/{group['id']}/invites", {"expires_in_days": 7})
        api_post(member, "/api/reports", {
            "target_type": "USER", "target_id": owner_user["id"], "type": "SPAM",
            "reason": "채팅방에 광고 링크를 계속 올립니다."})
        return {
            "owner": owner.storage_state(), "member": member.storage_state(),
            "owner_user": owner_user, "member_user": member_user,
            "study": study, "invite_code": invite["invite_code"], "group": group,
        }
    finally:
        owner.close()
        member.close()


def xsrf(context: Any) -> str:
    return str(context.request.get("/api/auth/csrf").json()["data"]["xsrf_token"])
