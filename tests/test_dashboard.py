"""The dashboard (COUP.md §7.15) through the real server, on SQLite and PostgreSQL: the home
page and its independent sections, a query count that does not grow with the caller's
studies and notifications, summary, recent activities, upcoming schedules, every statistics
type and period, and the widget layout.

"Now" is pinned to Wednesday 2030-05-15 12:00 in Asia/Seoul (03:00 UTC) by patching
`coup.localtime.utcnow`, so dates and weeks are the same on every run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import pytest

from coup import localtime
from coup.store import dashboard as dashboard_store
from coup.store import dashboard_statistics
from coup.store.dashboard import Clock, build_dashboard
from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id
from coup.store.models import (
    Attendance,
    Event,
    Message,
    Notification,
    Study,
    StudyMember,
    Task,
    User,
)
from tests.conftest import Api, LiveServer, count_queries, error_code
from tests.conftest import User as ApiUser

NOW = datetime(2030, 5, 15, 3, 0)  # 12:00 in Seoul, a Wednesday
TODAY = date(2030, 5, 15)
MONDAY = date(2030, 5, 13)


@pytest.fixture(autouse=True)
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(localtime, "utcnow", lambda: NOW)
    yield


# --- database helpers -------------------------------------------------------------------------


@db_transaction
def make_study(owner_id: str, *, name: str = "스터디", status: str = "ACTIVE",
               category: str = "개발", joined_at: datetime = NOW - timedelta(days=40)) -> str:
    study = Study.create(owner=owner_id, name=name, description="함께 공부하는 스터디입니다.",
                         category=category, status=status, emoji="🔥",
                         created_at=joined_at, updated_at=joined_at)
    StudyMember.create(study=study.id, user=owner_id, role="OWNER", status="ACTIVE",
                       joined_at=joined_at, created_at=joined_at, updated_at=joined_at)
    return study.id


@db_transaction
def add_member(study_id: str, user_id: str, *, status: str = "ACTIVE", role: str = "MEMBER",
               joined_at: datetime = NOW - timedelta(days=10)) -> None:
    StudyMember.create(study=study_id, user=user_id, role=role, status=status,
                       joined_at=joined_at if status != "PENDING" else None,
                       created_at=joined_at, updated_at=joined_at)


@db_transaction
def add_event(study_id: str, creator_id: str, day: date, start: str, end: str,
              title: str = "모임") -> str:
    return Event.create(study=study_id, created_by=creator_id, title=title, date=day,
                        start_time=start, end_time=end, created_at=NOW, updated_at=NOW).id


@db_transaction
def add_task(user_id: str, *, status: str = "TODO", priority: str = "MEDIUM",
             due: date | None = None, completed_at: datetime | None = None) -> None:
    Task.create(user=user_id, title="할 일", status=status, priority=priority, due_date=due,
                completed=status == "DONE", completed_at=completed_at,
                created_at=NOW - timedelta(days=60), updated_at=NOW)


@db_transaction
def add_notifications(user_id: str, count: int, *, newest: datetime = NOW,
                      kind: str = "NOTICE", is_read: bool = False,
                      study_id: str | None = None, step: timedelta = timedelta(minutes=1)
                      ) -> list[str]:
    rows = [{"id": new_id(), "user": user_id, "type": kind, "message": f"알림 {i}",
             "study_id": study_id, "study_name": "스터디" if study_id else None,
             "study_emoji": "🔥" if study_id else None, "is_read": is_read,
             "created_at": newest - i * step, "updated_at": newest - i * step}
            for i in range(count)]
    for start in range(0, len(rows), 500):
        Notification.insert_many(rows[start:start + 500]).execute()
    return [row["id"] for row in rows]


@db_transaction
def add_attendance(study_id: str, user_id: str, day: date) -> None:
    Attendance.create(study=study_id, user=user_id, date=day, checked_in_at=NOW, streak=1)


@db_transaction
def add_message(study_id: str, user_id: str, created_at: datetime) -> None:
    seq = Study.get_by_id(study_id).last_seq + 1
    Study.update(last_seq=seq).where(Study.id == study_id).execute()
    Message.create(study=study_id, user=user_id, client_id=new_id(), seq=seq, content="안녕",
                   created_at=created_at, updated_at=created_at)


@db_task
def stored_widgets(user_id: str) -> Any:
    return User.select(User.dashboard_widgets).where(User.id == user_id).get().dashboard_widgets


def get(user: ApiUser, path: str, **params: Any) -> Any:
    response = user.http.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()["data"]


# --- the home page ----------------------------------------------------------------------------


def test_dashboard_home_builds_every_section(api: Api, server: LiveServer) -> None:
    user, owner = api.signup(), api.signup()
    mine = server.call(make_study(user.id, name="내 스터디", joined_at=NOW - timedelta(days=5)))
    theirs = server.call(make_study(owner.id, name="남의 스터디", category="언어"))
    server.call(add_member(theirs, user.id, joined_at=NOW - timedelta(days=1)))
    closed = server.call(make_study(owner.id, name="닫힌 스터디", status="CLOSED"))
    server.call(add_member(closed, user.id))
    pending = server.call(make_study(owner.id, name="대기 스터디"))
    server.call(add_member(pending, user.id, status="PENDING"))
    server.call(add_task(user.id))
    server.call(add_task(user.id, status="IN_PROGRESS"))
    server.call(add_task(user.id, status="CANCELLED"))
    server.call(add_task(user.id, status="DONE", completed_at=NOW - timedelta(days=2)))
    server.call(add_task(user.id, status="DONE", completed_at=NOW - timedelta(days=20)))
    server.call(add_notifications(user.id, 7, study_id=mine))
    server.call(add_notifications(user.id, 2, is_read=True, newest=NOW - timedelta(days=1)))
    server.call(add_event(mine, user.id, TODAY, "11:59", "13:00", "이미 시작"))
    soon = server.call(add_event(mine, user.id, TODAY, "12:00", "13:00", "오늘"))
    server.call(add_event(theirs, owner.id, TODAY + timedelta(days=3), "23:00", "23:30", "사흘"))
    server.call(add_event(theirs, owner.id, TODAY + timedelta(days=1), "09:00", "10:00", "내일"))
    server.call(add_event(theirs, owner.id, TODAY + timedelta(days=2), "09:00", "10:00", "모레"))
    server.call(add_event(closed, owner.id, TODAY + timedelta(days=1), "08:00", "09:00", "닫힘"))
    server.call(add_attendance(mine, user.id, TODAY))
    server.call(add_attendance(theirs, user.id, TODAY - timedelta(days=1)))

    data = get(user, "/api/dashboard")
    assert list(data) == ["stats", "my_studies", "recent_activities", "upcoming_events",
                          "attendance", "failed_sections"]
    assert data["failed_sections"] == []
    assert data["stats"] == {"active_studies": 2, "pending_tasks": 2,
                             "unread_notifications": 7, "completed_this_month": 1}
    assert [(s["name"], s["role"], s["member_count"], s["emoji"]) for s in data["my_studies"]] \
        == [("남의 스터디", "MEMBER", 2, "🔥"), ("내 스터디", "OWNER", 1, "🔥")]
    assert data["my_studies"][0]["category"] == "언어"
    assert data["my_studies"][1]["joined_at"] == "2030-05-10T03:00:00.000Z"
    assert len(data["recent_activities"]) == 5
    assert data["recent_activities"][0]["message"] == "알림 0"
    assert data["recent_activities"][0]["study_id"] == mine
    upcoming = data["upcoming_events"]
    assert [e["title"] for e in upcoming] == ["오늘", "내일", "모레"]
    assert upcoming[0] == {"id": soon, "title": "오늘", "date": "2030-05-15",
                           "start_time": "12:00", "end_time": "13:00",
                           "starts_at": "2030-05-15T03:00:00.000Z", "study_id": mine,
                           "study_name": "내 스터디", "study_emoji": "🔥"}
    assert data["attendance"] == {"checked_in_today": 1, "total_studies": 2}
    assert error_code(api.anonymous().get("/api/dashboard")) == "UNAUTHORIZED"


def test_upcoming_events_reach_the_end_of_the_third_day(api: Api, server: LiveServer) -> None:
    user = api.signup()
    study = server.call(make_study(user.id))
    server.call(add_event(study, user.id, TODAY + timedelta(days=4), "00:00", "01:00", "나흘"))
    server.call(add_event(study, user.id, TODAY + timedelta(days=3), "23:59", "23:59", "끝"))
    assert [e["title"] for e in get(user, "/api/dashboard")["upcoming_events"]] == ["끝"]


@pytest.mark.expects_5xx
def test_a_failing_section_is_null_and_named_while_the_others_answer(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    user = api.signup()

    def broken(user_id: str, clock: Clock) -> Any:
        raise RuntimeError("section down")

    monkeypatch.setitem(dashboard_store.SECTIONS, "upcoming_events", broken)
    data = get(user, "/api/dashboard")
    assert data["upcoming_events"] is None
    assert data["failed_sections"] == ["upcoming_events"]
    assert data["stats"]["active_studies"] == 0
    for name in list(dashboard_store.SECTIONS):
        monkeypatch.setitem(dashboard_store.SECTIONS, name, broken)
    response = user.http.get("/api/dashboard")
    assert response.status_code == 500 and error_code(response) == "INTERNAL"


# --- bounded queries --------------------------------------------------------------------------


def _build(user_id: str, work: str, tz: tzinfo) -> None:
    """Build the dashboard (or one statistics type), as the store does for a request."""
    clock = Clock(NOW, tz)
    if work == "dashboard":
        result = build_dashboard(user_id, clock)
        assert result["failed_sections"] == []
    else:
        period = dashboard_statistics.resolve_period("THIS_YEAR", clock.today, None, None,
                                                     "MONTH")
        dashboard_statistics.BUILDERS[work](user_id, clock, period)

def _busy_user(api: Api, server: LiveServer, studies: int, notifications: int) -> ApiUser:
    user, owner = api.signup(), api.signup()
    for index in range(studies):
        study = (server.call(make_study(user.id, name=f"내 {index}")) if index % 2
                 else server.call(make_study(owner.id, name=f"남 {index}")))
        if index % 2 == 0:
            server.call(add_member(study, user.id, joined_at=NOW - timedelta(hours=index)))
        server.call(add_event(study, owner.id if index % 2 == 0 else user.id,
                              TODAY + timedelta(days=index % 4), "18:00", "19:00"))
        server.call(add_attendance(study, user.id, TODAY - timedelta(days=index % 3)))
        server.call(add_message(study, user.id, NOW - timedelta(days=index % 20)))
        server.call(add_task(user.id, status="DONE", completed_at=NOW - timedelta(days=index)))
        server.call(add_task(user.id, due=TODAY + timedelta(days=index % 5 - 2)))
    server.call(add_notifications(user.id, notifications, step=timedelta(minutes=30)))
    return user


def test_dashboard_and_statistics_cost_the_same_queries_for_2_or_50_studies(
        api: Api, server: LiveServer) -> None:
    light = _busy_user(api, server, studies=2, notifications=3)
    heavy = _busy_user(api, server, studies=50, notifications=10_000)
    tz = server.settings.tz
    light_count = server.call(count_queries(_build, light.id, "dashboard", tz))
    heavy_count = server.call(count_queries(_build, heavy.id, "dashboard", tz), timeout=60)
    assert light_count == heavy_count == len(dashboard_store.SECTIONS)
    for kind in dashboard_statistics.STAT_TYPES:
        assert server.call(count_queries(_build, light.id, kind, tz)) == \
            server.call(count_queries(_build, heavy.id, kind, tz), timeout=60), kind
    data = get(heavy, "/api/dashboard")
    assert data["stats"]["active_studies"] == 50
    assert data["stats"]["unread_notifications"] == 10_000
    assert len(data["my_studies"]) == 6 and len(data["upcoming_events"]) == 3


# --- summary, recent activities, upcoming schedules -------------------------------------------


def test_summary_counts_studies_tasks_and_unread(api: Api, server: LiveServer) -> None:
    user, owner = api.signup(), api.signup()
    server.call(make_study(user.id))
    applied = server.call(make_study(owner.id))
    server.call(add_member(applied, user.id, status="PENDING"))
    gone = server.call(make_study(owner.id))
    server.call(add_member(gone, user.id, status="LEFT"))
    for status in ("TODO", "DONE", "CANCELLED"):
        server.call(add_task(user.id, status=status, completed_at=NOW if status == "DONE"
                             else None))
    server.call(add_notifications(user.id, 3))
    server.call(add_notifications(user.id, 2, is_read=True))
    assert get(user, "/api/dashboard/summary") == {
        "studies": {"active": 1, "total": 2},
        "tasks": {"pending": 1, "completed": 1, "total": 3, "completion_rate": 33},
        "notifications": {"unread": 3},
    }
    empty = api.signup()
    assert get(empty, "/api/dashboard/summary")["tasks"]["completion_rate"] == 0


def test_recent_activities_page_and_filter_by_type(api: Api, server: LiveServer) -> None:
    user, other = api.signup(), api.signup()
    study = server.call(make_study(user.id))
    server.call(add_notifications(user.id, 22, kind="NOTICE", study_id=study))
    server.call(add_notifications(user.id, 2, kind="FILE", newest=NOW + timedelta(hours=1)))
    server.call(add_notifications(user.id, 1, kind="KICK", newest=NOW - timedelta(days=9)))
    server.call(add_notifications(other.id, 4, kind="FILE"))
    response = user.http.get("/api/dashboard/recent-activities")
    body = response.json()
    assert body["pagination"] == {"page": 1, "limit": 20, "total": 25, "total_pages": 2,
                                  "has_next": True, "has_prev": False}
    first = body["data"][0]
    assert set(first) == {"id", "type", "message", "study", "is_read", "created_at"}
    assert (first["type"], first["study"]) == ("FILE", None)
    assert body["data"][2]["study"] == {"id": study, "name": "스터디", "emoji": "🔥"}
    files = user.http.get("/api/dashboard/recent-activities", params={"types": "file, kick"})
    assert [n["type"] for n in files.json()["data"]] == ["FILE", "FILE", "KICK"]
    bad = user.http.get("/api/dashboard/recent-activities", params={"types": "FILE,NOPE",
                                                                    "limit": 101})
    assert set(bad.json()["error"]["fields"]) == {"types", "limit"}


def test_upcoming_schedules_cover_the_window_with_full_events(api: Api,
                                                              server: LiveServer) -> None:
    user, outsider = api.signup(name="일정러"), api.signup()
    study = server.call(make_study(user.id, name="일정 스터디"))
    other = server.call(make_study(outsider.id))
    for offset in range(0, 10):
        server.call(add_event(study, user.id, TODAY + timedelta(days=offset), "18:00", "19:00",
                              f"D+{offset}"))
    server.call(add_event(other, outsider.id, TODAY, "18:00", "19:00", "남의 일정"))
    data = get(user, "/api/dashboard/upcoming-schedules")
    assert [e["title"] for e in data["events"]] == [f"D+{i}" for i in range(8)]
    assert data["count"] == 8
    assert data["period"] == {"from": "2030-05-15T03:00:00.000Z",
                              "to": "2030-05-22T15:00:00.000Z"}
    event = data["events"][0]
    assert event["study"] == {"id": study, "name": "일정 스터디", "emoji": "🔥"}
    assert event["created_by"] == {"id": user.id, "name": "일정러", "avatar": None}
    assert (event["starts_at"], event["ends_at"], event["color"]) == \
        ("2030-05-15T09:00:00.000Z", "2030-05-15T10:00:00.000Z", "#6366F1")
    assert user.email not in user.http.get("/api/dashboard/upcoming-schedules").text
    short = get(user, "/api/dashboard/upcoming-schedules", days=1, limit=1)
    assert ([e["title"] for e in short["events"]], short["count"]) == (["D+0"], 1)
    bad = user.http.get("/api/dashboard/upcoming-schedules", params={"days": 31, "limit": 0})
    assert set(bad.json()["error"]["fields"]) == {"days", "limit"}


# --- statistics -------------------------------------------------------------------------------


def stats(user: ApiUser, **params: Any) -> Any:
    return get(user, "/api/dashboard/statistics", **params)


def test_overview_is_the_default_statistics(api: Api, server: LiveServer) -> None:
    user = api.signup()
    study = server.call(make_study(user.id, joined_at=datetime(2030, 5, 11, 0, 0)))
    server.call(add_task(user.id, status="DONE", completed_at=NOW))
    server.call(add_task(user.id))
    server.call(add_task(user.id))
    server.call(add_notifications(user.id, 2))
    server.call(add_event(study, user.id, TODAY + timedelta(days=7), "10:00", "11:00"))
    server.call(add_event(study, user.id, TODAY + timedelta(days=8), "10:00", "11:00"))
    for day in (11, 12, 13):
        server.call(add_attendance(study, user.id, date(2030, 5, day)))
    # Joined on May 11 (local): eligible May 11-15 = 5 days, attended 3 → 60 %.
    assert stats(user) == {"active_studies": 1, "task_completion_rate": 33,
                           "unread_notifications": 2, "events_next_7_days": 1,
                           "attendance_rate": 60}


def test_study_statistics_count_held_studies_and_joins_in_the_period(
        api: Api, server: LiveServer) -> None:
    user, owner = api.signup(), api.signup()
    server.call(make_study(user.id, category="개발", joined_at=datetime(2030, 5, 13, 1)))
    joined = server.call(make_study(owner.id, category="언어"))
    server.call(add_member(joined, user.id, joined_at=datetime(2030, 5, 14, 16)))  # 15th KST
    left = server.call(make_study(owner.id, category="언어"))
    server.call(add_member(left, user.id, status="LEFT", joined_at=datetime(2030, 4, 1)))
    data = stats(user, type="STUDY", period="THIS_WEEK")
    assert (data["total"], data["owned"], data["by_category"]) == \
        (2, 1, {"개발": 1, "언어": 1})
    assert [b["bucket"] for b in data["joined_series"]] == \
        [(MONDAY + timedelta(days=i)).isoformat() for i in range(7)]
    assert [b["count"] for b in data["joined_series"]] == [1, 0, 1, 0, 0, 0, 0]
    year = stats(user, type="STUDY", period="THIS_YEAR", aggregation="MONTH")
    assert [b["bucket"] for b in year["joined_series"]] == [f"2030-{m:02d}" for m in
                                                            range(1, 13)]
    assert [b["count"] for b in year["joined_series"]][3:5] == [1, 2]


def test_task_statistics_by_status_priority_and_due_dates(api: Api, server: LiveServer) -> None:
    user = api.signup()
    server.call(add_task(user.id, priority="HIGH", due=TODAY + timedelta(days=3)))
    server.call(add_task(user.id, status="IN_PROGRESS", priority="URGENT",
                         due=TODAY - timedelta(days=1)))
    server.call(add_task(user.id, due=TODAY + timedelta(days=4)))
    server.call(add_task(user.id, status="CANCELLED", priority="LOW",
                         due=TODAY - timedelta(days=9)))
    server.call(add_task(user.id, status="DONE", priority="LOW",
                         completed_at=datetime(2030, 5, 14, 15, 30)))  # 00:30 on the 15th
    data = stats(user, type="TASK", period="TODAY")
    assert data["by_status"] == {"TODO": 2, "IN_PROGRESS": 1, "REVIEW": 0, "DONE": 1,
                                 "CANCELLED": 1}
    assert data["by_priority"] == {"LOW": 0, "MEDIUM": 1, "HIGH": 1, "URGENT": 1}
    assert (data["due_soon"], data["overdue"]) == (1, 1)
    assert data["completed_series"] == [{"bucket": "2030-05-15", "count": 1}]


def test_notification_and_activity_statistics_for_a_custom_period(
        api: Api, server: LiveServer) -> None:
    user = api.signup()
    study = server.call(make_study(user.id))
    server.call(add_notifications(user.id, 3, kind="NOTICE", newest=datetime(2030, 5, 2, 3)))
    server.call(add_notifications(user.id, 1, kind="KICK", is_read=True,
                                  newest=datetime(2030, 5, 4, 3)))
    server.call(add_notifications(user.id, 1, newest=datetime(2030, 4, 30, 3)))  # outside
    server.call(add_message(study, user.id, datetime(2030, 5, 3, 3)))
    server.call(add_task(user.id, status="DONE", completed_at=datetime(2030, 5, 1, 3)))
    server.call(add_attendance(study, user.id, date(2030, 5, 3)))
    custom = {"period": "CUSTOM", "start_date": "2030-05-01", "end_date": "2030-05-04"}
    data = stats(user, type="NOTIFICATION", **custom)
    assert data["by_type"]["NOTICE"] == 3 and data["by_type"]["KICK"] == 1
    assert set(data["by_type"]) >= {"JOIN_REQUEST", "ADMIN", "CHAT"}
    assert (data["read"], data["unread"]) == (1, 3)
    assert [b["count"] for b in data["series"]] == [0, 3, 0, 1]
    activity = stats(user, type="ACTIVITY", aggregation="WEEK", **custom)
    assert {k: activity[k] for k in ("notifications", "messages_sent", "tasks_completed",
                                     "check_ins")} == \
        {"notifications": 4, "messages_sent": 1, "tasks_completed": 1, "check_ins": 1}
    assert activity["series"] == [{"bucket": "2030-04-29", "notifications": 4,
                                   "messages_sent": 1, "tasks_completed": 1, "check_ins": 1}]
    yearly = stats(user, type="ACTIVITY", period="THIS_YEAR", aggregation="YEAR")
    assert [b["bucket"] for b in yearly["series"]] == ["2030"]


def test_statistics_reject_bad_types_periods_and_ranges(api: Api) -> None:
    user = api.signup()
    path = "/api/dashboard/statistics"
    bad = user.http.get(path, params={"type": "MONEY", "period": "LAST_YEAR",
                                      "aggregation": "HOUR"})
    assert set(bad.json()["error"]["fields"]) == {"type", "period", "aggregation"}
    missing = user.http.get(path, params={"period": "CUSTOM"})
    assert set(missing.json()["error"]["fields"]) == {"start_date", "end_date"}
    stray = user.http.get(path, params={"period": "THIS_MONTH", "start_date": "2030-05-01"})
    assert set(stray.json()["error"]["fields"]) == {"start_date"}
    backwards = user.http.get(path, params={"period": "CUSTOM", "start_date": "2030-05-02",
                                            "end_date": "2030-05-01"})
    assert set(backwards.json()["error"]["fields"]) == {"end_date"}
    too_long = user.http.get(path, params={"period": "CUSTOM", "start_date": "2029-01-01",
                                           "end_date": "2030-01-02"})
    assert error_code(too_long) == "VALIDATION_ERROR"
    assert stats(user, period="CUSTOM", start_date="2029-01-01",
                 end_date="2030-01-01")["active_studies"] == 0
    assert error_code(user.http.get(path, params={"period": "CUSTOM", "start_date": "2030-13-01",
                                                  "end_date": "x"})) == "VALIDATION_ERROR"


# --- widgets ----------------------------------------------------------------------------------


def test_widgets_default_layout_save_and_reset(api: Api, server: LiveServer) -> None:
    user = api.signup()
    default = get(user, "/api/dashboard/widgets")
    assert default["is_default"] is True
    assert [(w["id"], w["type"], w["title"], w["position"], w["visible"], w["size"])
            for w in default["widgets"]] == [
        ("statistics", "STATISTICS", "통계", 0, True, "medium"),
        ("my-studies", "STUDY_LIST", "내 스터디", 1, True, "medium"),
        ("tasks", "TASK_LIST", "할 일", 2, True, "medium"),
        ("notifications", "NOTIFICATION_LIST", "알림", 3, True, "medium"),
        ("upcoming", "UPCOMING_SCHEDULES", "다가오는 일정", 4, True, "medium"),
        ("recent-activities", "RECENT_ACTIVITIES", "최근 활동", 5, True, "medium"),
    ]
    layout = [
        {"id": "progress", "type": "PROGRESS_CHART", "title": " 진행률 ", "position": 10,
         "visible": False, "size": "large"},
        {"id": "task-stats", "type": "TASK_STATISTICS", "title": "할 일 통계", "position": 0,
         "visible": True},
    ]
    saved = user.http.patch("/api/dashboard/widgets", json={"widgets": layout})
    assert saved.status_code == 200, saved.text
    expected = {"is_default": False, "widgets": [
        {"id": "task-stats", "type": "TASK_STATISTICS", "title": "할 일 통계", "position": 0,
         "visible": True, "size": "medium"},
        {"id": "progress", "type": "PROGRESS_CHART", "title": "진행률", "position": 10,
         "visible": False, "size": "large"}]}
    assert saved.json()["data"] == expected
    assert get(user, "/api/dashboard/widgets") == expected
    reset = user.http.patch("/api/dashboard/widgets", json={"reset": True})
    assert reset.json()["data"] == default
    assert server.call(stored_widgets(user.id)) is None


def test_widget_layouts_are_validated_field_by_field(api: Api) -> None:
    user = api.signup()

    def widget(**changes: Any) -> dict[str, Any]:
        return {"id": "a", "type": "STATISTICS", "title": "t", "position": 0, "visible": True,
                **changes}

    def fields(body: Any) -> set[str]:
        response = user.http.patch("/api/dashboard/widgets", json=body)
        assert error_code(response) == "VALIDATION_ERROR", response.text
        return set(response.json()["error"].get("fields", {}))

    assert fields({"widgets": [widget(), widget(position=1)]}) == {"widgets[1].id"}
    assert fields({"widgets": [widget(), widget(id="b")]}) == {"widgets[1].position"}
    assert fields({"widgets": [widget(id="Bad_Id", type="CHART", title="x" * 31, position=11,
                                      visible="yes", size="huge", extra=1)]}) == {
        "widgets[0].id", "widgets[0].type", "widgets[0].title", "widgets[0].position",
        "widgets[0].visible", "widgets[0].size", "widgets[0].extra"}
    assert fields({"widgets": [widget(id="x" * 41)]}) == {"widgets[0].id"}
    assert fields({"widgets": [widget(id=f"w{i}", position=i % 11) for i in range(12)]}) == \
        {"widgets"}
    assert fields({"widgets": []}) == {"widgets"}
    assert fields({"widgets": ["not a widget"]}) == {"widgets[0]"}
    assert fields({}) == {"widgets"}
    assert fields({"reset": False}) == {"reset"}
    assert fields({"reset": True, "widgets": [widget()]}) == {"reset"}
    assert fields({"reset": True, "layout": 1}) == {"layout"}
    eleven = [widget(id=f"w{i}", position=i) for i in range(11)]
    assert user.http.patch("/api/dashboard/widgets",
                           json={"widgets": eleven}).status_code == 200


def test_dashboard_endpoints_need_a_session(api: Api) -> None:
    anonymous = api.anonymous()
    for path in ("/api/dashboard", "/api/dashboard/summary", "/api/dashboard/recent-activities",
                 "/api/dashboard/upcoming-schedules", "/api/dashboard/statistics",
                 "/api/dashboard/widgets"):
        assert error_code(anonymous.get(path)) == "UNAUTHORIZED", path
    assert error_code(anonymous.patch("/api/dashboard/widgets", json={"reset": True})) == \
        "UNAUTHORIZED"
