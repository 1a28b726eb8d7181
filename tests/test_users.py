"""Users and profile (COUP.md §7.2) through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import (
    Attendance,
    Group,
    GroupInvite,
    GroupMember,
    Message,
    Notice,
    Notification,
    Study,
    StudyMember,
    Task,
    User,
)
from tests.conftest import Api, LiveServer, error_code

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 2040
GIF = b"GIF89a" + b"\x00" * 2042


# --- database helpers (run on the server's database workers through server.call) -------------


@db_transaction
def _create_study(owner_id: str, *, status: str = "ACTIVE", is_public: bool = True,
                  is_hidden: bool = False, name: str = "알고리즘 스터디") -> str:
    now = utcnow()
    study = Study.create(id=new_id(), owner=owner_id, name=name, description="함께 공부하는 모임",
                         category="개발", status=status, is_public=is_public,
                         is_hidden=is_hidden, created_at=now, updated_at=now)
    StudyMember.create(id=new_id(), study=study.id, user=owner_id, role="OWNER",
                       status="ACTIVE", joined_at=now, created_at=now, updated_at=now)
    return study.id


@db_transaction
def _add_member(study_id: str, user_id: str, *, status: str = "ACTIVE", role: str = "MEMBER",
                joined_at: datetime | None = None) -> None:
    StudyMember.create(id=new_id(), study=study_id, user=user_id, role=role, status=status,
                       joined_at=joined_at or utcnow())


@db_task
def _user_row(user_id: str) -> dict[str, Any]:
    return User.select().where(User.id == user_id).dicts().get()


@db_transaction
def _set_user(user_id: str, **changes: Any) -> None:
    User.update(**changes).where(User.id == user_id).execute()


@db_task
def _membership_statuses(user_id: str) -> dict[str, str]:
    return {m.study_id: m.status for m in StudyMember.select().where(StudyMember.user == user_id)}


@db_task
def _owned_rows(user_id: str) -> tuple[int, int]:
    return (Notification.select().where(Notification.user == user_id).count(),
            Task.select().where(Task.user == user_id).count())


@db_transaction
def _give_personal_rows(user_id: str) -> None:
    Notification.create(id=new_id(), user=user_id, type="ADMIN", message="안내")
    Task.create(id=new_id(), user=user_id, title="할 일")


@db_transaction
def _create_group(members: list[tuple[str, str]]) -> str:
    """A group whose members (user id, role) joined one minute apart, in list order."""
    start = utcnow() - timedelta(hours=1)
    group = Group.create(id=new_id(), name=f"그룹 {secrets.token_hex(3)}",
                         created_by=members[0][0])
    for index, (user_id, role) in enumerate(members):
        GroupMember.create(id=new_id(), group=group.id, user=user_id, role=role,
                           joined_at=start + timedelta(minutes=index))
    return group.id


@db_task
def _group_state(group_id: str) -> dict[str, Any]:
    group = Group.get_by_id(group_id)
    return {"deleted": group.deleted_at is not None,
            "members": {m.user_id: (m.role, m.status) for m in
                        GroupMember.select().where(GroupMember.group == group_id)}}


@db_transaction
def _invite(group_id: str, inviter_id: str, invited_id: str) -> str:
    return GroupInvite.create(id=new_id(), group=group_id, invited_by=inviter_id,
                              invited_user=invited_id, code=secrets.token_hex(6).upper()).id


@db_task
def _invite_status(invite_id: str) -> str:
    return GroupInvite.get_by_id(invite_id).status


@db_transaction
def _record_activity(user_id: str, study_id: str, today: date) -> None:
    now = utcnow()
    Task.create(id=new_id(), user=user_id, title="끝낸 일", status="DONE", completed=True,
                completed_at=now)
    Task.create(id=new_id(), user=user_id, title="남은 일")
    Notice.create(id=new_id(), study=study_id, author=user_id, title="공지", content="내용")
    Message.create(id=new_id(), study=study_id, user=user_id, client_id=new_id(), seq=1,
                   content="안녕하세요")
    Attendance.create(id=new_id(), study=study_id, user=user_id, date=today, streak=3)


def _delete(http: httpx.Client, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
    return http.request("DELETE", path, json=body)


def _avatar_dir(server: LiveServer) -> Path:
    return server.settings.upload_dir / "avatars"


def _upload(http: httpx.Client, content: bytes, name: str = "me.png",
            mime: str = "image/png") -> httpx.Response:
    return http.post("/api/users/me/avatar", files={"file": (name, content, mime)})


# --- search and public profiles ---------------------------------------------------------------


def test_search_matches_name_case_insensitively_newest_first_with_study_count(
        api: Api, server: LiveServer) -> None:
    tag = f"Zq{secrets.token_hex(3)}"
    first, second, third = (api.signup(name=f"{tag}Kim{i}") for i in range(3))
    study_id = server.call(_create_study(first.id))
    server.call(_add_member(study_id, second.id))
    server.call(_add_member(server.call(_create_study(third.id)), second.id, status="PENDING"))

    response = first.http.get("/api/users", params={"q": tag.lower(), "limit": 2})
    assert response.status_code == 200
    body = response.json()
    assert [u["id"] for u in body["data"]] == [third.id, second.id]
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2,
                                  "has_next": True, "has_prev": False}
    assert [u["study_count"] for u in body["data"]] == [1, 1]
    assert set(body["data"][0]) == {"id", "name", "avatar", "bio", "created_at", "study_count"}

    last = first.http.get("/api/users", params={"q": tag, "limit": 2, "page": 2}).json()
    assert [u["id"] for u in last["data"]] == [first.id]
    past_end = first.http.get("/api/users", params={"q": tag, "limit": 2, "page": 5}).json()
    assert past_end["data"] == [] and past_end["pagination"]["has_prev"] is True


def test_search_by_exact_email_finds_user_but_never_returns_the_email(api: Api) -> None:
    searcher, target = api.signup(), api.signup()
    response = searcher.http.get("/api/users", params={"q": target.email.upper()})
    assert [u["id"] for u in response.json()["data"]] == [target.id]
    assert target.email not in response.text
    assert "email" not in response.json()["data"][0]
    partial = searcher.http.get("/api/users", params={"q": target.email[:-4]}).json()
    assert partial["data"] == []


def test_search_rejects_bad_pagination_and_long_queries(api: Api) -> None:
    user = api.signup()
    for params in ({"limit": 0}, {"limit": 101}, {"page": 0}, {"page": "abc"}, {"q": "x" * 51}):
        response = user.http.get("/api/users", params=params)
        assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    both = user.http.get("/api/users", params={"page": 0, "limit": 500}).json()
    assert set(both["error"]["fields"]) == {"page", "limit"}


def test_search_needs_a_session(client: httpx.Client) -> None:
    response = client.get("/api/users")
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


def test_public_profile_shows_stats_and_only_public_visible_studies(
        api: Api, server: LiveServer) -> None:
    viewer, user = api.signup(), api.signup(name="공개 프로필")
    visible = server.call(_create_study(user.id, name="공개 스터디"))
    server.call(_create_study(user.id, is_public=False))
    server.call(_create_study(user.id, is_hidden=True))
    server.call(_add_member(server.call(_create_study(viewer.id)), user.id, status="PENDING"))
    server.call(_give_personal_rows(user.id))

    response = viewer.http.get(f"/api/users/{user.id}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["name"] == "공개 프로필" and "email" not in data
    assert data["stats"] == {"study_count": 3, "task_count": 1, "message_count": 0,
                             "notice_count": 0}
    assert [s["study_id"] for s in data["recent_studies"]] == [visible]
    assert data["recent_studies"][0]["role"] == "OWNER"
    assert data["recent_studies"][0]["study_name"] == "공개 스터디"


def test_profile_of_unknown_or_deleted_user_is_not_found(api: Api) -> None:
    viewer, leaver = api.signup(), api.signup()
    assert _delete(leaver.http, "/api/users/me", {"confirmation": leaver.email,
                                                  "password": leaver.password}).status_code == 200
    for user_id in ("no-such-user", leaver.id):
        response = viewer.http.get(f"/api/users/{user_id}")
        assert response.status_code == 404 and error_code(response) == "NOT_FOUND"


# --- own profile ------------------------------------------------------------------------------


def test_own_profile_has_me_stats_and_restrictions(api: Api, server: LiveServer) -> None:
    user = api.signup()
    server.call(_give_personal_rows(user.id))
    until = utcnow() + timedelta(days=1)
    server.call(_set_user(user.id, restricted_actions=["MESSAGE"], restricted_until=until))
    data = user.http.get("/api/users/me").json()["data"]
    assert data["user"]["email"] == user.email and data["user"]["has_password"] is True
    assert data["stats"] == {"study_count": 0, "task_count": 1, "unread_notifications": 1}
    assert data["restrictions"]["actions"] == ["MESSAGE"]


def test_patch_profile_changes_and_clears_fields(api: Api) -> None:
    user = api.signup()
    response = user.http.patch("/api/users/me", json={
        "name": "새 이름 Kim", "bio": "안녕하세요\n반갑습니다", "avatar": "https://cdn.example/a.png"})
    assert response.status_code == 200
    me = response.json()["data"]
    assert (me["name"], me["bio"], me["avatar"]) == (
        "새 이름 Kim", "안녕하세요\n반갑습니다", "https://cdn.example/a.png")
    cleared = user.http.patch("/api/users/me", json={"bio": "", "avatar": None}).json()["data"]
    assert cleared["bio"] is None and cleared["avatar"] is None and cleared["name"] == "새 이름 Kim"


def test_patch_profile_rejects_bad_fields_all_at_once(api: Api) -> None:
    user = api.signup()
    response = user.http.patch("/api/users/me", json={
        "name": "bad!name", "bio": "x" * 201, "avatar": "http://insecure.example/a.png",
        "email": "other@example.com"})
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"name", "bio", "avatar", "email"}
    for body in ({}, {"name": "a"}, {"name": "two  spaces"}, {"name": None},
                 {"avatar": "javascript:alert(1)"}):
        assert error_code(user.http.patch("/api/users/me", json=body)) == "VALIDATION_ERROR"


# --- password ---------------------------------------------------------------------------------


def _login(api: Api, email: str, password: str) -> httpx.Response:
    return api.anonymous().post("/api/auth/login", json={"email": email, "password": password})


def test_password_change_revokes_other_sessions_but_keeps_the_current_one(api: Api) -> None:
    user = api.signup()
    other = api.anonymous(headers={
        "Authorization": f"Bearer {_login(api, user.email, user.password).json()['data']['token']}"
    })
    assert other.get("/api/users/me").status_code == 200
    response = user.http.patch("/api/users/me/password", json={
        "current_password": user.password, "new_password": "Brand-new-pass-456",
        "confirm_password": "Brand-new-pass-456"})
    assert response.status_code == 200 and response.json()["data"] is None
    assert user.http.get("/api/users/me").status_code == 200
    revoked = other.get("/api/users/me")
    assert revoked.status_code == 401 and error_code(revoked) == "UNAUTHORIZED"
    assert _login(api, user.email, "Brand-new-pass-456").status_code == 200
    assert error_code(_login(api, user.email, user.password)) == "INVALID_CREDENTIALS"


def test_password_change_errors(api: Api) -> None:
    user = api.signup()
    cases = [
        ({"current_password": "Wrong-pass-999", "new_password": "Brand-new-pass-456"},
         "WRONG_PASSWORD", "current_password"),
        ({"current_password": user.password, "new_password": user.password},
         "SAME_PASSWORD", "new_password"),
        ({"current_password": user.password, "new_password": "abcdefgh"},
         "WEAK_PASSWORD", "new_password"),
        ({"current_password": user.password, "new_password": "Brand-new-pass-456",
          "confirm_password": "Brand-new-pass-457"}, "PASSWORD_MISMATCH", "confirm_password"),
        ({"new_password": "Brand-new-pass-456"}, "VALIDATION_ERROR", "current_password"),
        ({"current_password": user.password, "new_password": 12345678},
         "VALIDATION_ERROR", "new_password"),
    ]
    for body, code, field in cases:
        response = user.http.patch("/api/users/me/password", json=body)
        assert response.status_code == 400, response.text
        assert error_code(response) == code
        assert field in response.json()["error"]["fields"]


def test_sixth_wrong_current_password_is_rate_limited(api: Api) -> None:
    user = api.signup()
    body = {"current_password": "Wrong-pass-999", "new_password": "Brand-new-pass-456"}
    for _ in range(5):
        assert error_code(user.http.patch("/api/users/me/password", json=body)) == \
            "WRONG_PASSWORD"
    body["current_password"] = user.password
    limited = user.http.patch("/api/users/me/password", json=body)
    assert limited.status_code == 429 and error_code(limited) == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.json()["error"]["details"]["retry_after_ms"] > 0


def test_account_without_password_sets_its_first_one(api: Api, server: LiveServer) -> None:
    user = api.signup()
    server.call(_set_user(user.id, password_hash=None, provider="GOOGLE"))
    response = user.http.patch("/api/users/me/password",
                               json={"new_password": "First-pass-789"})
    assert response.status_code == 200
    assert user.http.get("/api/users/me").json()["data"]["user"]["has_password"] is True
    assert _login(api, user.email, "First-pass-789").status_code == 200


# --- account deletion -------------------------------------------------------------------------


def test_account_deletion_checks_confirmation_and_password(api: Api) -> None:
    user = api.signup()
    mismatch = _delete(user.http, "/api/users/me", {"confirmation": "other@example.com",
                                                    "password": user.password})
    assert mismatch.status_code == 400 and error_code(mismatch) == "CONFIRMATION_MISMATCH"
    wrong = _delete(user.http, "/api/users/me", {"confirmation": user.email,
                                                 "password": "Wrong-pass-999"})
    assert wrong.status_code == 400 and error_code(wrong) == "WRONG_PASSWORD"
    missing = _delete(user.http, "/api/users/me", {"confirmation": user.email})
    assert error_code(missing) == "VALIDATION_ERROR"
    assert user.http.get("/api/users/me").status_code == 200


def test_account_deletion_is_refused_while_owning_active_or_closed_studies(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    active = server.call(_create_study(user.id, name="운영 중"))
    closed = server.call(_create_study(user.id, status="CLOSED", name="종료됨"))
    server.call(_create_study(user.id, status="DELETED"))
    response = _delete(user.http, "/api/users/me", {"confirmation": user.email,
                                                    "password": user.password})
    assert response.status_code == 409 and error_code(response) == "OWNS_STUDIES"
    studies = response.json()["error"]["details"]["studies"]
    assert sorted((s["id"], s["name"]) for s in studies) == sorted(
        [(active, "운영 중"), (closed, "종료됨")])


def test_account_deletion_anonymises_and_frees_the_email(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    browser = api.browser()
    user = api.signup()
    login = browser.post("/api/auth/login", json={"email": user.email, "password": user.password})
    assert login.status_code == 200
    joined, applied = (server.call(_create_study(owner.id)) for _ in range(2))
    server.call(_add_member(joined, user.id))
    server.call(_add_member(applied, user.id, status="PENDING"))
    server.call(_give_personal_rows(user.id))

    response = _delete(browser, "/api/users/me", {"confirmation": user.email.upper(),
                                                  "password": user.password})
    assert response.status_code == 200 and response.json()["data"] is None
    assert 'coup_session=""' in response.headers["set-cookie"]

    row = server.call(_user_row(user.id))
    assert row["status"] == "DELETED" and row["deleted_at"] is not None
    assert row["email"] == f"deleted+{user.id}@deleted.invalid"
    assert row["name"] == "[탈퇴한 사용자]" and row["password_hash"] is None
    assert server.call(_membership_statuses(user.id)) == {joined: "LEFT"}
    assert server.call(_owned_rows(user.id)) == (0, 0)
    old_token = user.http.get("/api/users/me")
    assert old_token.status_code == 403 and error_code(old_token) == "ACCOUNT_DELETED"
    again = api.anonymous().post("/api/auth/signup", json={
        "email": user.email, "password": "Another-pass-123", "name": "다시 가입"})
    assert again.status_code == 201


def test_account_deletion_hands_groups_over_or_closes_them(api: Api, server: LiveServer) -> None:
    user, admin, member = api.signup(), api.signup(), api.signup()
    alone = server.call(_create_group([(user.id, "OWNER")]))
    owned = server.call(_create_group([(user.id, "OWNER"), (member.id, "MEMBER"),
                                       (admin.id, "ADMIN")]))
    no_admin = server.call(_create_group([(user.id, "OWNER"), (member.id, "MEMBER")]))
    elsewhere = server.call(_create_group([(admin.id, "OWNER")]))
    invite = server.call(_invite(elsewhere, admin.id, user.id))

    assert _delete(user.http, "/api/users/me", {"confirmation": user.email,
                                                "password": user.password}).status_code == 200
    assert server.call(_group_state(alone))["deleted"] is True
    state = server.call(_group_state(owned))
    assert state["deleted"] is False
    assert state["members"] == {user.id: ("MEMBER", "LEFT"), member.id: ("MEMBER", "ACTIVE"),
                                admin.id: ("OWNER", "ACTIVE")}
    assert server.call(_group_state(no_admin))["members"][member.id] == ("OWNER", "ACTIVE")
    assert server.call(_invite_status(invite)) == "CANCELLED"


# --- statistics -------------------------------------------------------------------------------


def test_my_stats_count_this_week_and_totals(api: Api, server: LiveServer) -> None:
    user, other = api.signup(), api.signup()
    empty = user.http.get("/api/users/me/stats").json()["data"]
    assert empty["this_week"] == {"completed_tasks": 0, "created_notices": 0,
                                  "uploaded_files": 0, "chat_messages": 0}
    assert empty["total"]["attendance_rate"] == 0 and empty["total"]["joined_days"] == 0

    today = datetime.now(UTC).astimezone(server.settings.tz).date()
    mine = server.call(_create_study(user.id))
    theirs = server.call(_create_study(other.id))
    # Joined 9 days ago with no check-in: 0 of 10 days, averaged with 1 of 1 in `mine`.
    server.call(_add_member(theirs, user.id, joined_at=utcnow() - timedelta(days=9)))
    server.call(_record_activity(user.id, mine, today))

    stats = user.http.get("/api/users/me/stats").json()["data"]
    assert stats["this_week"] == {"completed_tasks": 1, "created_notices": 1,
                                  "uploaded_files": 0, "chat_messages": 1}
    assert stats["total"] == {"study_count": 2, "managing_studies": 1, "completed_tasks": 1,
                              "attendance_rate": 50, "best_current_streak": 3,
                              "joined_days": 0}


# --- avatars ----------------------------------------------------------------------------------


def test_avatar_upload_is_served_with_cache_headers_and_replaces_the_old_file(
        api: Api, server: LiveServer, client: httpx.Client) -> None:
    user = api.signup()
    first = _upload(user.http, PNG)
    assert first.status_code == 200, first.text
    first_url = first.json()["data"]["avatar"]
    assert first_url.startswith(f"/media/avatars/{user.id}_") and first_url.endswith(".png")
    served = client.get(first_url)
    assert served.status_code == 200 and served.content == PNG
    assert served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert served.headers["Content-Type"] == "image/png"

    second = _upload(user.http, GIF, name="me.GIF", mime="image/gif")
    assert second.status_code == 200
    assert second.json()["data"]["avatar"].endswith(".gif")
    assert not (_avatar_dir(server) / first_url.rsplit("/", 1)[1]).exists()
    gone = client.get(first_url)
    assert gone.status_code == 404 and error_code(gone) == "NOT_FOUND"


def test_avatar_removal_deletes_the_file_and_needs_an_avatar(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    url = _upload(user.http, PNG).json()["data"]["avatar"]
    path = _avatar_dir(server) / url.rsplit("/", 1)[1]
    assert path.exists()
    removed = _delete(user.http, "/api/users/me/avatar")
    assert removed.status_code == 200 and removed.json()["data"]["avatar"] is None
    assert not path.exists()
    again = _delete(user.http, "/api/users/me/avatar")
    assert again.status_code == 404 and error_code(again) == "NOT_FOUND"

    external = user.http.patch("/api/users/me", json={"avatar": "https://cdn.example/x.png"})
    assert external.status_code == 200
    assert _delete(user.http, "/api/users/me/avatar").json()["data"]["avatar"] is None


def test_clearing_an_uploaded_avatar_by_patch_deletes_its_file(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    url = _upload(user.http, PNG).json()["data"]["avatar"]
    assert user.http.patch("/api/users/me", json={"avatar": None}).status_code == 200
    assert not (_avatar_dir(server) / url.rsplit("/", 1)[1]).exists()


@pytest.mark.parametrize(("content", "name", "mime", "status", "code"), [
    (PNG[:1000], "me.png", "image/png", 400, "VALIDATION_ERROR"),
    (PNG + b"\x00" * (5 * 1024 * 1024), "me.png", "image/png", 413, "FILE_TOO_LARGE"),
    (PNG, "me.exe", "image/png", 400, "FILE_TYPE_NOT_ALLOWED"),
    (PNG, "me.png", "image/jpeg", 400, "FILE_TYPE_NOT_ALLOWED"),
    (PNG, "me", "image/png", 400, "FILE_TYPE_NOT_ALLOWED"),
    (b"MZ" + b"\x00" * 2046, "me.png", "image/png", 400, "FILE_REJECTED"),
    (PNG, "me.jpg", "image/jpeg", 400, "FILE_REJECTED"),
])
def test_avatar_upload_rules(api: Api, server: LiveServer, content: bytes, name: str,
                             mime: str, status: int, code: str) -> None:
    user = api.signup()
    response = _upload(user.http, content, name, mime)
    assert response.status_code == status and error_code(response) == code
    assert user.http.get("/api/users/me").json()["data"]["user"]["avatar"] is None
    assert not list(_avatar_dir(server).glob(f"{user.id}_*"))


def test_avatar_upload_far_over_the_limit_is_refused_before_reading(api: Api) -> None:
    user = api.signup()
    response = _upload(user.http, PNG + b"\x00" * (6 * 1024 * 1024))
    assert response.status_code == 413 and error_code(response) == "FILE_TOO_LARGE"


def test_avatar_upload_needs_a_multipart_file_field(api: Api) -> None:
    user = api.signup()
    wrong_field = user.http.post("/api/users/me/avatar",
                                 files={"image": ("me.png", PNG, "image/png")})
    assert error_code(wrong_field) == "VALIDATION_ERROR"
    assert set(wrong_field.json()["error"]["fields"]) == {"image", "file"}
    as_json = user.http.post("/api/users/me/avatar", json={"file": "x"})
    assert as_json.status_code == 400 and error_code(as_json) == "BAD_REQUEST"


def test_unknown_avatar_file_is_a_json_404(client: httpx.Client) -> None:
    response = client.get("/media/avatars/nobody_123.png")
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"
