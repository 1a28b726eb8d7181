"""Personal tasks (COUP.md §7.12) through the real server, on SQLite and PostgreSQL: privacy,
the completion rules, list filters and orders, and statistics in the platform time zone."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from coup import localtime
from coup.store.events import events_after
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world

TASK_KEYS = {"id", "title", "description", "status", "priority", "due_date", "completed",
             "completed_at", "study", "created_at", "updated_at"}


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@pytest.fixture()
def user(api: Api) -> ApiUser:
    return api.signup(name="할일러")


def create(user: ApiUser, **fields: Any) -> httpx.Response:
    return user.http.post("/api/tasks", json={"title": "장보기", **fields})


def created(user: ApiUser, **fields: Any) -> dict[str, Any]:
    return data(create(user, **fields), 201)


def patch(user: ApiUser, task_id: str, **fields: Any) -> dict[str, Any]:
    return data(user.http.patch(f"/api/tasks/{task_id}", json=fields))


def patch_error(user: ApiUser, task_id: str, **fields: Any) -> str:
    return error_code(user.http.patch(f"/api/tasks/{task_id}", json=fields))


def toggle(user: ApiUser, task_id: str) -> dict[str, Any]:
    return data(user.http.patch(f"/api/tasks/{task_id}/toggle"))


def listed(user: ApiUser, **query: Any) -> list[str]:
    return [t["id"] for t in data(user.http.get("/api/tasks",
                                                params={"limit": 100, **query}))]


# --- create and read --------------------------------------------------------------------------


def test_create_with_defaults(user: ApiUser) -> None:
    task = created(user, title=" 우유 ", description="", due_date="2000-01-01")
    assert set(task) == TASK_KEYS
    assert (task["title"], task["description"], task["status"], task["priority"]) == (
        "우유", None, "TODO", "MEDIUM")
    # Personal due dates may be in the past.
    assert task["due_date"] == "2000-01-01"
    assert task["completed"] is False and task["completed_at"] is None
    assert task["study"] is None
    assert data(user.http.get(f"/api/tasks/{task['id']}")) == task


def test_create_as_done_is_completed(user: ApiUser) -> None:
    task = created(user, status="DONE", priority="URGENT")
    assert task["completed"] is True and task["completed_at"] is not None
    assert created(user, status="CANCELLED")["completed"] is False


def test_create_validation(user: ApiUser) -> None:
    response = user.http.post("/api/tasks", json={
        "title": "", "description": "x" * 1001, "status": "done", "priority": "HIGHEST",
        "due_date": "2024-13-01", "completed": True})
    assert set(response.json()["error"]["fields"]) == {
        "title", "description", "status", "priority", "due_date", "completed"}
    assert error_code(create(user, title="가" * 101)) == "VALIDATION_ERROR"
    assert created(user, title="가")["title"] == "가"
    assert created(user, title="가" * 100)["title"] == "가" * 100


def test_linking_a_study_needs_an_active_membership(world: World, user: ApiUser,
                                                    api: Api) -> None:
    assert error_code(create(user, study_id=world.study_id)) == "NOT_MEMBER"
    assert error_code(create(user, study_id="no-such-study")) == "NOT_MEMBER"
    world.add(user, status="PENDING")
    assert error_code(create(user, study_id=world.study_id)) == "NOT_MEMBER"
    private = make_world(world.server, api, is_public=False)
    assert error_code(create(user, study_id=private.study_id)) == "NOT_MEMBER"
    private.add(user)
    task = created(user, study_id=private.study_id)
    assert task["study"] == {"id": private.study_id, "name": "알고리즘 스터디", "emoji": "📚"}
    # A CLOSED study still accepts personal links; a DELETED one does not and shows as null.
    private.set_study(status="CLOSED")
    assert created(user, study_id=private.study_id)["study"]["id"] == private.study_id
    private.set_study(status="DELETED")
    assert error_code(create(user, study_id=private.study_id)) == "NOT_MEMBER"
    assert data(user.http.get(f"/api/tasks/{task['id']}"))["study"] is None


def test_personal_tasks_produce_no_events_or_notifications(world: World, user: ApiUser) -> None:
    world.add(user)
    task = created(user, study_id=world.study_id)
    patch(user, task["id"], status="DONE")
    toggle(user, task["id"])
    user.http.delete(f"/api/tasks/{task['id']}")
    assert world.server.call(events_after(world.study_id, 0, 100)) == []
    assert world.notifications() == []


def test_another_users_task_is_not_found(user: ApiUser, api: Api) -> None:
    task = created(user)
    other = api.signup(name="다른사람")
    path = f"/api/tasks/{task['id']}"
    assert error_code(other.http.get(path)) == "NOT_FOUND"
    assert error_code(other.http.patch(path, json={"title": "남의 것"})) == "NOT_FOUND"
    assert error_code(other.http.put(path, json={"title": "남의 것"})) == "NOT_FOUND"
    assert error_code(other.http.delete(path)) == "NOT_FOUND"
    assert error_code(other.http.patch(f"{path}/toggle")) == "NOT_FOUND"
    assert listed(other) == []
    assert data(user.http.get(path))["title"] == "장보기"
    anonymous = api.anonymous()
    for response in (anonymous.get("/api/tasks"), anonymous.post("/api/tasks", json={}),
                     anonymous.get("/api/tasks/stats"), anonymous.get(path),
                     anonymous.patch(path, json={"title": "익명"}),
                     anonymous.put(path, json={"title": "익명"}), anonymous.delete(path),
                     anonymous.patch(f"{path}/toggle")):
        assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"
    assert error_code(user.http.get("/api/tasks/unknown")) == "NOT_FOUND"


# --- PATCH and the completion rules -----------------------------------------------------------


def test_status_done_or_completed_true_completes(user: ApiUser) -> None:
    by_status = patch(user, created(user)["id"], status="DONE")
    by_flag = patch(user, created(user)["id"], completed=True)
    both = patch(user, created(user)["id"], status="DONE", completed=True)
    for task in (by_status, by_flag, both):
        assert (task["status"], task["completed"]) == ("DONE", True)
        assert task["completed_at"] is not None
    # Completing again keeps the original completion time.
    assert patch(user, by_status["id"], status="DONE")["completed_at"] == \
        by_status["completed_at"]
    assert patch(user, by_status["id"], completed=True, title="다시")["completed_at"] == \
        by_status["completed_at"]


def test_completed_false_reopens_done_as_todo_and_keeps_other_statuses(user: ApiUser) -> None:
    done = created(user, status="DONE")
    reopened = patch(user, done["id"], completed=False)
    assert (reopened["status"], reopened["completed"], reopened["completed_at"]) == (
        "TODO", False, None)
    working = created(user, status="IN_PROGRESS")
    assert patch(user, working["id"], completed=False)["status"] == "IN_PROGRESS"


def test_another_status_uncompletes(user: ApiUser) -> None:
    done = created(user, status="DONE")
    review = patch(user, done["id"], status="REVIEW", completed=False)
    assert (review["status"], review["completed"], review["completed_at"]) == (
        "REVIEW", False, None)
    # Personal tasks have no transition table.
    assert patch(user, review["id"], status="CANCELLED")["status"] == "CANCELLED"
    assert patch(user, review["id"], status="DONE")["completed"] is True


@pytest.mark.parametrize(("status", "completed"), [("DONE", False), ("TODO", True),
                                                   ("CANCELLED", True)])
def test_contradictory_values_are_refused(user: ApiUser, status: str, completed: bool) -> None:
    task = created(user)
    response = user.http.patch(f"/api/tasks/{task['id']}",
                               json={"status": status, "completed": completed})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"completed"}


def test_patch_fields_and_validation(world: World, user: ApiUser) -> None:
    world.add(user)
    task = created(user, study_id=world.study_id, description="설명", due_date="2099-01-01")
    tid = task["id"]
    for bad in ({}, {"title": None}, {"title": ""}, {"status": None}, {"completed": None},
                {"completed": "true"}, {"priority": "urgent"}, {"user_id": user.id}):
        assert patch_error(user, tid, **bad) == "VALIDATION_ERROR", bad
    changed = patch(user, tid, title="바뀐 제목", priority="LOW", due_date="2099-02-02")
    assert (changed["title"], changed["priority"], changed["due_date"]) == (
        "바뀐 제목", "LOW", "2099-02-02")
    assert changed["description"] == "설명" and changed["study"]["id"] == world.study_id
    cleared = patch(user, tid, study_id=None, description=None, due_date=None)
    assert cleared["study"] is None and cleared["description"] is None
    assert cleared["due_date"] is None
    other = make_world(world.server, world.api)
    assert patch_error(user, tid, study_id=other.study_id) == "NOT_MEMBER"
    assert patch(user, tid, study_id=world.study_id)["study"]["id"] == world.study_id


# --- PUT, DELETE, toggle ----------------------------------------------------------------------


def test_put_replaces_fields_and_keeps_status(world: World, user: ApiUser) -> None:
    world.add(user)
    task = created(user, study_id=world.study_id, description="설명", priority="HIGH",
                   due_date="2099-01-01", status="DONE")
    replaced = data(user.http.put(f"/api/tasks/{task['id']}", json={"title": "새 것"}))
    assert (replaced["title"], replaced["description"], replaced["study"],
            replaced["priority"], replaced["due_date"]) == ("새 것", None, None, "MEDIUM", None)
    assert (replaced["status"], replaced["completed"], replaced["completed_at"]) == (
        "DONE", True, task["completed_at"])
    full = data(user.http.put(f"/api/tasks/{task['id']}", json={
        "title": "전체", "description": "내용", "study_id": world.study_id, "priority": "LOW",
        "due_date": "2099-05-05"}))
    assert (full["description"], full["study"]["id"], full["priority"], full["due_date"]) == (
        "내용", world.study_id, "LOW", "2099-05-05")
    for bad in ({}, {"title": "제목", "status": "TODO"}, {"title": "제목", "completed": False}):
        response = user.http.put(f"/api/tasks/{task['id']}", json=bad)
        assert error_code(response) == "VALIDATION_ERROR", bad
    response = user.http.put(f"/api/tasks/{task['id']}",
                             json={"title": "제목", "study_id": "elsewhere"})
    assert error_code(response) == "NOT_MEMBER"


def test_delete_removes_the_task(user: ApiUser) -> None:
    task = created(user)
    assert data(user.http.delete(f"/api/tasks/{task['id']}")) is None
    assert error_code(user.http.get(f"/api/tasks/{task['id']}")) == "NOT_FOUND"
    assert error_code(user.http.delete(f"/api/tasks/{task['id']}")) == "NOT_FOUND"


@pytest.mark.parametrize("status", ["TODO", "IN_PROGRESS", "REVIEW", "CANCELLED"])
def test_toggle_completes_and_uncompletes(user: ApiUser, status: str) -> None:
    task = created(user, status=status)
    done = toggle(user, task["id"])
    assert (done["status"], done["completed"]) == ("DONE", True)
    assert done["completed_at"] is not None
    undone = toggle(user, task["id"])
    assert (undone["status"], undone["completed"], undone["completed_at"]) == (
        "TODO", False, None)


# --- list -------------------------------------------------------------------------------------


def test_list_puts_incomplete_first_then_sorts(user: ApiUser) -> None:
    late = created(user, title="늦음", due_date="2099-12-01", priority="LOW")["id"]
    early = created(user, title="이름", due_date="2099-01-01", priority="HIGH")["id"]
    undated = created(user, title="없음", priority="URGENT")["id"]
    medium = created(user, title="중간", due_date="2099-06-01")["id"]
    done = created(user, title="완료", due_date="2000-01-01", status="DONE",
                   priority="URGENT")["id"]
    done_late = created(user, title="완료2", due_date="2099-12-31", status="DONE")["id"]
    assert listed(user) == [early, medium, late, undated, done, done_late]
    assert listed(user, sort_by="deadline") == listed(user)
    assert listed(user, sort_by="priority") == [undated, early, medium, late, done, done_late]
    assert listed(user, sort_by="created_at") == [medium, undated, early, late, done_late,
                                                  done]


def test_list_filters(world: World, user: ApiUser, api: Api) -> None:
    world.add(user)
    linked = created(user, study_id=world.study_id)["id"]
    todo = created(user)["id"]
    working = created(user, status="IN_PROGRESS")["id"]
    cancelled = created(user, status="CANCELLED")["id"]
    done = created(user, status="DONE")["id"]
    created(api.signup(), title="남의 할 일")

    def same(found: list[str], expected: list[str]) -> None:
        assert sorted(found) == sorted(expected)

    same(listed(user), [linked, todo, working, cancelled, done])
    same(listed(user, status="all"), [linked, todo, working, cancelled, done])
    same(listed(user, status="IN_PROGRESS"), [working])
    same(listed(user, status="incomplete"), [linked, todo, working, cancelled])
    same(listed(user, status="completed"), [done])
    same(listed(user, status="DONE"), [done])
    same(listed(user, completed="true"), [done])
    same(listed(user, completed="false"), [linked, todo, working, cancelled])
    same(listed(user, status="completed", completed="false"), [])
    same(listed(user, study_id=world.study_id), [linked])
    same(listed(user, study_id="unknown"), [])
    for query in ({"status": "todo"}, {"status": "open"}, {"completed": "1"},
                  {"sort_by": "title"}, {"limit": 101}):
        response = user.http.get("/api/tasks", params=query)
        assert error_code(response) == "VALIDATION_ERROR", query
    response = user.http.get("/api/tasks", params={"limit": 2})
    assert len(data(response)) == 2
    assert response.json()["pagination"]["total"] == 5
    assert response.json()["pagination"]["has_next"] is True


# --- statistics -------------------------------------------------------------------------------


def test_stats_count_in_the_seoul_day_week_and_month(user: ApiUser,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # 15:30 UTC on Sunday 1 March 2099 is 00:30 on Monday 2 March in Seoul: 1 March is
    # already overdue, and belongs to the previous week.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 15, 30))
    created(user, due_date="2099-03-01", priority="URGENT")
    created(user, due_date="2099-03-02", priority="HIGH")
    created(user, due_date="2099-03-08", priority="HIGH", status="IN_PROGRESS")
    created(user, due_date="2099-03-09", priority="LOW")
    created(user, due_date="2099-04-01")
    created(user)
    created(user, due_date="2099-03-02", priority="URGENT", status="DONE")
    created(user, due_date="2099-03-02", priority="LOW", status="CANCELLED")
    stats = data(user.http.get("/api/tasks/stats"))
    assert stats["summary"] == {"total": 8, "completed": 1, "pending": 6,
                                "completion_rate": 13}
    assert stats["timeline"] == {"today": 1, "this_week": 2, "this_month": 4, "overdue": 1}
    assert stats["by_priority"] == {"LOW": 1, "MEDIUM": 2, "HIGH": 2, "URGENT": 1}
    assert stats["by_status"] == {"TODO": 5, "IN_PROGRESS": 1, "REVIEW": 0, "DONE": 1,
                                  "CANCELLED": 1}


def test_stats_for_a_user_without_tasks(user: ApiUser) -> None:
    assert data(user.http.get("/api/tasks/stats")) == {
        "summary": {"total": 0, "completed": 0, "pending": 0, "completion_rate": 0},
        "timeline": {"today": 0, "this_week": 0, "this_month": 0, "overdue": 0},
        "by_priority": {"LOW": 0, "MEDIUM": 0, "HIGH": 0, "URGENT": 0},
        "by_status": {"TODO": 0, "IN_PROGRESS": 0, "REVIEW": 0, "DONE": 0, "CANCELLED": 0},
        "recent_completed": [],
    }


def test_stats_list_the_last_five_completed(user: ApiUser, api: Api) -> None:
    tasks = [created(user, title=f"할 일 {i}", priority="HIGH") for i in range(6)]
    for task in tasks:
        toggle(user, task["id"])
    toggle(user, tasks[5]["id"])  # un-completed again
    created(api.signup(), status="DONE")
    stats = data(user.http.get("/api/tasks/stats"))
    recent = stats["recent_completed"]
    assert [r["id"] for r in recent] == [t["id"] for t in reversed(tasks[:5])]
    assert set(recent[0]) == {"id", "title", "completed_at", "priority"}
    assert recent[0]["priority"] == "HIGH"
    assert stats["summary"]["completion_rate"] == 83  # 5 of 6


def test_week_and_month_helpers_start_on_monday() -> None:
    sunday = datetime(2099, 3, 1).date()
    assert localtime.week_start(sunday) == sunday - timedelta(days=6)
    assert localtime.week_start(sunday + timedelta(days=1)) == sunday + timedelta(days=1)
    assert localtime.month_range(sunday) == (sunday, datetime(2099, 3, 31).date())
    assert localtime.parse_month("2100-02") == (datetime(2100, 2, 1).date(),
                                                datetime(2100, 2, 28).date())
