"""Community groups (COUP.md §7.16) through the real server, on SQLite and PostgreSQL:
visibility, names, roles, join checks in order, leave and ownership, members, invites and
email privacy."""

from __future__ import annotations

import re
import secrets
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from coup.store.db import db_task, db_transaction
from coup.store.fields import utcnow
from coup.store.models import GroupInvite, GroupMember
from tests.conftest import Api, LiveServer, User, error_code

GROUP_KEYS = {"id", "name", "description", "category", "image_url", "tags", "is_public",
              "max_members", "is_recruiting", "current_members", "created_by", "is_member",
              "my_role", "my_status", "created_at", "updated_at"}
MEMBER_KEYS = {"user", "role", "status", "joined_at", "left_at"}
INVITE_KEYS = {"id", "group_id", "code", "status", "email", "invited_user", "invited_by",
               "expires_at", "used_at", "used_by", "created_at"}


# --- helpers ----------------------------------------------------------------------------------


@pytest.fixture()
def token() -> str:
    """A word no other test's group contains, so list results are this test's only."""
    return f"g{secrets.token_hex(4)}"


def create_group(user: User, **fields: Any) -> dict[str, Any]:
    body = {"name": f"그룹 {secrets.token_hex(4)}", **fields}
    response = user.http.post("/api/groups", json=body)
    assert response.status_code == 201, response.text
    return response.json()["data"]


def join(user: User, group_id: str, code: str | None = None) -> httpx.Response:
    return user.http.post(f"/api/groups/{group_id}/join",
                          json={"invite_code": code} if code else {})


def joined(user: User, group_id: str) -> None:
    response = join(user, group_id)
    assert response.status_code == 201, response.text


def add(actor: User, group_id: str, user: User, role: str = "MEMBER") -> httpx.Response:
    return actor.http.post(f"/api/groups/{group_id}/members",
                           json={"user_id": user.id, "role": role})


def invite(actor: User, group_id: str, **fields: Any) -> httpx.Response:
    return actor.http.post(f"/api/groups/{group_id}/invites", json=fields)


def remove(actor: User, group_id: str, user: User, kick: bool = False) -> httpx.Response:
    return actor.http.delete(f"/api/groups/{group_id}/members",
                             params={"user_id": user.id, "kick": str(kick).lower()})


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [group["name"] for group in response.json()["data"]]


@db_task
def member_row(group_id: str, user_id: str) -> dict[str, Any] | None:
    return (GroupMember.select().where((GroupMember.group == group_id)
                                       & (GroupMember.user == user_id)).dicts().first())


@db_task
def member_rows(group_id: str, user_id: str) -> int:
    return GroupMember.select().where((GroupMember.group == group_id)
                                      & (GroupMember.user == user_id)).count()


@db_task
def invite_row(invite_id: str) -> dict[str, Any]:
    return GroupInvite.select().where(GroupInvite.id == invite_id).dicts().get()


@db_transaction
def set_invite(invite_id: str, **changes: Any) -> None:
    GroupInvite.update(**changes).where(GroupInvite.id == invite_id).execute()


@db_transaction
def set_joined_at(group_id: str, user_id: str, moment: datetime) -> None:
    GroupMember.update(joined_at=moment).where((GroupMember.group == group_id)
                                               & (GroupMember.user == user_id)).execute()


# --- create, edit, delete ---------------------------------------------------------------------


def test_create_group_fills_defaults_and_makes_the_creator_owner(api: Api) -> None:
    owner = api.signup(name="그룹장")
    response = owner.http.post("/api/groups", json={
        "name": "  알고리즘 모임 ", "description": "매주 한 문제\n같이 풀어요",
        "tags": ["코딩", "코딩"]})
    assert response.status_code == 201, response.text
    group = response.json()["data"]
    assert set(group) == GROUP_KEYS
    assert group["name"] == "알고리즘 모임"
    assert group["description"] == "매주 한 문제\n같이 풀어요"
    assert (group["category"], group["max_members"], group["is_public"],
            group["is_recruiting"], group["image_url"]) == ("ETC", 50, True, True, None)
    assert group["tags"] == ["코딩"]
    assert group["created_by"] == {"id": owner.id, "name": "그룹장", "avatar": None}
    assert (group["is_member"], group["my_role"], group["my_status"],
            group["current_members"]) == (True, "OWNER", "ACTIVE", 1)
    assert owner.email not in response.text


def test_create_group_reports_every_invalid_field(api: Api) -> None:
    owner = api.signup()
    response = owner.http.post("/api/groups", json={
        "name": "a<b>", "description": "x" * 1001, "category": "GAMES",
        "image_url": "http://example.com/a.png", "tags": ["ok", "x" * 21], "max_members": 201,
        "is_public": "yes", "color": "red"})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {
        "name", "description", "category", "image_url", "tags[1]", "max_members", "is_public",
        "color"}
    tags = owner.http.post("/api/groups", json={"name": "태그 그룹", "tags": ["ok", "x" * 21]})
    assert set(tags.json()["error"]["fields"]) == {"tags[1]"}
    for name in ("x", "a/b", "a\\b", "{a}", "[a]"):
        bad = owner.http.post("/api/groups", json={"name": name})
        assert error_code(bad) == "VALIDATION_ERROR", name
    assert error_code(api.anonymous().post("/api/groups", json={"name": "익명"})) == \
        "UNAUTHORIZED"


def test_group_names_are_unique_case_insensitively_among_live_groups(api: Api,
                                                                     token: str) -> None:
    owner, other = api.signup(), api.signup()
    first = create_group(owner, name=f"Study {token}")
    taken = other.http.post("/api/groups", json={"name": f"STUDY {token.upper()}"})
    assert taken.status_code == 409
    assert error_code(taken) == "GROUP_NAME_TAKEN"
    second = create_group(other, name=f"Other {token}")
    rename = other.http.patch(f"/api/groups/{second['id']}",
                              json={"name": f"study {token}"})
    assert error_code(rename) == "GROUP_NAME_TAKEN"
    same = owner.http.patch(f"/api/groups/{first['id']}", json={"name": f"STUDY {token}"})
    assert same.status_code == 200 and same.json()["data"]["name"] == f"STUDY {token}"
    assert owner.http.delete(f"/api/groups/{first['id']}").status_code == 200
    create_group(other, name=f"study {token}")  # the deleted group no longer holds it


def test_patch_needs_group_admin_and_keeps_max_members_above_the_active_count(
        api: Api) -> None:
    owner, admin, member, outsider = (api.signup() for _ in range(4))
    group = create_group(owner)
    gid = group["id"]
    add(owner, gid, admin, "ADMIN")
    joined(member, gid)
    assert error_code(member.http.patch(f"/api/groups/{gid}", json={"tags": []})) == \
        "FORBIDDEN"
    assert error_code(outsider.http.patch(f"/api/groups/{gid}", json={"tags": []})) == \
        "NOT_MEMBER"
    response = admin.http.patch(f"/api/groups/{gid}", json={
        "description": None, "tags": ["새 태그"], "category": "STUDY", "max_members": 3,
        "image_url": "https://cdn.example.com/g.png"})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["tags"], data["category"], data["max_members"], data["my_role"]) == \
        (["새 태그"], "STUDY", 3, "ADMIN")
    too_small = admin.http.patch(f"/api/groups/{gid}", json={"max_members": 2})
    assert error_code(too_small) == "VALIDATION_ERROR"
    assert "max_members" in too_small.json()["error"]["fields"]
    assert error_code(admin.http.patch(f"/api/groups/{gid}", json={"category": None})) == \
        "VALIDATION_ERROR"
    assert error_code(admin.http.patch(f"/api/groups/{gid}", json={})) == "VALIDATION_ERROR"
    private = create_group(owner, is_public=False)
    assert error_code(outsider.http.patch(f"/api/groups/{private['id']}",
                                          json={"tags": []})) == "NOT_FOUND"


def test_delete_needs_the_owner_an_empty_group_and_cancels_pending_invites(
        api: Api, server: LiveServer) -> None:
    owner, admin = api.signup(), api.signup()
    gid = create_group(owner)["id"]
    add(owner, gid, admin, "ADMIN")
    pending = invite(owner, gid).json()["data"]
    assert error_code(admin.http.delete(f"/api/groups/{gid}")) == "FORBIDDEN"
    assert error_code(owner.http.delete(f"/api/groups/{gid}")) == "GROUP_NOT_EMPTY"
    assert admin.http.post(f"/api/groups/{gid}/leave").status_code == 200
    response = owner.http.delete(f"/api/groups/{gid}")
    assert response.status_code == 200 and response.json()["data"] is None
    assert server.call(invite_row(pending["id"]))["status"] == "CANCELLED"
    assert error_code(owner.http.get(f"/api/groups/{gid}")) == "NOT_FOUND"
    assert error_code(join(admin, gid)) == "NOT_FOUND"


# --- visibility, lists, search, detail --------------------------------------------------------


def test_private_groups_are_visible_only_to_active_members(api: Api, token: str) -> None:
    owner, member, outsider = api.signup(), api.signup(), api.signup()
    private = create_group(owner, name=f"비공개 {token}", is_public=False)
    public = create_group(owner, name=f"공개 {token}")
    add(owner, private["id"], member)
    assert names(outsider.http.get("/api/groups", params={"search": token})) == \
        [f"공개 {token}"]
    assert names(outsider.http.get("/api/groups/search", params={"q": token})) == \
        [f"공개 {token}"]
    assert sorted(names(member.http.get("/api/groups", params={"search": token}))) == \
        sorted([f"비공개 {token}", f"공개 {token}"])
    for path in ("", "/members", "/invites"):
        assert error_code(outsider.http.get(f"/api/groups/{private['id']}{path}")) == \
            "NOT_FOUND"
    assert error_code(outsider.http.post(f"/api/groups/{private['id']}/leave")) == "NOT_FOUND"
    assert member.http.get(f"/api/groups/{private['id']}").status_code == 200
    assert outsider.http.get(f"/api/groups/{public['id']}").json()["data"]["is_member"] is False
    remove(owner, private["id"], member)
    assert error_code(member.http.get(f"/api/groups/{private['id']}")) == "NOT_FOUND"


def test_group_list_filters_sorts_and_pages(api: Api, token: str) -> None:
    owner, viewer = api.signup(), api.signup()
    quiet = create_group(owner, name=f"조용한 {token}", category="HOBBY", is_recruiting=False)
    busy = create_group(owner, name=f"붐비는 {token}", category="STUDY")
    described = create_group(owner, name=f"설명만 {secrets.token_hex(2)}",
                             description=f"about {token}")
    for _ in range(2):
        joined(api.signup(), busy["id"])
    add(owner, quiet["id"], viewer)
    latest = names(viewer.http.get("/api/groups", params={"search": token}))
    assert latest == [described["name"], f"붐비는 {token}", f"조용한 {token}"]
    popular = names(viewer.http.get("/api/groups", params={"search": token, "sort": "popular"}))
    assert popular[0] == f"붐비는 {token}"
    assert names(viewer.http.get("/api/groups", params={"search": token,
                                                        "category": "HOBBY"})) == \
        [f"조용한 {token}"]
    assert names(viewer.http.get("/api/groups", params={"search": token,
                                                        "is_recruiting": "false"})) == \
        [f"조용한 {token}"]
    assert names(viewer.http.get("/api/groups", params={"search": token, "mine": "true"})) == \
        [f"조용한 {token}"]
    page = viewer.http.get("/api/groups", params={"search": token, "limit": 2, "page": 2})
    assert page.json()["pagination"] == {"page": 2, "limit": 2, "total": 3, "total_pages": 2,
                                         "has_next": False, "has_prev": True}
    bad = viewer.http.get("/api/groups", params={"category": "X", "sort": "old",
                                                 "mine": "yes", "limit": 0})
    assert set(bad.json()["error"]["fields"]) == {"category", "sort", "mine", "limit"}
    assert viewer.email not in viewer.http.get("/api/groups", params={"search": token}).text


def test_group_search_needs_q_and_bounds_the_member_count(api: Api, token: str) -> None:
    owner = api.signup()
    big = create_group(owner, name=f"큰 {token}")
    create_group(owner, name=f"작은 {token}")
    create_group(owner, name=f"설명 {secrets.token_hex(2)}", description=f"{token} 설명")
    joined(api.signup(), big["id"])
    found = names(owner.http.get("/api/groups/search", params={"q": token}))
    assert len(found) == 3 and found[-1].startswith("설명")  # name matches first
    assert names(owner.http.get("/api/groups/search",
                                params={"q": token, "min_members": 2})) == [f"큰 {token}"]
    assert f"큰 {token}" not in names(owner.http.get("/api/groups/search",
                                                      params={"q": token, "max_members": 1}))
    assert error_code(owner.http.get("/api/groups/search")) == "VALIDATION_ERROR"
    bad = owner.http.get("/api/groups/search", params={"q": "x" * 51, "min_members": 5,
                                                       "max_members": 2})
    assert set(bad.json()["error"]["fields"]) == {"q", "max_members"}


def test_group_detail_previews_the_first_ten_members_in_role_order(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    gid = create_group(owner)["id"]
    members = [api.signup() for _ in range(10)]
    admin = api.signup()
    for user in members:
        joined(user, gid)
    add(owner, gid, admin, "ADMIN")
    server.call(set_joined_at(gid, members[0].id, utcnow() - timedelta(days=1)))
    detail = members[3].http.get(f"/api/groups/{gid}").json()["data"]
    assert set(detail) == GROUP_KEYS | {"members_preview"}
    preview = detail["members_preview"]
    assert len(preview) == 10 and set(preview[0]) == MEMBER_KEYS
    assert [m["user"]["id"] for m in preview[:3]] == [owner.id, admin.id, members[0].id]
    assert detail["current_members"] == 12
    assert (detail["is_member"], detail["my_role"]) == (True, "MEMBER")


# --- join and leave ---------------------------------------------------------------------------


def test_join_public_group_and_the_refusals_in_order(api: Api, server: LiveServer) -> None:
    owner, user, late = api.signup(), api.signup(), api.signup()
    gid = create_group(owner, max_members=2)["id"]
    response = join(user, gid)
    assert response.status_code == 201, response.text
    member = response.json()["data"]
    assert set(member) == MEMBER_KEYS
    assert (member["role"], member["status"], member["left_at"]) == ("MEMBER", "ACTIVE", None)
    assert error_code(join(user, gid)) == "ALREADY_MEMBER"
    assert error_code(join(late, gid)) == "GROUP_FULL"
    closed = create_group(owner, is_recruiting=False)["id"]
    assert error_code(join(late, closed)) == "NOT_RECRUITING"
    code = invite(owner, closed).json()["data"]["code"]
    assert join(late, closed, code).status_code == 201  # a code bypasses recruiting
    assert error_code(join(late, "missing-group")) == "NOT_FOUND"


def test_join_after_leaving_reuses_the_row_and_kicked_users_cannot_rejoin(
        api: Api, server: LiveServer) -> None:
    owner, user, kicked = api.signup(), api.signup(), api.signup()
    gid = create_group(owner)["id"]
    joined(user, gid)
    assert user.http.post(f"/api/groups/{gid}/leave").status_code == 200
    left = server.call(member_row(gid, user.id))
    assert left["status"] == "LEFT" and left["left_at"] is not None
    joined(user, gid)
    again = server.call(member_row(gid, user.id))
    assert (again["status"], again["left_at"], server.call(member_rows(gid, user.id))) == \
        ("ACTIVE", None, 1)
    joined(kicked, gid)
    assert remove(owner, gid, kicked, kick=True).status_code == 200
    assert error_code(join(kicked, gid)) == "KICKED_MEMBER"
    code = invite(owner, gid).json()["data"]["code"]
    assert error_code(join(kicked, gid, code)) == "KICKED_MEMBER"


def test_private_group_join_needs_a_valid_code_of_that_group(api: Api,
                                                             server: LiveServer) -> None:
    owner, user = api.signup(), api.signup()
    private = create_group(owner, is_public=False)["id"]
    other = create_group(owner)["id"]
    foreign_code = invite(owner, other).json()["data"]["code"]
    assert error_code(join(user, private)) == "NOT_FOUND"
    assert error_code(join(user, private, "NOSUCHCODE12")) == "NOT_FOUND"
    assert error_code(join(user, private, foreign_code)) == "NOT_FOUND"
    assert error_code(join(user, other, "NOSUCHCODE12")) == "INVITE_NOT_FOUND"
    created = invite(owner, private).json()["data"]
    response = join(user, private, created["code"].lower())
    assert response.status_code == 201, response.text
    used = server.call(invite_row(created["id"]))
    assert (used["status"], used["used_by"], used["used_at"] is not None) == \
        ("ACCEPTED", user.id, True)
    # A code of this very group names the group already: the answer is about the code.
    assert error_code(join(api.signup(), private, created["code"])) == "INVITE_NOT_FOUND"


def test_invite_codes_must_be_pending_and_meant_for_the_caller(
        api: Api, server: LiveServer) -> None:
    owner, target, stranger = api.signup(), api.signup(), api.signup()
    gid = create_group(owner)["id"]
    for_target = invite(owner, gid, user_id=target.id).json()["data"]
    assert error_code(join(stranger, gid, for_target["code"])) == "INVITE_NOT_FOUND"
    by_email = invite(owner, gid, email=target.email.upper()).json()["data"]
    assert error_code(join(stranger, gid, by_email["code"])) == "INVITE_NOT_FOUND"
    cancelled = invite(owner, gid).json()["data"]
    owner.http.delete(f"/api/groups/{gid}/invites", params={"invite_id": cancelled["id"]})
    assert error_code(join(stranger, gid, cancelled["code"])) == "INVITE_NOT_FOUND"
    expired = invite(owner, gid).json()["data"]
    server.call(set_invite(expired["id"], expires_at=utcnow() - timedelta(minutes=1)))
    response = join(stranger, gid, expired["code"])
    assert response.status_code == 410 and error_code(response) == "INVITE_EXPIRED"
    assert server.call(invite_row(expired["id"]))["status"] == "EXPIRED"  # committed
    assert error_code(join(stranger, gid, expired["code"])) == "INVITE_EXPIRED"
    assert server.call(member_row(gid, stranger.id)) is None
    assert join(target, gid, by_email["code"]).status_code == 201
    assert error_code(join(stranger, gid, by_email["code"])) == "INVITE_NOT_FOUND"


def test_leave_passes_ownership_to_the_longest_serving_admin(api: Api,
                                                              server: LiveServer) -> None:
    owner, old_admin, new_admin, member, outsider = (api.signup() for _ in range(5))
    gid = create_group(owner)["id"]
    assert error_code(owner.http.post(f"/api/groups/{gid}/leave")) == "OWNER_CANNOT_LEAVE"
    joined(member, gid)
    assert error_code(owner.http.post(f"/api/groups/{gid}/leave")) == "OWNER_CANNOT_LEAVE"
    add(owner, gid, new_admin, "ADMIN")
    add(owner, gid, old_admin, "ADMIN")
    server.call(set_joined_at(gid, old_admin.id, utcnow() - timedelta(days=3)))
    assert error_code(outsider.http.post(f"/api/groups/{gid}/leave")) == "NOT_MEMBER"
    response = owner.http.post(f"/api/groups/{gid}/leave")
    assert response.status_code == 200 and response.json()["data"] is None
    gone = server.call(member_row(gid, owner.id))
    assert (gone["status"], gone["role"]) == ("LEFT", "MEMBER")
    assert server.call(member_row(gid, old_admin.id))["role"] == "OWNER"
    assert server.call(member_row(gid, new_admin.id))["role"] == "ADMIN"
    assert old_admin.http.get(f"/api/groups/{gid}").json()["data"]["my_role"] == "OWNER"


# --- members ----------------------------------------------------------------------------------


def test_member_list_orders_by_role_then_joined_at_and_guards_other_statuses(
        api: Api, server: LiveServer) -> None:
    owner, admin, early, late, gone = (api.signup() for _ in range(5))
    gid = create_group(owner)["id"]
    for user in (late, early, gone):
        joined(user, gid)
    add(owner, gid, admin, "ADMIN")
    server.call(set_joined_at(gid, early.id, utcnow() - timedelta(days=2)))
    gone.http.post(f"/api/groups/{gid}/leave")
    response = api.signup().http.get(f"/api/groups/{gid}/members")
    assert response.status_code == 200
    assert [m["user"]["id"] for m in response.json()["data"]] == \
        [owner.id, admin.id, early.id, late.id]
    assert response.json()["pagination"]["limit"] == 50
    for user in (owner, admin, early, late):
        assert user.email not in response.text
    assert error_code(early.http.get(f"/api/groups/{gid}/members",
                                     params={"status": "LEFT"})) == "FORBIDDEN"
    left = admin.http.get(f"/api/groups/{gid}/members", params={"status": "LEFT"})
    assert [m["user"]["id"] for m in left.json()["data"]] == [gone.id]
    assert left.json()["data"][0]["left_at"] is not None
    assert error_code(admin.http.get(f"/api/groups/{gid}/members",
                                     params={"status": "GONE"})) == "VALIDATION_ERROR"


def test_adding_members_follows_roles_capacity_and_history(api: Api,
                                                           server: LiveServer) -> None:
    owner, admin, member, target, later, kicked = (api.signup() for _ in range(6))
    gid = create_group(owner, max_members=4)["id"]
    assert add(owner, gid, admin, "ADMIN").json()["data"]["role"] == "ADMIN"
    response = add(admin, gid, member)
    assert response.status_code == 201 and response.json()["data"]["role"] == "MEMBER"
    assert error_code(add(admin, gid, target, "ADMIN")) == "ROLE_HIERARCHY"
    assert error_code(add(member, gid, target)) == "FORBIDDEN"
    assert error_code(add(admin, gid, member)) == "ALREADY_MEMBER"
    add(admin, gid, kicked)
    remove(admin, gid, kicked, kick=True)
    assert error_code(add(owner, gid, kicked)) == "KICKED_MEMBER"
    unknown = owner.http.post(f"/api/groups/{gid}/members", json={"user_id": "nobody"})
    assert error_code(unknown) == "NOT_FOUND"
    assert error_code(owner.http.post(f"/api/groups/{gid}/members",
                                      json={"user_id": target.id, "role": "OWNER"})) == \
        "VALIDATION_ERROR"
    member.http.post(f"/api/groups/{gid}/leave")
    assert add(owner, gid, member).status_code == 201  # the LEFT row comes back
    assert server.call(member_rows(gid, member.id)) == 1
    add(owner, gid, target)
    assert error_code(add(owner, gid, later)) == "GROUP_FULL"


def test_only_the_owner_changes_roles_and_never_the_owner_role(api: Api) -> None:
    owner, admin, member, left = (api.signup() for _ in range(4))
    gid = create_group(owner)["id"]
    add(owner, gid, admin, "ADMIN")
    joined(member, gid)
    joined(left, gid)
    left.http.post(f"/api/groups/{gid}/leave")
    path = f"/api/groups/{gid}/members"
    response = owner.http.patch(f"{path}/{member.id}", json={"role": "ADMIN"})
    assert response.status_code == 200 and response.json()["data"]["role"] == "ADMIN"
    assert owner.http.patch(f"{path}/{member.id}", json={"role": "MEMBER"}).json()[
        "data"]["role"] == "MEMBER"
    assert error_code(owner.http.patch(f"{path}/{member.id}", json={"role": "OWNER"})) == \
        "OWNER_ROLE_LOCKED"
    assert error_code(owner.http.patch(f"{path}/{owner.id}", json={"role": "MEMBER"})) == \
        "OWNER_ROLE_LOCKED"
    assert error_code(admin.http.patch(f"{path}/{member.id}", json={"role": "ADMIN"})) == \
        "FORBIDDEN"
    assert error_code(owner.http.patch(f"{path}/{left.id}", json={"role": "ADMIN"})) == \
        "NOT_FOUND"
    assert error_code(owner.http.patch(f"{path}/{member.id}", json={"role": "BOSS"})) == \
        "VALIDATION_ERROR"


def test_removing_members_checks_self_owner_and_hierarchy(api: Api, server: LiveServer) -> None:
    owner, admin, other_admin, member, kicked = (api.signup() for _ in range(5))
    gid = create_group(owner)["id"]
    for user, role in ((admin, "ADMIN"), (other_admin, "ADMIN"), (member, "MEMBER"),
                       (kicked, "MEMBER")):
        add(owner, gid, user, role)
    assert error_code(remove(admin, gid, admin)) == "CANNOT_KICK_SELF"
    assert error_code(remove(admin, gid, owner)) == "CANNOT_KICK_OWNER"
    assert error_code(remove(admin, gid, other_admin)) == "ROLE_HIERARCHY"
    assert error_code(remove(member, gid, kicked)) == "FORBIDDEN"
    assert error_code(owner.http.delete(f"/api/groups/{gid}/members")) == "VALIDATION_ERROR"
    response = remove(admin, gid, member)
    assert response.status_code == 200 and response.json()["data"] is None
    assert server.call(member_row(gid, member.id))["status"] == "LEFT"
    assert remove(admin, gid, kicked, kick=True).status_code == 200
    row = server.call(member_row(gid, kicked.id))
    assert (row["status"], row["left_at"] is not None) == ("KICKED", True)
    assert error_code(remove(admin, gid, kicked)) == "NOT_FOUND"
    assert remove(owner, gid, other_admin).status_code == 200


# --- invites ----------------------------------------------------------------------------------


def test_create_invite_codes_and_their_refusals(api: Api) -> None:
    owner, member, kicked, outsider = (api.signup() for _ in range(4))
    gid = create_group(owner, max_members=3)["id"]
    joined(member, gid)
    joined(kicked, gid)
    remove(owner, gid, kicked, kick=True)
    before = utcnow()
    response = invite(owner, gid, user_id=outsider.id, expires_in_days=3)
    assert response.status_code == 201, response.text
    created = response.json()["data"]
    assert set(created) == INVITE_KEYS
    assert re.fullmatch(r"[A-Z0-9]{12}", created["code"])
    assert (created["status"], created["group_id"], created["invited_user"]["id"],
            created["invited_by"]["id"], created["used_by"]) == \
        ("PENDING", gid, outsider.id, owner.id, None)
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert abs(expires.replace(tzinfo=None) - (before + timedelta(days=3))) < \
        timedelta(minutes=1)
    default = invite(owner, gid).json()["data"]
    assert (default["email"], default["invited_user"]) == (None, None)
    assert error_code(invite(owner, gid, user_id=member.id)) == "ALREADY_MEMBER"
    assert error_code(invite(owner, gid, email=member.email)) == "ALREADY_MEMBER"
    assert error_code(invite(owner, gid, user_id=kicked.id)) == "KICKED_MEMBER"
    assert error_code(invite(owner, gid, user_id="nobody")) == "NOT_FOUND"
    assert error_code(invite(member, gid)) == "FORBIDDEN"
    assert error_code(invite(outsider, gid)) == "NOT_MEMBER"
    both = invite(owner, gid, user_id=outsider.id, email="a@example.com")
    assert error_code(both) == "VALIDATION_ERROR"
    bad = invite(owner, gid, expires_in_days=31, email="not-an-email")
    assert set(bad.json()["error"]["fields"]) == {"expires_in_days", "email"}
    joined(api.signup(), gid)
    assert error_code(invite(owner, gid)) == "GROUP_FULL"


def test_invite_email_is_shown_only_to_the_inviter(api: Api) -> None:
    owner, admin = api.signup(), api.signup()
    gid = create_group(owner)["id"]
    add(owner, gid, admin, "ADMIN")
    address = f"friend-{secrets.token_hex(4)}@example.com"
    created = invite(owner, gid, email=address.upper())
    assert created.json()["data"]["email"] == address
    by_admin = admin.http.get(f"/api/groups/{gid}/invites")
    assert [i["email"] for i in by_admin.json()["data"]] == [None]
    assert address not in by_admin.text
    by_owner = owner.http.get(f"/api/groups/{gid}/invites")
    assert [i["email"] for i in by_owner.json()["data"]] == [address]
    own = invite(admin, gid, user_id=api.signup().id).json()["data"]
    listed = {i["id"]: i for i in owner.http.get(f"/api/groups/{gid}/invites").json()["data"]}
    assert listed[own["id"]]["email"] is None
    for response in (by_admin, by_owner):
        assert owner.email not in response.text and admin.email not in response.text


def test_invite_list_marks_lapsed_codes_expired_and_filters_by_status(
        api: Api, server: LiveServer) -> None:
    owner, member = api.signup(), api.signup()
    gid = create_group(owner)["id"]
    joined(member, gid)
    lapsed = invite(owner, gid).json()["data"]
    fresh = invite(owner, gid).json()["data"]
    server.call(set_invite(lapsed["id"], expires_at=utcnow() - timedelta(hours=1)))
    everything = owner.http.get(f"/api/groups/{gid}/invites")
    assert [i["id"] for i in everything.json()["data"]] == [fresh["id"], lapsed["id"]]
    assert everything.json()["data"][1]["status"] == "EXPIRED"
    pending = owner.http.get(f"/api/groups/{gid}/invites", params={"status": "PENDING"})
    assert [i["id"] for i in pending.json()["data"]] == [fresh["id"]]
    assert error_code(owner.http.get(f"/api/groups/{gid}/invites",
                                     params={"status": "OLD"})) == "VALIDATION_ERROR"
    assert error_code(member.http.get(f"/api/groups/{gid}/invites")) == "FORBIDDEN"


def test_cancel_invite_by_the_inviter_or_a_group_admin(api: Api, server: LiveServer) -> None:
    owner, admin, member = api.signup(), api.signup(), api.signup()
    gid = create_group(owner)["id"]
    add(owner, gid, admin, "ADMIN")
    add(owner, gid, member)
    mine = invite(admin, gid).json()["data"]
    owners = invite(owner, gid).json()["data"]
    path = f"/api/groups/{gid}/invites"
    assert error_code(member.http.delete(path, params={"invite_id": owners["id"]})) == \
        "FORBIDDEN"
    response = admin.http.delete(path, params={"invite_id": mine["id"]})
    assert response.status_code == 200 and response.json()["data"] is None
    assert server.call(invite_row(mine["id"]))["status"] == "CANCELLED"
    assert error_code(admin.http.delete(path, params={"invite_id": mine["id"]})) == "CONFLICT"
    assert admin.http.delete(path, params={"invite_id": owners["id"]}).status_code == 200
    # A demoted inviter may still cancel their own invite.
    third = invite(admin, gid).json()["data"]
    owner.http.patch(f"/api/groups/{gid}/members/{admin.id}", json={"role": "MEMBER"})
    assert admin.http.delete(path, params={"invite_id": third["id"]}).status_code == 200
    assert error_code(owner.http.delete(path, params={"invite_id": "nope"})) == "NOT_FOUND"
    assert error_code(owner.http.delete(path)) == "VALIDATION_ERROR"


# --- concurrency ------------------------------------------------------------------------------

RACERS = 12


def _race(calls: list[Callable[[], httpx.Response]]) -> list[httpx.Response]:
    """Run every call on its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], httpx.Response]) -> httpx.Response:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def test_concurrent_joins_and_one_code_never_overshoot(api: Api, token: str) -> None:
    owner = api.signup()
    racers = [api.signup() for _ in range(RACERS)]
    gid = create_group(owner, max_members=4)["id"]
    outcomes = Counter(r.status_code if r.status_code == 201 else error_code(r)
                       for r in _race([lambda u=u: join(u, gid) for u in racers]))
    assert outcomes == {201: 3, "GROUP_FULL": RACERS - 3}
    assert owner.http.get(f"/api/groups/{gid}").json()["data"]["current_members"] == 4
    open_group = create_group(owner)["id"]
    code = invite(owner, open_group).json()["data"]["code"]
    used = Counter(r.status_code if r.status_code == 201 else error_code(r)
                   for r in _race([lambda u=u: join(u, open_group, code) for u in racers]))
    assert used == {201: 1, "INVITE_NOT_FOUND": RACERS - 1}
    same_name = Counter(r.status_code if r.status_code == 201 else error_code(r)
                        for r in _race([lambda u=u: u.http.post("/api/groups", json={
                            "name": f"경쟁 {token}"}) for u in racers]))
    assert same_name == {201: 1, "GROUP_NAME_TAKEN": RACERS - 1}
