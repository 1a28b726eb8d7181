"""Joining and leaving a study (COUP.md §7.5, §10.1) through the real server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from coup.jsonutil import iso
from coup.store.events import db_write
from coup.store.fields import utcnow
from coup.store.membership import leave_all_memberships_now
from tests.conftest import Api, LiveServer, error_code
from tests.membership_support import (
    Room,
    World,
    assert_seqs_consecutive,
    data,
    make_world,
    membership_row,
    recording_room,
    study_events,
)


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@pytest.fixture()
def room(server: LiveServer) -> Iterator[Room]:
    yield from recording_room(server)

ANSWERS = {"introduction": "안녕하세요.\n열심히 하겠습니다.", "motivation": "SKILL_UP",
           "level": "BEGINNER"}


def _join(world: World, user: Any, **body: Any) -> httpx.Response:
    return world.api.join(user, world.study_id, **body)


# --- joining ----------------------------------------------------------------------------------


def test_join_auto_approve_study_makes_member_active_with_event_and_member_notification(
        world: World) -> None:
    admin = world.member("ADMIN", "관리자")
    plain = world.member("MEMBER", "일반멤버")
    joiner = world.user("새멤버")

    out = data(_join(world, joiner, **ANSWERS), 201)

    member = out["member"]
    assert out["auto_approved"] is True and out["via_invite"] is False
    assert member["user_id"] == joiner.id
    assert member["user"] == {"id": joiner.id, "name": "새멤버", "avatar": None}
    assert member["role"] == "MEMBER" and member["status"] == "ACTIVE"
    assert member["joined_at"] and member["approved_at"] and set(member) == {
        "user_id", "user", "role", "status", "joined_at", "approved_at"}
    row = world.row(joiner)
    assert row["introduction"] == ANSWERS["introduction"]
    assert (row["motivation"], row["level"]) == ("SKILL_UP", "BEGINNER")
    assert row["applied_at"] is not None and row["approved_by"] is None
    events = world.events()
    assert [(e["seq"], e["type"]) for e in events] == [(1, "study:member-joined")]
    assert events[0]["payload"] == {"study_id": world.study_id, "seq": 1, "member": member}
    assert world.study()["last_seq"] == 1
    sent = world.notifications()
    assert sorted(n["user"] for n in sent) == sorted([world.owner.id, admin.id])
    assert plain.id not in {n["user"] for n in sent}
    for notification in sent:
        assert notification["type"] == "MEMBER"
        assert notification["data"] == {"user_id": joiner.id, "user_name": "새멤버",
                                        "via": "auto"}
        assert notification["message"] == "새멤버님이 알고리즘 스터디에 참여했습니다"
        assert notification["study_name"] == "알고리즘 스터디"


def test_join_manual_approval_creates_pending_application_and_join_request(
        world: World) -> None:
    world.set_study(auto_approve=False)
    admin = world.member("ADMIN")
    joiner = world.user("지원자")

    out = data(_join(world, joiner, motivation="", level="ADVANCED"), 201)

    assert out["auto_approved"] is False and out["via_invite"] is False
    assert out["member"]["status"] == "PENDING" and out["member"]["joined_at"] is None
    assert world.row(joiner)["motivation"] is None  # "" in an optional field means null
    assert world.events() == []
    sent = world.notifications()
    assert sorted(n["user"] for n in sent) == sorted([world.owner.id, admin.id])
    assert {n["type"] for n in sent} == {"JOIN_REQUEST"}
    assert sent[0]["data"] == {"user_id": joiner.id, "user_name": "지원자"}
    assert sent[0]["message"] == "지원자님이 알고리즘 스터디 가입을 신청했습니다"


def test_join_rejects_invalid_fields_and_needs_a_session(world: World, api: Api) -> None:
    joiner = world.user()
    for body in ({"introduction": "가" * 301}, {"motivation": "FUN"}, {"level": 3},
                 {"unknown": 1}):
        response = _join(world, joiner, **body)
        assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR", body
    assert error_code(api.anonymous().post(world.path("/join"), json={})) == "UNAUTHORIZED"
    # An empty body is fine: every field is optional.
    assert joiner.http.post(world.path("/join")).status_code == 201


def test_join_refuses_missing_deleted_hidden_and_private_studies_as_not_found(
        world: World) -> None:
    joiner = world.user()
    deleted = world.new_study(status="DELETED")
    hidden = world.new_study(is_hidden=True)
    private = world.new_study(is_public=False)
    for study_id in ("nope", deleted, hidden, private):
        response = world.api.join(joiner, study_id)
        assert response.status_code == 404 and error_code(response) == "NOT_FOUND", study_id


def test_join_private_study_with_invite_code_bypasses_approval_and_recruiting(
        world: World) -> None:
    world.set_study(is_public=False, auto_approve=False, is_recruiting=False)
    code = world.set_invite(max_uses=3, used=1)
    joiner = world.user("초대받은이")

    out = data(_join(world, joiner, invite_code=code.lower()), 201)

    assert out["via_invite"] is True and out["auto_approved"] is True
    assert out["member"]["status"] == "ACTIVE"
    assert world.row(joiner)["approved_by"] is None
    assert world.study()["invite_code_used_count"] == 2
    assert [e["type"] for e in world.events()] == ["study:member-joined"]
    (sent,) = world.notifications()
    assert (sent["user"], sent["type"]) == (world.owner.id, "MEMBER")
    assert sent["data"] == {"user_id": joiner.id, "user_name": "초대받은이", "via": "invite"}


def test_join_with_a_bad_invite_code_names_the_problem(world: World) -> None:
    joiner = world.user()
    other = make_world(world.server, world.api)
    foreign = other.set_invite()
    code = world.set_invite()
    for wrong in ("ZZZZ9999", foreign):
        response = _join(world, joiner, invite_code=wrong)
        assert response.status_code == 404 and error_code(response) == "INVITE_NOT_FOUND"
    world.set_invite(code, hours=-1)
    response = _join(world, joiner, invite_code=code)
    assert response.status_code == 410 and error_code(response) == "INVITE_EXPIRED"
    world.set_invite(code, max_uses=2, used=2)
    response = _join(world, joiner, invite_code=code)
    assert response.status_code == 410 and error_code(response) == "INVITE_EXHAUSTED"
    assert world.row(joiner) is None


def test_join_under_a_study_join_restriction_is_restricted_with_details(world: World) -> None:
    joiner = world.user()
    until = utcnow() + timedelta(days=2)
    world.set_user(joiner, restricted_actions=["STUDY_JOIN"], restricted_until=until)
    code = world.set_invite()
    for body in ({}, {"invite_code": code}):
        response = _join(world, joiner, **body)
        assert response.status_code == 403 and error_code(response) == "RESTRICTED"
        assert response.json()["error"]["details"] == {"action": "STUDY_JOIN",
                                                       "restricted_until": iso(until)}
    # Restriction comes before STUDY_CLOSED in the order of checks.
    world.set_study(status="CLOSED")
    assert error_code(_join(world, joiner)) == "RESTRICTED"
    world.set_study(status="ACTIVE")
    # Another action, or an expired restriction, does not stop a join.
    world.set_user(joiner, restricted_actions=["MESSAGE"])
    assert _join(world, joiner).status_code == 201
    other = world.user()
    world.set_user(other, restricted_actions=["STUDY_JOIN"],
                   restricted_until=utcnow() - timedelta(minutes=1))
    assert _join(world, other).status_code == 201


def test_join_closed_study_is_refused(world: World) -> None:
    world.set_study(status="CLOSED")
    response = _join(world, world.user())
    assert response.status_code == 409 and error_code(response) == "STUDY_CLOSED"


def test_join_reports_the_existing_row_before_capacity(world: World) -> None:
    world.set_study(max_members=2)
    active = world.member()  # the study is now full
    pending = world.add(world.user(), status="PENDING")
    kicked = world.add(world.user(), status="KICKED")
    code = world.set_invite()
    assert error_code(_join(world, active)) == "ALREADY_MEMBER"
    assert error_code(_join(world, world.owner)) == "ALREADY_MEMBER"
    assert error_code(_join(world, pending)) == "APPLICATION_EXISTS"
    for body in ({}, {"invite_code": code}):
        response = _join(world, kicked, **body)
        assert response.status_code == 403 and error_code(response) == "KICKED_MEMBER"
    response = _join(world, world.user())
    assert response.status_code == 409 and error_code(response) == "STUDY_FULL"


def test_join_full_study_is_refused_even_with_an_invite_code(world: World) -> None:
    world.set_study(max_members=2, is_recruiting=False)
    world.member()
    code = world.set_invite()
    for body in ({}, {"invite_code": code}):
        assert error_code(_join(world, world.user(), **body)) == "STUDY_FULL"
    assert world.study()["invite_code_used_count"] == 0


def test_join_not_recruiting_study_is_refused_without_a_code(world: World) -> None:
    world.set_study(is_recruiting=False)
    response = _join(world, world.user())
    assert response.status_code == 409 and error_code(response) == "NOT_RECRUITING"
    code = world.set_invite()
    assert _join(world, world.user(), invite_code=code).status_code == 201


def test_invite_code_activates_a_pending_application_keeping_its_answers(world: World) -> None:
    world.set_study(auto_approve=False)
    applicant = world.user()
    data(_join(world, applicant, **ANSWERS), 201)
    code = world.set_invite()

    out = data(_join(world, applicant, invite_code=code, level="ADVANCED"), 201)

    assert out["member"]["status"] == "ACTIVE" and out["via_invite"] is True
    row = world.row(applicant)
    assert row["introduction"] == ANSWERS["introduction"] and row["level"] == "ADVANCED"
    assert world.study()["invite_code_used_count"] == 1


def test_left_member_rejoins_on_the_same_row(world: World) -> None:
    member = world.user()
    data(_join(world, member, introduction="처음"), 201)
    first_id = world.row(member)["id"]
    assert data(member.http.post(world.path("/leave")))["status"] == "LEFT"
    assert world.row(member)["left_at"] is not None

    out = data(_join(world, member), 201)

    row = world.row(member)
    assert row["id"] == first_id and row["status"] == "ACTIVE" and row["left_at"] is None
    assert row["introduction"] is None  # a new application replaces the old answers
    assert out["member"]["status"] == "ACTIVE"
    events = world.events()
    assert_seqs_consecutive(events)
    assert [e["type"] for e in events] == ["study:member-joined", "study:member-left",
                                           "study:member-joined"]


# --- leaving ----------------------------------------------------------------------------------


def test_leave_sets_left_appends_member_left_and_removes_from_room(
        world: World, room: Room) -> None:
    member = world.member()

    out = data(member.http.post(world.path("/leave")))

    assert out == {"status": "LEFT"}
    row = world.row(member)
    assert row["status"] == "LEFT" and row["left_at"] is not None
    events = world.events()
    assert [e["payload"] for e in events] == [
        {"study_id": world.study_id, "seq": 1, "user_id": member.id, "reason": "left"}]
    assert [e["type"] for e in events] == ["study:member-left"]
    assert [(r.study_id, r.user_id, r.reason) for r in room.removals] == [
        (world.study_id, member.id, "left")]
    assert world.notifications() == []


def test_withdrawing_a_pending_application_deletes_the_row(world: World) -> None:
    world.set_study(auto_approve=False)
    applicant = world.user()
    data(_join(world, applicant), 201)

    assert data(applicant.http.post(world.path("/leave"))) == {"status": "WITHDRAWN"}

    assert world.row(applicant) is None and world.events() == []
    assert data(_join(world, applicant), 201)["member"]["status"] == "PENDING"


def test_owner_cannot_leave(world: World) -> None:
    response = world.owner.http.post(world.path("/leave"))
    assert response.status_code == 409 and error_code(response) == "OWNER_CANNOT_LEAVE"


def test_leave_without_an_active_or_pending_row_is_refused(world: World) -> None:
    outsider = world.user()
    left = world.add(world.user(), status="LEFT")
    kicked = world.add(world.user(), status="KICKED")
    for user in (outsider, left, kicked):
        response = user.http.post(world.path("/leave"))
        assert response.status_code == 403 and error_code(response) == "NOT_MEMBER"
    private = world.new_study(is_public=False)
    assert error_code(outsider.http.post(f"/api/studies/{private}/leave")) == "NOT_FOUND"
    assert error_code(outsider.http.post("/api/studies/nope/leave")) == "NOT_FOUND"


def test_leave_still_works_in_a_closed_study(world: World) -> None:
    member = world.member()
    world.set_study(status="CLOSED")
    assert data(member.http.post(world.path("/leave"))) == {"status": "LEFT"}


# --- account deletion -------------------------------------------------------------------------


@db_write
def _delete_memberships(user_id: str) -> list[str]:
    return leave_all_memberships_now(user_id)


def test_leave_all_memberships_now_leaves_every_study_with_events(
        server: LiveServer, api: Api, room: Room) -> None:
    first, second = make_world(server, api), make_world(server, api)
    pending_in = make_world(server, api)
    user = api.signup(name="탈퇴예정")
    first.add(user)
    second.add(user, role="ADMIN")
    pending_in.add(user, status="PENDING")
    gone = first.new_study(status="DELETED")
    first.add(user, study_id=gone)

    left = server.call(_delete_memberships(user.id))

    assert sorted(left) == sorted([first.study_id, second.study_id])
    for place in (first, second):
        assert place.row(user)["status"] == "LEFT"
        assert [(e["seq"], e["type"], e["payload"]) for e in place.events()] == [
            (1, "study:member-left",
             {"study_id": place.study_id, "seq": 1, "user_id": user.id, "reason": "left"})]
    assert pending_in.row(user) is None
    assert server.call(membership_row(gone, user.id))["status"] == "LEFT"
    assert server.call(study_events(gone)) == []
    assert sorted((r.study_id, r.reason) for r in room.removals) == sorted(
        [(first.study_id, "left"), (second.study_id, "left")])
