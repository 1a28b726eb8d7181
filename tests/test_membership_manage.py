"""Managing members (COUP.md §7.5): list, direct add, kick, role change, ownership transfer,
and the study role matrix of §3.4."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from coup.jsonutil import iso
from coup.store.fields import utcnow
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import (
    Room,
    World,
    assert_seqs_consecutive,
    data,
    delete,
    make_world,
    recording_room,
)


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@pytest.fixture()
def room(server: LiveServer) -> Iterator[Room]:
    yield from recording_room(server)


def _add(world: World, actor: ApiUser, target_id: str, **body: Any) -> httpx.Response:
    return actor.http.post(world.path("/members"), json={"user_id": target_id, **body})


def _kick(world: World, actor: ApiUser, target_id: str,
          body: dict[str, Any] | None = None) -> httpx.Response:
    return delete(actor.http, world.path(f"/members/{target_id}"), body)


def _set_role(world: World, actor: ApiUser, target_id: str, role: Any) -> httpx.Response:
    return actor.http.patch(world.path(f"/members/{target_id}/role"), json={"role": role})


def _transfer(world: World, actor: ApiUser, target_id: str) -> httpx.Response:
    return actor.http.post(world.path("/transfer-ownership"), json={"target_user_id": target_id})


def _sent(world: World, kind: str) -> list[dict[str, Any]]:
    return [n for n in world.notifications() if n["type"] == kind]


# --- member list ------------------------------------------------------------------------------


def test_members_list_orders_owner_admins_members_then_joined_at_without_emails(
        world: World) -> None:
    late_member = world.add(world.user(), joined_minutes_ago=1)
    early_member = world.add(world.user(), joined_minutes_ago=50)
    late_admin = world.add(world.user(), role="ADMIN", joined_minutes_ago=2)
    early_admin = world.add(world.user(), role="ADMIN", joined_minutes_ago=40)
    world.add(world.user(), status="PENDING")
    world.add(world.user(), status="LEFT")

    response = late_member.http.get(world.path("/members"))
    members = data(response)

    assert [m["user_id"] for m in members] == [
        world.owner.id, early_admin.id, late_admin.id, early_member.id, late_member.id]
    assert response.json()["pagination"]["limit"] == 50
    assert response.json()["pagination"]["total"] == 5
    assert set(members[0]) == {"user_id", "user", "role", "status", "joined_at", "approved_at"}
    assert set(members[0]["user"]) == {"id", "name", "avatar"}
    assert "@" not in response.text


def test_members_list_filters_by_role_and_status(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member("MEMBER")
    pending = world.add(world.user(), status="PENDING")
    kicked = world.add(world.user(), status="KICKED")
    outsider = world.user()

    admins = data(member.http.get(world.path("/members?role=ADMIN")))
    assert [m["user_id"] for m in admins] == [admin.id]
    assert [m["user_id"] for m in data(admin.http.get(world.path("/members?status=PENDING")))
            ] == [pending.id]
    assert [m["user_id"] for m in data(world.owner.http.get(
        world.path("/members?status=KICKED")))] == [kicked.id]
    assert error_code(member.http.get(world.path("/members?status=PENDING"))) == "FORBIDDEN"
    assert data(member.http.get(world.path("/members?status=ACTIVE&role=OWNER")))[0][
        "user_id"] == world.owner.id
    for query in ("?role=BOSS", "?status=GONE", "?limit=101"):
        assert error_code(member.http.get(world.path(f"/members{query}"))) == "VALIDATION_ERROR"
    assert error_code(outsider.http.get(world.path("/members"))) == "NOT_MEMBER"
    assert error_code(pending.http.get(world.path("/members"))) == "NOT_MEMBER"
    world.set_study(is_public=False)
    assert error_code(outsider.http.get(world.path("/members"))) == "NOT_FOUND"


# --- direct add -------------------------------------------------------------------------------


def test_add_member_activates_the_user_with_event_and_member_notification(
        world: World) -> None:
    admin = world.member("ADMIN")
    target = world.user("추가될사람")

    member = data(_add(world, admin, target.id), 201)

    assert member["user_id"] == target.id and member["role"] == "MEMBER"
    assert member["status"] == "ACTIVE" and member["joined_at"] and member["approved_at"]
    row = world.row(target)
    assert row["approved_by"] == admin.id and row["applied_at"] is not None
    events = world.events()
    assert [(e["seq"], e["type"], e["payload"]) for e in events] == [
        (1, "study:member-joined", {"study_id": world.study_id, "seq": 1, "member": member})]
    sent = world.notifications()
    assert [(n["user"], n["type"], n["data"]) for n in sent] == [
        (target.id, "MEMBER", {"added_by": admin.id})]
    assert sent[0]["message"] == "알고리즘 스터디에 멤버로 추가되었습니다"


def test_add_pending_applicant_sends_join_approved_instead(world: World) -> None:
    applicant = world.add(world.user(), status="PENDING", joined_minutes_ago=30)
    applied_at = world.row(applicant)["applied_at"]

    data(_add(world, world.owner, applicant.id), 201)

    assert world.row(applicant)["applied_at"] == applied_at
    assert [(n["user"], n["type"], n["data"]) for n in world.notifications()] == [
        (applicant.id, "JOIN_APPROVED", {})]


def test_add_left_member_reuses_the_row(world: World) -> None:
    former = world.add(world.user(), status="LEFT")
    row_id = world.row(former)["id"]
    assert data(_add(world, world.owner, former.id, role="ADMIN"), 201)["role"] == "ADMIN"
    row = world.row(former)
    assert row["id"] == row_id and row["status"] == "ACTIVE" and row["left_at"] is None


def test_add_member_refusals(world: World) -> None:
    active = world.member()
    kicked = world.add(world.user(), status="KICKED")
    restricted = world.user()
    until = utcnow() + timedelta(hours=3)
    world.set_user(restricted, restricted_actions=["STUDY_JOIN"], restricted_until=until)
    suspended = world.user()
    world.set_user(suspended, status="SUSPENDED")
    owner = world.owner

    assert error_code(_add(world, owner, active.id)) == "ALREADY_MEMBER"
    assert error_code(_add(world, owner, kicked.id)) == "KICKED_MEMBER"
    for missing in ("nobody", suspended.id):
        assert error_code(_add(world, owner, missing)) == "NOT_FOUND"
    response = _add(world, owner, restricted.id)
    assert error_code(response) == "RESTRICTED"
    assert response.json()["error"]["details"] == {"action": "STUDY_JOIN",
                                                   "restricted_until": iso(until)}
    for body in ({"role": "OWNER"}, {"role": "admin"}, {"extra": 1}):
        assert error_code(_add(world, owner, world.user().id, **body)) == "VALIDATION_ERROR"
    assert error_code(owner.http.post(world.path("/members"), json={})) == "VALIDATION_ERROR"
    world.set_study(max_members=2)
    response = _add(world, owner, world.user().id)
    assert response.status_code == 409 and error_code(response) == "STUDY_FULL"
    world.set_study(max_members=20, status="CLOSED")
    assert error_code(_add(world, owner, world.user().id)) == "STUDY_CLOSED"
    assert world.events() == [] and world.notifications() == []


def test_kicked_user_can_neither_rejoin_nor_be_added(world: World) -> None:
    member = world.member()
    assert _kick(world, world.owner, member.id).status_code == 200
    assert error_code(world.api.join(member, world.study_id)) == "KICKED_MEMBER"
    assert error_code(_add(world, world.owner, member.id)) == "KICKED_MEMBER"


# --- kick -------------------------------------------------------------------------------------


def test_kick_marks_kicked_appends_member_left_removes_and_notifies(
        world: World, room: Room) -> None:
    admin = world.member("ADMIN")
    member = world.member()

    assert data(_kick(world, admin, member.id, {"reason": "규칙 위반"})) is None

    row = world.row(member)
    assert row["status"] == "KICKED" and row["kicked_by"] == admin.id
    assert row["kick_reason"] == "규칙 위반" and row["kicked_at"] is not None
    assert [(e["type"], e["payload"]) for e in world.events()] == [
        ("study:member-left",
         {"study_id": world.study_id, "seq": 1, "user_id": member.id, "reason": "kicked"})]
    assert [(r.study_id, r.user_id, r.reason) for r in room.removals] == [
        (world.study_id, member.id, "kicked")]
    sent = world.notifications()
    assert [(n["user"], n["type"], n["data"]) for n in sent] == [
        (member.id, "KICK", {"reason": "규칙 위반"})]
    assert sent[0]["message"] == "알고리즘 스터디에서 내보내졌습니다: 규칙 위반"


def test_kick_without_a_body_has_no_reason(world: World) -> None:
    member = world.member()
    assert _kick(world, world.owner, member.id).status_code == 200
    (sent,) = world.notifications()
    assert sent["data"] == {"reason": None}
    assert sent["message"] == "알고리즘 스터디에서 내보내졌습니다"


def test_kick_refusals(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member()
    pending = world.add(world.user(), status="PENDING")
    left = world.add(world.user(), status="LEFT")
    response = _kick(world, admin, admin.id)
    assert response.status_code == 400 and error_code(response) == "CANNOT_KICK_SELF"
    assert error_code(_kick(world, world.owner, world.owner.id)) == "CANNOT_KICK_SELF"
    for target in (pending.id, left.id, "nobody"):
        assert error_code(_kick(world, admin, target)) == "NOT_FOUND"
    response = _kick(world, admin, world.owner.id)
    assert response.status_code == 403 and error_code(response) == "CANNOT_KICK_OWNER"
    assert error_code(_kick(world, member, admin.id)) == "FORBIDDEN"
    assert error_code(_kick(world, admin, member.id, {"reason": "가" * 201})
                      ) == "VALIDATION_ERROR"
    assert world.events() == []


def test_kick_still_works_in_a_closed_study(world: World) -> None:
    member = world.member()
    world.set_study(status="CLOSED")
    assert _kick(world, world.owner, member.id).status_code == 200


# --- role change ------------------------------------------------------------------------------


def test_role_change_updates_member_with_event_and_notification(world: World) -> None:
    member = world.member()

    promoted = data(_set_role(world, world.owner, member.id, "ADMIN"))
    demoted = data(_set_role(world, world.owner, member.id, "MEMBER"))

    assert promoted["role"] == "ADMIN" and demoted["role"] == "MEMBER"
    events = world.events()
    assert_seqs_consecutive(events)
    assert [(e["type"], e["payload"]["member"]) for e in events] == [
        ("study:member-updated", promoted), ("study:member-updated", demoted)]
    sent = world.notifications()
    assert [(n["user"], n["type"], n["data"]) for n in sent] == [
        (member.id, "ROLE_CHANGE", {"role": "ADMIN", "previous_role": "MEMBER"}),
        (member.id, "ROLE_CHANGE", {"role": "MEMBER", "previous_role": "ADMIN"})]
    assert sent[0]["message"] == "알고리즘 스터디에서 역할이 관리자(으)로 변경되었습니다"
    assert sent[1]["message"] == "알고리즘 스터디에서 역할이 멤버(으)로 변경되었습니다"


def test_same_role_answers_200_with_no_event_or_notification(world: World) -> None:
    admin = world.member("ADMIN")
    assert data(_set_role(world, world.owner, admin.id, "ADMIN"))["role"] == "ADMIN"
    assert world.events() == [] and world.notifications() == []


def test_role_change_refusals(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member()
    pending = world.add(world.user(), status="PENDING")
    owner = world.owner
    response = _set_role(world, owner, owner.id, "MEMBER")
    assert response.status_code == 400 and error_code(response) == "OWNER_ROLE_LOCKED"
    assert error_code(_set_role(world, owner, member.id, "OWNER")) == "OWNER_ROLE_LOCKED"
    assert error_code(_set_role(world, owner, pending.id, "ADMIN")) == "NOT_FOUND"
    assert error_code(_set_role(world, owner, "nobody", "ADMIN")) == "NOT_FOUND"
    for bad in ("admin", None, 1):
        assert error_code(_set_role(world, owner, member.id, bad)) == "VALIDATION_ERROR"
    assert error_code(_set_role(world, admin, member.id, "ADMIN")) == "FORBIDDEN"
    world.set_study(status="CLOSED")
    assert data(_set_role(world, owner, member.id, "ADMIN"))["role"] == "ADMIN"


# --- ownership transfer -----------------------------------------------------------------------


def test_transfer_ownership_swaps_roles_with_three_events_in_order(world: World) -> None:
    admin = world.member("ADMIN", "새스터디장")

    out = data(_transfer(world, world.owner, admin.id))

    assert out["new_owner"]["user_id"] == admin.id and out["new_owner"]["role"] == "OWNER"
    assert out["old_owner"]["user_id"] == world.owner.id and out["old_owner"]["role"] == "ADMIN"
    assert world.study()["owner"] == admin.id
    events = world.events()
    assert_seqs_consecutive(events)
    assert [e["type"] for e in events] == ["study:member-updated", "study:member-updated",
                                           "study:updated"]
    assert events[0]["payload"]["member"] == out["new_owner"]
    assert events[1]["payload"]["member"] == out["old_owner"]
    study = events[2]["payload"]["study"]
    assert study["id"] == world.study_id and study["owner"]["id"] == admin.id
    assert study["my_role"] is None and study["my_status"] is None
    assert [(n["user"], n["type"], n["data"]) for n in world.notifications()] == [
        (admin.id, "OWNERSHIP_TRANSFERRED", {"previous_owner_id": world.owner.id})]
    assert world.notifications()[0]["message"] == "알고리즘 스터디의 스터디장이 되었습니다"
    # The roles really moved: the old owner may now leave, the new one may not.
    assert error_code(_set_role(world, world.owner, admin.id, "MEMBER")) == "FORBIDDEN"
    assert error_code(admin.http.post(world.path("/leave"))) == "OWNER_CANNOT_LEAVE"
    assert data(world.owner.http.post(world.path("/leave"))) == {"status": "LEFT"}


def test_transfer_ownership_refusals(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member()
    former_admin = world.add(world.user(), status="LEFT", role="ADMIN")
    owner = world.owner
    for target in (owner.id, member.id, former_admin.id, "nobody"):
        response = _transfer(world, owner, target)
        assert response.status_code == 400, target
        assert error_code(response) == "INVALID_TRANSFER_TARGET"
    assert error_code(_transfer(world, admin, admin.id)) == "FORBIDDEN"
    assert error_code(owner.http.post(world.path("/transfer-ownership"), json={})
                      ) == "VALIDATION_ERROR"
    assert world.events() == []
    world.set_study(status="CLOSED")
    assert _transfer(world, owner, admin.id).status_code == 200


# --- the §3.4 role matrix ---------------------------------------------------------------------

# (action, actor role, target role, expected status, expected code or None)
ROLE_MATRIX = [
    ("add", "MEMBER", "MEMBER", 403, "FORBIDDEN"),
    ("add", "ADMIN", "MEMBER", 201, None),
    ("add", "ADMIN", "ADMIN", 403, "ROLE_HIERARCHY"),
    ("add", "OWNER", "ADMIN", 201, None),
    ("add", "OWNER", "MEMBER", 201, None),
    ("kick", "MEMBER", "MEMBER", 403, "FORBIDDEN"),
    ("kick", "ADMIN", "MEMBER", 200, None),
    ("kick", "ADMIN", "ADMIN", 403, "ROLE_HIERARCHY"),
    ("kick", "ADMIN", "OWNER", 403, "CANNOT_KICK_OWNER"),
    ("kick", "OWNER", "ADMIN", 200, None),
    ("kick", "OWNER", "MEMBER", 200, None),
    ("role", "MEMBER", "MEMBER", 403, "FORBIDDEN"),
    ("role", "ADMIN", "MEMBER", 403, "FORBIDDEN"),
    ("role", "OWNER", "MEMBER", 200, None),
    ("role", "OWNER", "ADMIN", 200, None),
    ("transfer", "MEMBER", "ADMIN", 403, "FORBIDDEN"),
    ("transfer", "ADMIN", "ADMIN", 403, "FORBIDDEN"),
    ("transfer", "OWNER", "ADMIN", 200, None),
]


@pytest.mark.parametrize(("action", "actor_role", "target_role", "status", "code"),
                         ROLE_MATRIX, ids=["-".join(case[:3]) for case in ROLE_MATRIX])
def test_role_matrix(world: World, action: str, actor_role: str, target_role: str,
                     status: int, code: str | None) -> None:
    actor = world.owner if actor_role == "OWNER" else world.member(actor_role)
    if action == "add":
        response = _add(world, actor, world.user().id, role=target_role)
    else:
        target = world.owner if target_role == "OWNER" else world.member(target_role)
        if action == "kick":
            response = _kick(world, actor, target.id)
        elif action == "role":
            response = _set_role(world, actor, target.id,
                                 "MEMBER" if target_role == "ADMIN" else "ADMIN")
        else:
            response = _transfer(world, actor, target.id)
    assert response.status_code == status, response.text
    if code is not None:
        assert error_code(response) == code
