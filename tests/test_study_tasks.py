"""Study tasks, the kanban board (COUP.md §7.11), through the real server on SQLite and
PostgreSQL: the role matrix (§3.4), the status transition table, assignees, CLOSED studies
(§10.2), events (§9.2) and TASK notifications (§8.1)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from coup import localtime
from coup.store.db import db_task, db_transaction
from coup.store.enums import TASK_STATUS
from coup.store.events import events_after
from coup.store.models import StudyMember, StudyTask, StudyTaskAssignee
from coup.store.notifications import render
from coup.store.study_tasks import TRANSITIONS
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world

TASK_KEYS = {"id", "study_id", "title", "description", "status", "priority", "due_date",
             "completed_at", "created_by", "assignees", "created_at", "updated_at"}
ALLOWED = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
REFUSED = sorted((a, b) for a in TASK_STATUS for b in TASK_STATUS
                 if a != b and b not in TRANSITIONS[a])


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@db_transaction
def _force(task_id: str, **changes: Any) -> None:
    StudyTask.update(**changes).where(StudyTask.id == task_id).execute()


@db_transaction
def _set_member(study_id: str, user_id: str, **changes: Any) -> None:
    StudyMember.update(**changes).where((StudyMember.study == study_id)
                                        & (StudyMember.user == user_id)).execute()


@db_task
def _assignee_rows(task_id: str) -> list[dict[str, Any]]:
    return list(StudyTaskAssignee.select().where(StudyTaskAssignee.task == task_id).dicts())


def today(server: LiveServer) -> date:
    return localtime.today(server.settings.tz)


def create(world: World, actor: ApiUser, **fields: Any) -> httpx.Response:
    return actor.http.post(world.path("/tasks"), json={"title": "문제 풀이", **fields})


def created(world: World, actor: ApiUser, **fields: Any) -> dict[str, Any]:
    return data(create(world, actor, **fields), 201)


def patch(world: World, actor: ApiUser, task_id: str, **fields: Any) -> httpx.Response:
    return actor.http.patch(world.path(f"/tasks/{task_id}"), json=fields)


def move(world: World, actor: ApiUser, task_id: str, status: str) -> httpx.Response:
    return actor.http.patch(world.path(f"/tasks/{task_id}/status"), json={"status": status})


def events(world: World, since: int = 0) -> list[Any]:
    return world.server.call(events_after(world.study_id, since, 1000))


def last_seq(world: World) -> int:
    found = events(world)
    return found[-1].seq if found else 0


def task_notes(world: World) -> list[dict[str, Any]]:
    return [n for n in world.notifications() if n["type"] == "TASK"]


def ids(users: list[ApiUser]) -> list[str]:
    return [u.id for u in users]


# --- create -----------------------------------------------------------------------------------


def test_admin_creates_a_task_with_assignees(world: World) -> None:
    admin = world.member("ADMIN", "관리자")
    first, second = world.member(name="첫째"), world.member(name="둘째")
    due = (today(world.server) + timedelta(days=2)).isoformat()
    task = created(world, admin, title="  그래프 정리  ", description="설명\n둘째 줄",
                   priority="HIGH", due_date=due, assignee_ids=[second.id, first.id, admin.id])
    assert set(task) == TASK_KEYS
    assert (task["title"], task["status"], task["priority"], task["due_date"]) == (
        "그래프 정리", "TODO", "HIGH", due)
    assert task["completed_at"] is None
    assert task["created_by"] == {"id": admin.id, "name": "관리자", "avatar": None}
    assert sorted(a["id"] for a in task["assignees"]) == sorted([first.id, second.id, admin.id])
    assert data(first.http.get(world.path(f"/tasks/{task['id']}"))) == task
    rows = world.server.call(_assignee_rows(task["id"]))
    assert {row["assigned_by"] for row in rows} == {admin.id}


def test_create_defaults_and_done_sets_completed_at(world: World) -> None:
    plain = created(world, world.owner)
    assert (plain["status"], plain["priority"], plain["due_date"], plain["assignees"]) == (
        "TODO", "MEDIUM", None, [])
    done = created(world, world.owner, status="DONE", assignee_ids=None, description="")
    assert done["status"] == "DONE" and done["completed_at"] is not None
    assert done["description"] is None


def test_only_st_admins_create_tasks(world: World, api: Api) -> None:
    assert error_code(create(world, world.member())) == "FORBIDDEN"
    assert error_code(create(world, api.signup(name="외부인"))) == "NOT_MEMBER"
    assert error_code(create(world, world.add(world.user(), status="PENDING"))) == "NOT_MEMBER"
    assert error_code(create(world, world.add(world.user(), status="KICKED",
                                              role="ADMIN"))) == "NOT_MEMBER"
    response = api.anonymous().post(world.path("/tasks"), json={"title": "제목입니다"})
    assert error_code(response) == "UNAUTHORIZED"
    private = make_world(world.server, api, is_public=False)
    assert error_code(create(private, world.owner)) == "NOT_FOUND"


def test_create_validation(world: World) -> None:
    response = world.owner.http.post(world.path("/tasks"), json={
        "title": "a", "description": "x" * 1001, "status": "OPEN", "priority": "low",
        "due_date": "2099-02-30", "assignee_ids": "me", "color": "#fff"})
    assert set(response.json()["error"]["fields"]) == {
        "title", "description", "status", "priority", "due_date", "assignee_ids", "color"}
    past = (today(world.server) - timedelta(days=1)).isoformat()
    response = create(world, world.owner, due_date=past)
    assert response.json()["error"]["fields"] == {"due_date": "must be today or later"}
    assert error_code(world.owner.http.post(world.path("/tasks"), json={})) == \
        "VALIDATION_ERROR"


def test_assignees_must_be_distinct_active_members_at_most_twenty(world: World,
                                                                 api: Api) -> None:
    member = world.member()
    pending = world.add(world.user(), status="PENDING")
    left = world.add(world.user(), status="LEFT")
    outsider = api.signup(name="외부인")
    for bad in ([member.id, member.id], [pending.id], [left.id], [outsider.id], ["nobody"],
                [member.id, 3], ["a"] * 21, [f"user{i}" for i in range(21)]):
        response = create(world, world.owner, assignee_ids=bad)
        assert error_code(response) == "VALIDATION_ERROR", bad
        assert set(response.json()["error"]["fields"]) == {"assignee_ids"}, bad
    assert world.server.call(events_after(world.study_id, 0, 1000)) == []
    many = [world.member(name=f"멤버{i}") for i in range(19)]
    task = created(world, world.owner, assignee_ids=[member.id, *ids(many)])
    assert len(task["assignees"]) == 20


def test_create_in_a_closed_study_is_refused(world: World) -> None:
    world.set_study(status="CLOSED")
    assert error_code(create(world, world.owner)) == "STUDY_CLOSED"


def test_create_appends_task_created_and_notifies_assignees_except_creator(world: World) -> None:
    admin = world.member("ADMIN")
    assignee = world.member(name="담당자")
    bystander = world.member(name="구경꾼")
    before = last_seq(world)
    task = created(world, admin, title="발표 준비", assignee_ids=[assignee.id, admin.id])
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "task:created")]
    assert set(found[0].payload) == {"study_id", "seq", "task"}
    assert found[0].payload["task"] == task
    notes = task_notes(world)
    assert [n["user"] for n in notes] == [assignee.id]
    assert notes[0]["data"] == {"task_id": task["id"]}
    assert notes[0]["message"] == render("task", title="발표 준비")
    assert bystander.id not in [n["user"] for n in notes]
    created(world, admin, title="담당 없음")
    assert len(task_notes(world)) == 1


# --- list -------------------------------------------------------------------------------------


def test_list_orders_by_status_priority_due_date_then_newest(world: World) -> None:
    soon = (today(world.server) + timedelta(days=1)).isoformat()
    later = (today(world.server) + timedelta(days=5)).isoformat()
    make = lambda **f: created(world, world.owner, **f)["id"]  # noqa: E731
    done = make(status="DONE", priority="URGENT")
    review = make(status="REVIEW")
    progress = make(status="IN_PROGRESS")
    cancelled = make(status="CANCELLED")
    todo_low = make(priority="LOW", due_date=soon)
    todo_no_due_old = make(priority="HIGH")
    todo_later = make(priority="HIGH", due_date=later)
    todo_soon = make(priority="HIGH", due_date=soon)
    todo_no_due_new = make(priority="HIGH")
    todo_urgent = make(priority="URGENT")
    listed = data(world.member().http.get(world.path("/tasks"), params={"limit": 100}))
    assert [t["id"] for t in listed] == [
        todo_urgent, todo_soon, todo_later, todo_no_due_new, todo_no_due_old, todo_low,
        progress, review, done, cancelled]


def test_list_filters_and_paginates(world: World) -> None:
    member = world.member(name="멤버")
    other = world.member(name="다른멤버")
    mine = created(world, world.owner, priority="HIGH", assignee_ids=[member.id])
    both = created(world, world.owner, status="IN_PROGRESS", assignee_ids=[member.id,
                                                                           other.id])
    none = created(world, world.owner, status="DONE")

    def listed(actor: ApiUser = member, **query: Any) -> list[str]:
        return [t["id"] for t in data(actor.http.get(world.path("/tasks"), params=query))]

    assert listed(assignee="me") == [mine["id"], both["id"]]
    assert listed(assignee=other.id) == [both["id"]]
    assert listed(assignee="nobody") == []
    assert listed(status="DONE") == [none["id"]]
    assert listed(status="all") == [mine["id"], both["id"], none["id"]]
    assert listed(priority="HIGH") == [mine["id"]]
    assert listed(status="IN_PROGRESS", assignee="me") == [both["id"]]
    response = member.http.get(world.path("/tasks"), params={"limit": 2, "page": 2})
    assert [t["id"] for t in data(response)] == [none["id"]]
    assert response.json()["pagination"] == {"page": 2, "limit": 2, "total": 3,
                                             "total_pages": 2, "has_next": False,
                                             "has_prev": True}
    for query in ({"status": "done"}, {"priority": "urgent"}, {"limit": 0}, {"page": "x"}):
        assert error_code(member.http.get(world.path("/tasks"), params=query)) == \
            "VALIDATION_ERROR", query


def test_reads_need_membership_and_tasks_of_other_studies_are_not_found(world: World,
                                                                        api: Api) -> None:
    task = created(world, world.owner)
    outsider = api.signup(name="외부인")
    assert error_code(outsider.http.get(world.path("/tasks"))) == "NOT_MEMBER"
    assert error_code(outsider.http.get(world.path(f"/tasks/{task['id']}"))) == "NOT_MEMBER"
    other = make_world(world.server, api)
    assert error_code(other.owner.http.get(other.path(f"/tasks/{task['id']}"))) == "NOT_FOUND"
    assert error_code(patch(other, other.owner, task["id"], title="남의 할 일")) == "NOT_FOUND"
    assert error_code(world.owner.http.get(world.path("/tasks/missing"))) == "NOT_FOUND"
    assert error_code(api.anonymous().get(world.path("/tasks"))) == "UNAUTHORIZED"


# --- edit -------------------------------------------------------------------------------------


def test_edit_permissions_creator_assignee_or_st_admin(world: World, api: Api) -> None:
    creator = world.member("ADMIN", "작성자")
    assignee = world.member(name="담당자")
    member = world.member(name="멤버")
    task = created(world, creator, assignee_ids=[assignee.id])
    assert error_code(patch(world, member, task["id"], title="바꾸기")) == "FORBIDDEN"
    assert error_code(move(world, member, task["id"], "IN_PROGRESS")) == "FORBIDDEN"
    assert error_code(patch(world, api.signup(), task["id"], title="바꾸기")) == "NOT_MEMBER"
    assert data(patch(world, assignee, task["id"], title="담당자 수정"))["title"] == "담당자 수정"
    assert data(move(world, assignee, task["id"], "IN_PROGRESS"))["status"] == "IN_PROGRESS"
    other_admin = world.member("ADMIN", "관리자")
    assert data(patch(world, other_admin, task["id"], priority="LOW"))["priority"] == "LOW"
    assert data(patch(world, world.owner, task["id"], priority="URGENT"))["priority"] == \
        "URGENT"
    world.server.call(_set_member(world.study_id, creator.id, role="MEMBER"))
    assert data(move(world, creator, task["id"], "REVIEW"))["status"] == "REVIEW"
    # An assignee who left the study has no MEMBER access any more.
    world.server.call(_set_member(world.study_id, assignee.id, status="LEFT"))
    assert error_code(patch(world, assignee, task["id"], title="떠난 뒤")) == "NOT_MEMBER"


def test_edit_fields_and_validation(world: World) -> None:
    task = created(world, world.owner, due_date=today(world.server).isoformat())
    tid = task["id"]
    for bad in ({}, {"title": None}, {"status": None}, {"priority": None}, {"title": "x"},
                {"status": "OPEN"}, {"assignee_ids": [1]}, {"created_by": "me"}):
        assert error_code(patch(world, world.owner, tid, **bad)) == "VALIDATION_ERROR", bad
    past = (today(world.server) - timedelta(days=1)).isoformat()
    assert patch(world, world.owner, tid, due_date=past).json()["error"]["fields"] == {
        "due_date": "must be today or later"}
    changed = data(patch(world, world.owner, tid, title="새 제목", description="설명",
                         priority="LOW"))
    assert (changed["title"], changed["description"], changed["priority"]) == (
        "새 제목", "설명", "LOW")
    cleared = data(patch(world, world.owner, tid, due_date=None, description=None))
    assert cleared["due_date"] is None and cleared["description"] is None
    assert data(world.owner.http.patch(world.path(f"/tasks/{tid}/status"),
                                       json={"status": "TODO"}))["status"] == "TODO"
    for bad in ({}, {"status": "todo"}, {"status": "TODO", "title": "추가"}):
        response = world.owner.http.patch(world.path(f"/tasks/{tid}/status"), json=bad)
        assert error_code(response) == "VALIDATION_ERROR", bad


def test_replacing_assignees_notifies_only_the_new_ones(world: World) -> None:
    admin = world.member("ADMIN", "관리자")
    kept, dropped, added = (world.member(name=n) for n in ("유지", "제외", "추가"))
    task = created(world, admin, title="리뷰", assignee_ids=[kept.id, dropped.id])
    notes_before = len(task_notes(world))
    # A kept assignee who is no longer ACTIVE does not block the update.
    world.server.call(_set_member(world.study_id, kept.id, status="LEFT"))
    before = last_seq(world)
    changed = data(patch(world, admin, task["id"], assignee_ids=[kept.id, added.id, admin.id]))
    assert sorted(a["id"] for a in changed["assignees"]) == sorted([kept.id, added.id,
                                                                    admin.id])
    new_notes = task_notes(world)[notes_before:]
    assert [n["user"] for n in new_notes] == [added.id]
    assert new_notes[0]["data"] == {"task_id": task["id"]}
    assert new_notes[0]["message"] == render("task", title="리뷰")
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "task:updated")]
    assert found[0].payload == {"study_id": world.study_id, "seq": before + 1,
                                "task": changed}
    # Newly added ids must be ACTIVE members.
    response = patch(world, admin, task["id"], assignee_ids=[dropped.id, "nobody"])
    assert set(response.json()["error"]["fields"]) == {"assignee_ids"}
    assert data(patch(world, admin, task["id"], assignee_ids=None))["assignees"] == []
    assert world.server.call(_assignee_rows(task["id"])) == []


def test_an_assignee_adding_others_is_never_notified_themselves(world: World) -> None:
    assignee, newcomer = world.member(name="담당"), world.member(name="신규")
    task = created(world, world.owner, assignee_ids=[assignee.id])
    before = len(task_notes(world))
    patch(world, assignee, task["id"], assignee_ids=[assignee.id, newcomer.id])
    assert [n["user"] for n in task_notes(world)[before:]] == [newcomer.id]


def test_edit_in_a_closed_study_is_refused(world: World) -> None:
    assignee = world.member()
    task = created(world, world.owner, assignee_ids=[assignee.id])
    world.set_study(status="CLOSED")
    assert error_code(patch(world, world.owner, task["id"], title="닫힌 뒤")) == "STUDY_CLOSED"
    assert error_code(move(world, assignee, task["id"], "IN_PROGRESS")) == "STUDY_CLOSED"
    assert error_code(patch(world, world.member(), task["id"], title="닫힌 뒤")) == "FORBIDDEN"


# --- status transitions -----------------------------------------------------------------------


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transitions(world: World, current: str, target: str) -> None:
    task = created(world, world.owner, status=current)
    for endpoint in (move, lambda w, a, t, s: patch(w, a, t, status=s)):
        world.server.call(_force(task["id"], status=current,
                                 completed_at=datetime(2099, 1, 1) if current == "DONE"
                                 else None))
        moved = data(endpoint(world, world.owner, task["id"], target))
        assert moved["status"] == target
        assert (moved["completed_at"] is not None) == (target == "DONE")
        if target == "DONE":
            assert moved["completed_at"] != "2099-01-01T00:00:00.000Z"


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transitions(world: World, current: str, target: str) -> None:
    task = created(world, world.owner, status=current)
    before = last_seq(world)
    for endpoint in (move, lambda w, a, t, s: patch(w, a, t, status=s)):
        response = endpoint(world, world.owner, task["id"], target)
        assert response.status_code == 409 and error_code(response) == "INVALID_TRANSITION"
    assert last_seq(world) == before
    assert data(world.owner.http.get(world.path(f"/tasks/{task['id']}")))["status"] == current


@pytest.mark.parametrize("status", TASK_STATUS)
def test_keeping_the_status_is_always_allowed_and_keeps_completed_at(world: World,
                                                                     status: str) -> None:
    task = created(world, world.owner, status=status)
    kept = data(move(world, world.owner, task["id"], status))
    assert kept["status"] == status
    assert kept["completed_at"] == task["completed_at"]


def test_a_refused_transition_changes_no_other_field(world: World) -> None:
    task = created(world, world.owner, title="그대로", status="DONE")
    response = patch(world, world.owner, task["id"], title="바뀜", status="REVIEW")
    assert error_code(response) == "INVALID_TRANSITION"
    assert data(world.owner.http.get(world.path(f"/tasks/{task['id']}")))["title"] == "그대로"


def test_status_change_appends_task_updated_without_notifications(world: World) -> None:
    assignee = world.member()
    task = created(world, world.owner, assignee_ids=[assignee.id])
    notes = len(world.notifications())
    before = last_seq(world)
    moved = data(move(world, assignee, task["id"], "IN_PROGRESS"))
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "task:updated")]
    assert found[0].payload["task"] == moved
    assert len(world.notifications()) == notes


# --- delete -----------------------------------------------------------------------------------


def test_delete_by_creator_or_st_admin_not_assignee(world: World) -> None:
    creator = world.member("ADMIN", "작성자")
    assignee = world.member(name="담당자")
    task = created(world, creator, assignee_ids=[assignee.id])
    other = created(world, creator)
    assert error_code(assignee.http.delete(world.path(f"/tasks/{task['id']}"))) == "FORBIDDEN"
    assert error_code(world.member().http.delete(world.path(f"/tasks/{task['id']}"))) == \
        "FORBIDDEN"
    before = last_seq(world)
    world.server.call(_set_member(world.study_id, creator.id, role="MEMBER"))
    assert data(creator.http.delete(world.path(f"/tasks/{task['id']}"))) is None
    assert data(world.owner.http.delete(world.path(f"/tasks/{other['id']}"))) is None
    found = events(world, before)
    assert [(e.seq, e.type, e.payload) for e in found] == [
        (before + 1, "task:deleted",
         {"study_id": world.study_id, "seq": before + 1, "task_id": task["id"]}),
        (before + 2, "task:deleted",
         {"study_id": world.study_id, "seq": before + 2, "task_id": other["id"]})]
    assert world.server.call(_assignee_rows(task["id"])) == []
    assert error_code(world.owner.http.get(world.path(f"/tasks/{task['id']}"))) == "NOT_FOUND"


def test_delete_works_in_a_closed_study(world: World) -> None:
    task = created(world, world.owner)
    world.set_study(status="CLOSED")
    assert data(world.owner.http.delete(world.path(f"/tasks/{task['id']}"))) is None


def test_every_write_has_a_consecutive_seq(world: World) -> None:
    task = created(world, world.owner)
    move(world, world.owner, task["id"], "IN_PROGRESS")
    patch(world, world.owner, task["id"], title="다시 제목")
    world.owner.http.delete(world.path(f"/tasks/{task['id']}"))
    found = events(world)
    assert [e.seq for e in found] == list(range(1, len(found) + 1))
    assert [e.type for e in found][-4:] == ["task:created", "task:updated", "task:updated",
                                            "task:deleted"]


# --- time zone --------------------------------------------------------------------------------


def test_due_date_today_is_the_seoul_date(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # 15:10 UTC on 1 March is 00:10 on 2 March in Seoul.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 15, 10))
    response = create(world, world.owner, due_date="2099-03-01")
    assert response.json()["error"]["fields"] == {"due_date": "must be today or later"}
    assert created(world, world.owner, due_date="2099-03-02")["due_date"] == "2099-03-02"
