"""Studies (COUP.md §7.3, §9.2, §10.2) through the real server, on SQLite and PostgreSQL:
categories, explore, create, detail, settings and soft delete."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from coup.store import system_settings
from coup.store.db import db_task, db_transaction
from coup.store.events import Effects, events_after
from coup.store.fields import new_id, utcnow
from coup.store.models import AdminRole, Study, StudyMember, User
from tests.conftest import Api, LiveServer, error_code, watching_effects

# --- helpers ----------------------------------------------------------------------------------


@db_transaction
def set_study(study_id: str, **fields: Any) -> None:
    Study.update(**fields).where(Study.id == study_id).execute()


@db_transaction
def add_member(study_id: str, user_id: str, status: str = "ACTIVE", role: str = "MEMBER",
                minutes_ago: int = 0) -> None:
    joined = utcnow() - timedelta(minutes=minutes_ago)
    StudyMember.create(study=study_id, user=user_id, role=role, status=status,
                       joined_at=joined if status == "ACTIVE" else None, applied_at=joined)


@db_transaction
def _add_fake_members(study_id: str, count: int) -> None:
    now = utcnow()
    users = [{"id": new_id(), "email": f"bulk-{secrets.token_hex(8)}@example.com",
              "name": "벌크유저", "created_at": now, "updated_at": now} for _ in range(count)]
    User.insert_many(users).execute()
    StudyMember.insert_many([
        {"id": new_id(), "study": study_id, "user": u["id"], "role": "MEMBER",
         "status": "ACTIVE", "joined_at": now, "created_at": now, "updated_at": now}
        for u in users]).execute()


@db_transaction
def _set_user(user_id: str, **fields: Any) -> None:
    User.update(**fields).where(User.id == user_id).execute()


@db_transaction
def _grant_admin(user_id: str) -> None:
    AdminRole.create(user=user_id, role="ADMIN")


@db_task
def study_row(study_id: str) -> dict[str, Any]:
    return Study.select().where(Study.id == study_id).dicts().get()


@db_task
def member_rows(study_id: str) -> dict[str, dict[str, Any]]:
    rows = StudyMember.select().where(StudyMember.study == study_id).dicts()
    return {row["user"]: row for row in rows}


def _events(server: LiveServer, study_id: str, since: int = 0) -> list[Any]:
    return server.call(events_after(study_id, since, 100))


@contextmanager
def _setting(server: LiveServer, key: str, value: Any) -> Iterator[None]:
    old = server.call(system_settings.load_effective_settings())[key]
    server.call(system_settings.store_setting(key, value))
    server.services.system_settings.invalidate()
    try:
        yield
    finally:
        server.call(system_settings.store_setting(key, old))
        server.services.system_settings.invalidate()


_captured: dict[int, list[Effects]] = {}


_watching: list[Any] = []


def _captured_effects(server: LiveServer) -> list[Effects]:
    """Every committed write's effects, as the node hands them to the realtime layer."""
    key = id(server.node)
    if key not in _captured:
        _captured[key] = []

        async def capture(effects: Effects) -> None:
            _captured[key].append(effects)

        # Kept for the rest of the session (the context is held, never left): later tests
        # read what they wrote from the list.
        watching = watching_effects(capture)
        watching.__enter__()
        _watching.append(watching)
    return _captured[key]


def assert_no_email(value: Any) -> None:
    if isinstance(value, dict):
        assert "email" not in value, value
        for item in value.values():
            assert_no_email(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_email(item)


# --- categories and create --------------------------------------------------------------------


def test_categories_list_every_category_with_english_labels(api: Api) -> None:
    response = api.anonymous().get("/api/studies/categories")
    assert response.status_code == 200
    data = {c["value"]: c for c in response.json()["data"]}
    assert list(data) == ["개발", "언어", "취업/자격증", "교양/취미", "학업", "재테크", "기타"]
    assert data["개발"]["label_en"] == "Development"
    assert {"value": "데이터 분석", "label_en": "Data analysis"} in data["개발"]["sub_categories"]
    assert len(data["개발"]["sub_categories"]) == 8
    assert data["재테크"]["sub_categories"] == []


def test_create_study_makes_the_creator_its_active_owner(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    response = owner.http.post("/api/studies", json={
        "name": "  알고리즘 스터디 ", "emoji": "🔥", "description": "매주 문제를 풉니다.\n함께해요",
        "category": "개발", "sub_category": "알고리즘"})
    assert response.status_code == 201, response.text
    study = response.json()["data"]
    assert study["name"] == "알고리즘 스터디"
    assert study["description"] == "매주 문제를 풉니다.\n함께해요"
    assert (study["max_members"], study["is_public"], study["auto_approve"],
            study["is_recruiting"], study["tags"]) == (20, True, True, True, [])
    assert (study["current_members"], study["recruiting_state"], study["status"]) == (
        1, "recruiting", "ACTIVE")
    assert (study["my_status"], study["my_role"]) == ("ACTIVE", "OWNER")
    assert study["my_joined_at"].endswith("Z") and study["is_hidden"] is False
    assert study["owner"] == {"id": owner.id, "name": owner.name, "avatar": None}
    assert_no_email(study)
    member = server.call(member_rows(study["id"]))[owner.id]
    assert (member["role"], member["status"]) == ("OWNER", "ACTIVE")
    assert member["joined_at"] is not None and member["approved_at"] is not None
    assert server.call(study_row(study["id"]))["last_seq"] == 0


def test_create_study_removes_duplicate_tags_case_insensitively(api: Api) -> None:
    owner = api.signup()
    study = api.create_study(owner, tags=[" Python ", "python", "웹", "PYTHON", "웹"])
    assert study["tags"] == ["Python", "웹"]
    eleven_with_duplicates = [f"t{i}" for i in range(10)] + ["T0"]
    assert api.create_study(owner, tags=eleven_with_duplicates)["tags"][-1] == "t9"


def test_create_study_reports_every_invalid_field(api: Api) -> None:
    owner = api.signup()
    response = owner.http.post("/api/studies", json={
        "emoji": "", "description": "짧음", "category": "요리", "tags": ["ok", "x" * 21, ""],
        "max_members": 1, "is_public": "yes", "owner_id": owner.id})
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"name", "emoji", "description", "category", "tags[1]", "tags[2]",
                           "max_members", "is_public", "owner_id"}
    too_many = owner.http.post("/api/studies", json={
        "name": "태그 많음", "emoji": "📚", "description": "설명은 열 글자 이상입니다",
        "category": "개발", "tags": [f"t{i}" for i in range(11)]})
    assert error_code(too_many) == "VALIDATION_ERROR"
    assert set(too_many.json()["error"]["fields"]) == {"tags"}


def test_create_study_requires_a_sub_category_of_its_category(api: Api) -> None:
    owner = api.signup()
    body = {"name": "재테크 모임", "emoji": "💰", "description": "돈 공부를 합니다 함께요"}
    for category, sub in (("재테크", "웹"), ("개발", "영어"), ("개발", "없는 분류")):
        response = owner.http.post("/api/studies", json={**body, "category": category,
                                                         "sub_category": sub})
        assert error_code(response) == "VALIDATION_ERROR", (category, sub)
        assert set(response.json()["error"]["fields"]) == {"sub_category"}
    assert api.create_study(owner, category="학업", sub_category="영어")["sub_category"] == "영어"
    assert api.create_study(owner, category="재테크", sub_category="")["sub_category"] is None


def test_create_study_caps_max_members_at_the_setting(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    with _setting(server, "max_study_members", 12):
        too_big = owner.http.post("/api/studies", json={
            "name": "큰 스터디", "emoji": "📚", "description": "인원이 많은 스터디입니다",
            "category": "개발", "max_members": 13})
        assert error_code(too_big) == "VALIDATION_ERROR"
        assert "max_members" in too_big.json()["error"]["fields"]
        assert api.create_study(owner, max_members=12)["max_members"] == 12
        assert api.create_study(owner)["max_members"] == 12  # the default 20 is capped


def test_create_study_feature_switch_exempts_platform_admins(api: Api,
                                                            server: LiveServer) -> None:
    user, admin = api.signup(), api.signup()
    server.call(_grant_admin(admin.id))
    with _setting(server, "allow_study_creation", False):
        # FEATURE_DISABLED comes before validation.
        response = user.http.post("/api/studies", json={"bogus": 1})
        assert response.status_code == 403 and error_code(response) == "FEATURE_DISABLED"
        assert api.create_study(admin)["my_role"] == "OWNER"
    assert api.create_study(user)["my_role"] == "OWNER"


def test_create_study_refused_while_restricted(api: Api, server: LiveServer) -> None:
    user = api.signup()
    until = utcnow() + timedelta(days=1)
    server.call(_set_user(user.id, restricted_actions=["STUDY_CREATE"], restricted_until=until))
    response = user.http.post("/api/studies", json={"bogus": 1})
    assert response.status_code == 403 and error_code(response) == "RESTRICTED"
    assert response.json()["error"]["details"]["action"] == "STUDY_CREATE"
    assert response.json()["error"]["details"]["restricted_until"].endswith("Z")
    server.call(_set_user(user.id, restricted_actions=["MESSAGE"], restricted_until=until))
    api.create_study(user)
    server.call(_set_user(user.id, restricted_actions=["STUDY_CREATE"],
                          restricted_until=utcnow() - timedelta(minutes=1)))
    api.create_study(user)  # an expired restriction is not in force


def test_create_study_needs_a_session(api: Api) -> None:
    response = api.anonymous().post("/api/studies", json={})
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


# --- detail -----------------------------------------------------------------------------------


def test_detail_lists_active_members_by_role_without_emails(api: Api, server: LiveServer) -> None:
    owner, admin, member, applicant = (api.signup() for _ in range(4))
    study = api.create_study(owner)
    server.call(add_member(study["id"], member.id, minutes_ago=60))
    server.call(add_member(study["id"], admin.id, role="ADMIN", minutes_ago=1))
    server.call(add_member(study["id"], applicant.id, status="PENDING"))
    response = api.anonymous().get(f"/api/studies/{study['id']}")
    assert response.status_code == 200
    data = response.json()["data"]
    assert [m["user_id"] for m in data["members"]] == [owner.id, admin.id, member.id]
    assert [m["role"] for m in data["members"]] == ["OWNER", "ADMIN", "MEMBER"]
    assert data["members"][2]["user"] == {"id": member.id, "name": member.name, "avatar": None}
    assert data["current_members"] == 3
    assert (data["pending_requests"], data["my_status"], data["my_role"]) == (None, None, None)
    assert (data["is_hidden"], data["closed_reason"]) == (None, None)  # members only
    assert_no_email(data)


def test_pending_requests_count_is_for_study_admins_only(api: Api, server: LiveServer) -> None:
    owner, admin, member, applicant = (api.signup() for _ in range(4))
    study = api.create_study(owner, is_public=False)
    server.call(add_member(study["id"], admin.id, role="ADMIN"))
    server.call(add_member(study["id"], member.id))
    server.call(add_member(study["id"], applicant.id, status="PENDING"))
    url = f"/api/studies/{study['id']}"
    assert owner.http.get(url).json()["data"]["pending_requests"] == 1
    assert admin.http.get(url).json()["data"]["pending_requests"] == 1
    assert member.http.get(url).json()["data"]["pending_requests"] is None
    seen = applicant.http.get(url).json()["data"]  # a PENDING applicant sees a private study
    assert (seen["my_status"], seen["my_role"], seen["pending_requests"]) == (
        "PENDING", None, None)


def test_private_study_needs_membership_or_an_active_invite_code(api: Api,
                                                                 server: LiveServer) -> None:
    owner, outsider = api.signup(), api.signup()
    study = api.create_study(owner, is_public=False)
    other = api.create_study(owner, is_public=False)
    url = f"/api/studies/{study['id']}"
    assert error_code(outsider.http.get(url)) == "NOT_FOUND"
    assert error_code(api.anonymous().get(url)) == "NOT_FOUND"
    code = owner.http.post(f"{url}/invite", json={}).json()["data"]["invite_code"]
    other_code = owner.http.post(f"/api/studies/{other['id']}/invite",
                                 json={}).json()["data"]["invite_code"]
    seen = outsider.http.get(url, params={"invite_code": code.lower()})
    assert seen.status_code == 200 and seen.json()["data"]["id"] == study["id"]
    assert api.anonymous().get(url, params={"invite_code": code}).status_code == 200
    assert error_code(outsider.http.get(url, params={"invite_code": other_code})) == "NOT_FOUND"
    assert error_code(outsider.http.get(url, params={"invite_code": "ZZZZZZZZ"})) == "NOT_FOUND"
    server.call(set_study(study["id"], invite_code_expires_at=utcnow() - timedelta(seconds=1)))
    assert error_code(outsider.http.get(url, params={"invite_code": code})) == "NOT_FOUND"


def test_hidden_study_is_not_found_for_outsiders(api: Api, server: LiveServer) -> None:
    owner, member, outsider = api.signup(), api.signup(), api.signup()
    study = api.create_study(owner)
    server.call(add_member(study["id"], member.id))
    code = owner.http.post(f"/api/studies/{study['id']}/invite",
                           json={}).json()["data"]["invite_code"]
    server.call(set_study(study["id"], is_hidden=True, hidden_reason="spam"))
    url = f"/api/studies/{study['id']}"
    assert error_code(outsider.http.get(url)) == "NOT_FOUND"
    assert error_code(api.anonymous().get(url, params={"invite_code": code})) == "NOT_FOUND"
    assert member.http.get(url).json()["data"]["is_hidden"] is True


def test_closed_public_study_stays_visible_and_read_only(api: Api, server: LiveServer) -> None:
    owner, outsider = api.signup(), api.signup()
    study = api.create_study(owner)
    server.call(set_study(study["id"], status="CLOSED", closed_at=utcnow(),
                           closed_reason="운영 종료"))
    url = f"/api/studies/{study['id']}"
    seen = outsider.http.get(url).json()["data"]
    assert (seen["status"], seen["recruiting_state"], seen["closed_reason"]) == (
        "CLOSED", "closed", None)
    assert owner.http.get(url).json()["data"]["closed_reason"] == "운영 종료"
    response = owner.http.patch(url, json={"name": "새 이름입니다"})
    assert response.status_code == 409 and error_code(response) == "STUDY_CLOSED"


def test_detail_lists_at_most_100_members(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, max_members=100)
    server.call(_add_fake_members(study["id"], 100))
    data = api.anonymous().get(f"/api/studies/{study['id']}").json()["data"]
    assert len(data["members"]) == 100 and data["members"][0]["role"] == "OWNER"
    assert data["current_members"] == 101


def test_unknown_study_is_not_found(api: Api) -> None:
    response = api.anonymous().get("/api/studies/no-such-study")
    assert response.status_code == 404 and error_code(response) == "NOT_FOUND"


# --- update -----------------------------------------------------------------------------------


def test_owner_updates_settings_and_the_room_gets_study_updated(api: Api,
                                                                server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, category="개발", sub_category="웹")
    url = f"/api/studies/{study['id']}"
    response = owner.http.patch(url, json={"name": "새 이름 스터디", "tags": ["A", "a", "b"],
                                           "max_members": 30, "is_recruiting": False})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["name"], data["tags"], data["max_members"], data["recruiting_state"]) == (
        "새 이름 스터디", ["A", "b"], 30, "closed")
    assert (data["my_role"], data["my_status"], data["sub_category"]) == ("OWNER", "ACTIVE", "웹")
    assert_no_email(data)
    second = owner.http.patch(url, json={"description": "바뀐 설명입니다. 열 글자 이상"})
    assert second.status_code == 200
    events = _events(server, study["id"])
    assert [(e.seq, e.type) for e in events] == [(1, "study:updated"), (2, "study:updated")]
    payload = events[0].payload
    assert (payload["study_id"], payload["seq"]) == (study["id"], 1)
    room = payload["study"]
    assert (room["name"], room["max_members"], room["is_hidden"]) == ("새 이름 스터디", 30, False)
    assert (room["my_status"], room["my_role"], room["my_joined_at"]) == (None, None, None)
    assert_no_email(payload)
    assert events[1].payload["study"]["description"] == "바뀐 설명입니다. 열 글자 이상"
    assert server.call(study_row(study["id"]))["last_seq"] == 2


def test_update_refuses_fields_outside_the_whitelist(api: Api, server: LiveServer) -> None:
    owner, other = api.signup(), api.signup()
    study = api.create_study(owner)
    url = f"/api/studies/{study['id']}"
    response = owner.http.patch(url, json={"owner_id": other.id, "invite_code": "ABCDEFGH",
                                           "status": "DELETED", "rating": 5, "name": "ok 이름"})
    assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"owner_id", "invite_code", "status",
                                                       "rating"}
    assert error_code(owner.http.patch(url, json={})) == "VALIDATION_ERROR"
    assert error_code(owner.http.patch(url, json={"name": None})) == "VALIDATION_ERROR"
    row = server.call(study_row(study["id"]))
    assert (row["owner"], row["name"], row["last_seq"]) == (owner.id, study["name"], 0)


def test_update_max_members_between_active_count_and_setting(api: Api,
                                                            server: LiveServer) -> None:
    owner, a, b = api.signup(), api.signup(), api.signup()
    study = api.create_study(owner)
    server.call(add_member(study["id"], a.id))
    server.call(add_member(study["id"], b.id))
    url = f"/api/studies/{study['id']}"
    below = owner.http.patch(url, json={"max_members": 2})
    assert error_code(below) == "VALIDATION_ERROR" and "max_members" in below.json()["error"][
        "fields"]
    assert owner.http.patch(url, json={"max_members": 3}).json()["data"]["max_members"] == 3
    with _setting(server, "max_study_members", 50):
        assert error_code(owner.http.patch(url, json={"max_members": 51})) == "VALIDATION_ERROR"
        assert owner.http.patch(url, json={"max_members": 50}).status_code == 200


def test_update_checks_the_sub_category_against_the_new_category(api: Api) -> None:
    owner = api.signup()
    study = api.create_study(owner, category="개발", sub_category="웹")
    url = f"/api/studies/{study['id']}"
    response = owner.http.patch(url, json={"category": "재테크"})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"sub_category"}
    changed = owner.http.patch(url, json={"category": "재테크", "sub_category": None})
    assert (changed.json()["data"]["category"], changed.json()["data"]["sub_category"]) == (
        "재테크", None)


def test_turning_auto_approve_on_keeps_pending_applications(api: Api,
                                                          server: LiveServer) -> None:
    owner, applicant = api.signup(), api.signup()
    study = api.create_study(owner, auto_approve=False)
    server.call(add_member(study["id"], applicant.id, status="PENDING"))
    owner.http.patch(f"/api/studies/{study['id']}", json={"auto_approve": True})
    assert server.call(member_rows(study["id"]))[applicant.id]["status"] == "PENDING"


def test_only_the_owner_may_edit_or_delete(api: Api, server: LiveServer) -> None:
    owner, admin, member, outsider = (api.signup() for _ in range(4))
    public = api.create_study(owner)
    private = api.create_study(owner, is_public=False)
    for study in (public, private):
        server.call(add_member(study["id"], admin.id, role="ADMIN"))
        server.call(add_member(study["id"], member.id))
    for method in ("patch", "delete"):
        for study in (public, private):
            url = f"/api/studies/{study['id']}"
            send = {"json": {"name": "바꾼 이름"}} if method == "patch" else {}
            for user in (admin, member):
                assert error_code(getattr(user.http, method)(url, **send)) == "FORBIDDEN"
            expected = "NOT_MEMBER" if study is public else "NOT_FOUND"
            assert error_code(getattr(outsider.http, method)(url, **send)) == expected
            assert error_code(getattr(api.anonymous(), method)(url, **send)) == "UNAUTHORIZED"
    assert server.call(study_row(public["id"]))["last_seq"] == 0


# --- delete -----------------------------------------------------------------------------------


def test_owner_soft_deletes_the_study(api: Api, server: LiveServer) -> None:
    owner, member, applicant = api.signup(), api.signup(), api.signup()
    study = api.create_study(owner)
    sid = study["id"]
    server.call(add_member(sid, member.id))
    server.call(add_member(sid, applicant.id, status="PENDING"))
    owner.http.post(f"/api/studies/{sid}/invite", json={})
    owner.http.patch(f"/api/studies/{sid}", json={"name": "삭제될 스터디"})
    effects = _captured_effects(server)
    response = owner.http.delete(f"/api/studies/{sid}")
    assert response.status_code == 200 and response.json()["data"] is None
    row = server.call(study_row(sid))
    assert (row["status"], row["invite_code"], row["invite_code_created_by"]) == (
        "DELETED", None, None)
    assert row["deleted_at"] is not None
    assert set(server.call(member_rows(sid))) == {owner.id, member.id}  # PENDING row removed
    events = _events(server, sid)
    assert [(e.seq, e.type) for e in events] == [(1, "study:updated"), (2, "study:deleted")]
    assert events[1].payload == {"study_id": sid, "seq": 2}
    removals = [r for e in effects for r in e.removals if r.study_id == sid]
    assert [(r.user_id, r.reason) for r in removals] == [(None, "deleted")]
    for http in (owner.http, member.http, api.anonymous()):
        assert error_code(http.get(f"/api/studies/{sid}")) == "NOT_FOUND"
    assert error_code(owner.http.delete(f"/api/studies/{sid}")) == "NOT_FOUND"
    assert error_code(owner.http.patch(f"/api/studies/{sid}", json={"name": "다시"})) == (
        "NOT_FOUND")


def test_owner_may_delete_a_closed_study(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    server.call(set_study(study["id"], status="CLOSED", closed_at=utcnow()))
    assert owner.http.delete(f"/api/studies/{study['id']}").status_code == 200
    assert server.call(study_row(study["id"]))["status"] == "DELETED"
