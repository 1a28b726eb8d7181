"""Emails stay private (COUP.md §1 item 11) across the studies area (§7.3-§7.6, §7.14, §7.17).

A user's email may appear only in that user's own account responses, in join-request review
(to the study's OWNER and ADMINs, for the applicants listed) and in platform-admin endpoints.
This test drives the area's writes through the API (each response checked as it comes back),
then walks every GET of the area as the owner, a member and an outsider, and searches the raw
text of every response for the address of every other user.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests.authorization_support import Clients
from tests.conftest import LiveServer, User

JOIN_ANSWERS = {"introduction": "안녕하세요, 함께 공부하고 싶습니다.", "motivation": "SKILL_UP",
                "level": "BEGINNER"}


@dataclass
class Scan:
    """Every response seen, checked for the emails of users other than the caller."""

    users: dict[str, User]
    leaks: list[str] = field(default_factory=list)
    checked: int = 0

    def check(self, caller: str, label: str, response: httpx.Response,
              allowed: frozenset[str] = frozenset()) -> httpx.Response:
        self.checked += 1
        for name, user in self.users.items():
            if name == caller or name in allowed:
                continue
            if user.email.lower() in response.text.lower():
                self.leaks.append(f"{label} as {caller} ({response.status_code}) shows "
                                  f"{name}'s email")
        return response


@dataclass
class Area:
    """The people and studies of one run, and a caller that checks every response."""

    scan: Scan
    study_id: str = ""
    private_id: str = ""
    code: str = ""

    def user(self, name: str) -> User:
        return self.scan.users[name]

    def call(self, caller: str, method: str, path: str, body: Any = None, *,
             status: int | None = None, allowed: frozenset[str] = frozenset()) -> Any:
        http = self.user(caller).http
        response = (http.request(method, path, json=body) if body is not None
                    else http.request(method, path))
        self.scan.check(caller, f"{method} {path}", response, allowed)
        if status is not None:
            assert response.status_code == status, f"{method} {path}: {response.text[:300]}"
        return response.json().get("data") if response.content else None


@pytest.fixture()
def clients(server: LiveServer) -> Iterator[Clients]:
    made = Clients(server)
    yield made
    made.close()


def new_area(clients: Clients) -> Area:
    names = ("owner", "admin", "member", "outsider", "applicant", "declined", "added",
             "leaver")
    return Area(Scan({name: clients.signup(name) for name in names}))


def run_writes(area: Area) -> None:
    """The area's writes, by the people allowed to make them; every response is checked."""
    s = "/api/studies"
    study = area.call("owner", "POST", s, {
        "name": "이메일 보호 스터디", "emoji": "🔒", "description": "이메일이 새지 않는지 봅니다.",
        "category": "개발", "auto_approve": False}, status=201)
    area.study_id = study["id"]
    path = f"{s}/{area.study_id}"
    private = area.call("owner", "POST", s, {
        "name": "비공개 스터디", "emoji": "🙈", "description": "초대로만 들어오는 스터디입니다.",
        "category": "언어", "is_public": False}, status=201)
    area.private_id = private["id"]
    for name in ("admin", "member", "applicant", "declined", "leaver"):
        area.call(name, "POST", f"{path}/join", JOIN_ANSWERS, status=201)
    review = frozenset({"admin", "member", "applicant", "declined", "leaver"})
    area.call("owner", "GET", f"{path}/join-requests", status=200, allowed=review)
    for name in ("admin", "member", "leaver"):
        area.call("owner", "POST", f"{path}/join-requests/{area.user(name).id}/approve", {},
                  status=200)
    area.call("owner", "PATCH", f"{path}/members/{area.user('admin').id}/role",
              {"role": "ADMIN"}, status=200)
    area.call("admin", "POST", f"{path}/join-requests/{area.user('declined').id}/reject",
              {"reason": "정원이 찼습니다"}, status=200)
    area.call("admin", "POST", f"{path}/members", {"user_id": area.user("added").id},
              status=201)
    area.call("admin", "DELETE", f"{path}/members/{area.user('added').id}",
              {"reason": "활동이 없습니다"}, status=200)
    area.call("leaver", "POST", f"{path}/leave", status=200)
    area.call("owner", "PATCH", path, {"description": "설명을 바꾼 이메일 보호 스터디입니다."},
              status=200)
    area.call("admin", "POST", f"{path}/invite", {"max_uses": 5}, status=201)
    area.code = area.call("owner", "POST", f"{path}/invite/regenerate", {},
                          status=201)["invite_code"]
    private_code = area.call("owner", "POST", f"{s}/{area.private_id}/invite", {},
                             status=201)["invite_code"]
    area.call("member", "POST", f"{s}/{area.private_id}/join",
              {"invite_code": private_code}, status=201)
    area.call("outsider", "POST", "/api/reports", {
        "target_type": "USER", "target_id": area.user("member").id, "type": "SPAM",
        "reason": "같은 광고를 계속 올립니다."}, status=201)
    area.call("member", "POST", "/api/reports", {
        "target_type": "STUDY", "target_id": area.study_id, "type": "OTHER",
        "reason": "스터디 소개가 실제 활동과 다릅니다."}, status=201)


def notification_writes(area: Area, caller: str) -> None:
    """Read one, read all, delete one and bulk-delete, on the caller's own notifications."""
    listed = area.call(caller, "GET", "/api/notifications", status=200)
    n = "/api/notifications"
    if listed:
        first = listed[0]["id"]
        area.call(caller, "POST", f"{n}/{first}/read", status=200)
        area.call(caller, "PATCH", f"{n}/{first}/read", status=200)
    area.call(caller, "POST", f"{n}/mark-all-read", status=200)
    area.call(caller, "PATCH", f"{n}/mark-all-read", status=200)
    if len(listed) > 1:
        area.call(caller, "DELETE", f"{n}/{listed[-1]['id']}", status=200)
    if len(listed) > 2:
        area.call(caller, "DELETE", f"{n}/bulk", {"ids": [listed[-2]["id"], "nope"]},
                  status=200)


def walk_reads(area: Area, caller: str) -> None:
    """Every GET of the area, as `caller` (errors included: they are responses too)."""
    s = "/api/studies"
    path = f"{s}/{area.study_id}"
    st_admin = caller in ("owner", "admin")
    paths = [
        f"{s}/categories", s, f"{s}?search=이메일", f"{s}?exclude_mine=true&sort=popular",
        path, f"{s}/{area.private_id}", f"{path}?invite_code={area.code}",
        f"{path}/invite", f"{s}/join/{area.code}", f"{path}/members",
        f"{path}/members?status=PENDING", f"{path}/members?status=KICKED",
        f"{path}/members?status=LEFT", f"{s}/{area.private_id}/members",
        "/api/my-studies", "/api/my-studies?filter=pending", "/api/my-studies?filter=admin",
        "/api/notifications", "/api/notifications?is_read=false", "/api/notifications/count",
        "/api/reports/mine",
    ]
    for target in paths:
        area.call(caller, "GET", target)
    # Join-request review shows the applicants' emails, to ST-ADMINs only.
    review = frozenset({"applicant"}) if st_admin else frozenset()
    area.call(caller, "GET", f"{path}/join-requests", allowed=review)
    for item in area.call(caller, "GET", "/api/notifications?limit=100") or []:
        area.call(caller, "GET", f"/api/notifications/{item['id']}")


def test_no_response_of_the_area_shows_another_users_email(clients: Clients) -> None:
    area = new_area(clients)
    run_writes(area)
    for caller in ("owner", "member", "outsider"):
        walk_reads(area, caller)
    for caller in ("owner", "admin", "member", "outsider"):
        notification_writes(area, caller)
    # The ownership transfer comes last: it changes who may review applications.
    area.call("owner", "POST", f"/api/studies/{area.study_id}/transfer-ownership",
              {"target_user_id": area.user("admin").id}, status=200)
    for caller in ("owner", "member", "outsider"):
        walk_reads(area, caller)
    assert area.scan.checked > 100
    assert area.scan.leaks == []


def test_join_request_review_shows_applicant_emails_to_study_admins_only(
        clients: Clients) -> None:
    """The one place in the area where another user's email belongs (and the search works)."""
    area = new_area(clients)
    run_writes(area)
    path = f"/api/studies/{area.study_id}/join-requests"
    for caller in ("owner", "admin"):
        response = area.user(caller).http.get(path)
        assert response.status_code == 200
        assert area.user("applicant").email in response.text
        assert area.user("member").email not in response.text
    for caller in ("member", "outsider"):
        response = area.user(caller).http.get(path)
        assert response.status_code == 403
        assert area.user("applicant").email not in response.text
