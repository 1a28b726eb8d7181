"""Reviewing join requests (COUP.md §7.5): list, approve, reject; the email privacy rule."""

from __future__ import annotations

from typing import Any

import pytest

from coup.pagination import PageRequest
from coup.store import membership_reads
from tests.conftest import Api, LiveServer, count_queries, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


def _get_requests(world: World, user: ApiUser, query: str = "") -> Any:
    return user.http.get(world.path(f"/join-requests{query}"))


def _approve(world: World, actor: ApiUser, target: ApiUser) -> Any:
    return actor.http.post(world.path(f"/join-requests/{target.id}/approve"))


def _reject(world: World, actor: ApiUser, target: ApiUser, **body: Any) -> Any:
    return actor.http.post(world.path(f"/join-requests/{target.id}/reject"), json=body)


def _notifications_of_type(world: World, kind: str) -> list[dict[str, Any]]:
    return [n for n in world.notifications() if n["type"] == kind]


# --- listing ----------------------------------------------------------------------------------


def test_join_requests_list_pending_newest_first_with_emails_and_other_studies(
        world: World) -> None:
    older = world.add(world.user("먼저지원"), status="PENDING", joined_minutes_ago=30)
    newer = world.add(world.user("나중지원"), status="PENDING", joined_minutes_ago=5)
    world.add(world.user(), status="ACTIVE")
    world.add(world.user(), status="LEFT")
    host = world.user("다른스터디장")
    visible = []
    for minutes in range(7):
        study_id = world.new_study(owner=host, name=f"공개 {minutes}")
        world.add(newer, joined_minutes_ago=minutes, study_id=study_id)
        visible.append(study_id)
    for fields in ({"is_public": False}, {"is_hidden": True}, {"status": "DELETED"}):
        world.add(newer, study_id=world.new_study(owner=host, **fields))
    world.add(newer, status="LEFT", study_id=world.new_study(owner=host))
    world.add(newer, status="PENDING", study_id=world.new_study(owner=host))

    response = _get_requests(world, world.owner)
    items = data(response)

    assert response.json()["pagination"] == {"page": 1, "limit": 20, "total": 2,
                                             "total_pages": 1, "has_next": False,
                                             "has_prev": False}
    assert [item["user"]["id"] for item in items] == [newer.id, older.id]
    first = items[0]
    assert first["user"] == {"id": newer.id, "name": "나중지원", "email": newer.email,
                             "avatar": None, "bio": None}
    assert set(first) == {"user", "introduction", "motivation", "level", "applied_at",
                          "other_studies"}
    # The five most recently joined of the seven public, visible studies.
    assert [s["id"] for s in first["other_studies"]] == visible[:5]
    assert first["other_studies"][0] == {"id": visible[0], "name": "공개 0", "emoji": "📚",
                                         "category": "개발"}
    assert items[1]["other_studies"] == []
    paged = data(_get_requests(world, world.owner, "?limit=1&page=2"))
    assert [item["user"]["id"] for item in paged] == [older.id]


def test_join_requests_are_for_the_owner_and_admins_only(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member("MEMBER")
    outsider = world.user()
    world.add(world.user(), status="PENDING")
    assert len(data(_get_requests(world, admin))) == 1
    assert error_code(_get_requests(world, member)) == "FORBIDDEN"
    assert error_code(_get_requests(world, outsider)) == "NOT_MEMBER"
    world.set_study(is_public=False)
    assert error_code(_get_requests(world, outsider)) == "NOT_FOUND"
    assert error_code(_get_requests(world, admin, "?limit=0")) == "VALIDATION_ERROR"


def test_join_requests_page_costs_the_same_queries_for_one_or_many_applicants(
        server: LiveServer, api: Api) -> None:
    def queries_for(applicants: int) -> int:
        world = make_world(server, api)
        for _ in range(applicants):
            applicant = world.add(world.user(), status="PENDING")
            for _ in range(3):
                world.add(applicant, study_id=world.new_study())
        return server.call(count_queries(
            membership_reads.list_join_requests.__wrapped__, world.study_id, world.owner.id,
            PageRequest(1, 20)))

    one, many = queries_for(1), queries_for(4)
    # access (2), count, page, other studies: nothing per applicant.
    assert one == many and 0 < one <= 5


def test_emails_stay_private_outside_join_requests_for_admins(world: World) -> None:
    world.set_study(auto_approve=False)
    member = world.member("MEMBER")
    applicant = world.user("지원자")
    responses = [world.api.join(applicant, world.study_id)]
    responses.append(member.http.get(world.path("/join-requests")))
    responses.append(member.http.get(world.path("/members")))
    responses.append(world.owner.http.get(world.path("/members?status=PENDING")))
    responses.append(applicant.http.get("/api/my-studies"))
    responses.append(_approve(world, world.owner, applicant))
    responses.append(world.owner.http.get(world.path("/members")))
    for response in responses:
        assert applicant.email not in response.text, response.request.url
        assert world.owner.email not in response.text, response.request.url
    for notification in world.notifications():
        assert applicant.email not in str(notification["data"])
    again = world.add(world.user(), status="PENDING")
    assert again.email in world.owner.http.get(world.path("/join-requests")).text


# --- approve ----------------------------------------------------------------------------------


def test_approve_activates_the_applicant_with_event_and_join_approved(world: World) -> None:
    admin = world.member("ADMIN")
    world.set_study(auto_approve=False)
    applicant = world.user("지원자")
    data(world.api.join(applicant, world.study_id), 201)

    member = data(_approve(world, admin, applicant))

    assert member["user_id"] == applicant.id and member["status"] == "ACTIVE"
    assert member["role"] == "MEMBER" and member["joined_at"] and member["approved_at"]
    row = world.row(applicant)
    assert row["status"] == "ACTIVE" and row["approved_by"] == admin.id
    events = world.events()
    assert [(e["seq"], e["type"]) for e in events] == [(1, "study:member-joined")]
    assert events[0]["payload"] == {"study_id": world.study_id, "seq": 1, "member": member}
    (approved,) = _notifications_of_type(world, "JOIN_APPROVED")
    assert (approved["user"], approved["data"]) == (applicant.id, {})
    assert approved["message"] == "알고리즘 스터디 가입이 승인되었습니다"


def test_approve_needs_a_pending_row_and_st_admin(world: World) -> None:
    member = world.member("MEMBER")
    pending = world.add(world.user(), status="PENDING")
    for target in (member, world.user(), world.owner):
        assert error_code(_approve(world, world.owner, target)) == "NOT_FOUND"
    assert error_code(_approve(world, member, pending)) == "FORBIDDEN"
    assert error_code(world.owner.http.post(world.path("/join-requests/nope/approve"))
                      ) == "NOT_FOUND"
    assert world.row(pending)["status"] == "PENDING"


def test_approve_when_full_is_refused_and_the_application_stays(world: World) -> None:
    world.set_study(max_members=2)
    pending = world.add(world.user(), status="PENDING")
    world.member()
    response = _approve(world, world.owner, pending)
    assert response.status_code == 409 and error_code(response) == "STUDY_FULL"
    assert world.row(pending)["status"] == "PENDING" and world.events() == []


def test_approve_and_reject_are_refused_while_closed(world: World) -> None:
    pending = world.add(world.user(), status="PENDING")
    world.set_study(status="CLOSED")
    assert error_code(_approve(world, world.owner, pending)) == "STUDY_CLOSED"
    assert error_code(_reject(world, world.owner, pending)) == "STUDY_CLOSED"


# --- reject -----------------------------------------------------------------------------------


def test_reject_deletes_the_application_and_notifies_with_the_reason(world: World) -> None:
    admin = world.member("ADMIN")
    world.set_study(auto_approve=False)
    applicant = world.user()
    data(world.api.join(applicant, world.study_id), 201)

    assert data(_reject(world, admin, applicant, reason="  정원이 찼어요  ")) is None

    assert world.row(applicant) is None and world.events() == []
    (rejected,) = _notifications_of_type(world, "JOIN_REJECTED")
    assert rejected["user"] == applicant.id
    assert rejected["data"] == {"reason": "정원이 찼어요"}
    assert rejected["message"] == "알고리즘 스터디 가입 신청이 거절되었습니다: 정원이 찼어요"
    # The user may apply again.
    assert data(world.api.join(applicant, world.study_id), 201)["member"]["status"] == "PENDING"


def test_reject_without_a_reason_leaves_the_suffix_out(world: World) -> None:
    applicant = world.add(world.user(), status="PENDING")
    assert world.owner.http.post(world.path(f"/join-requests/{applicant.id}/reject")
                                 ).status_code == 200
    (rejected,) = _notifications_of_type(world, "JOIN_REJECTED")
    assert rejected["data"] == {"reason": None}
    assert rejected["message"] == "알고리즘 스터디 가입 신청이 거절되었습니다"


def test_reject_checks_input_row_and_role(world: World) -> None:
    member = world.member()
    pending = world.add(world.user(), status="PENDING")
    assert error_code(_reject(world, world.owner, pending, reason="가" * 201)
                      ) == "VALIDATION_ERROR"
    assert error_code(_reject(world, world.owner, pending, note="x")) == "VALIDATION_ERROR"
    assert error_code(_reject(world, world.owner, member)) == "NOT_FOUND"
    assert error_code(_reject(world, member, pending)) == "FORBIDDEN"
    assert world.row(pending)["status"] == "PENDING"
    assert world.notifications() == []
