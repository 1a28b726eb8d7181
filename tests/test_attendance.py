"""Attendance (COUP.md §7.13) through the real server, on SQLite and PostgreSQL: check-ins per
study and local day, streaks across days, the day list, per-member statistics and their
per-role visibility (§3.4), CLOSED studies (§10.2) and the platform time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from coup import localtime
from coup.store.db import db_task, db_transaction
from coup.store.events import events_after
from coup.store.fields import new_id, utcnow
from coup.store.models import Attendance
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world

RESULT_KEYS = {"study_id", "study_name", "study_emoji", "checked_in_at", "streak",
               "already_checked_in"}
STATS_KEYS = {"user", "days_attended", "eligible_days", "attendance_rate", "current_streak",
              "longest_streak"}
DAY_MINUTES = 24 * 60


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@db_transaction
def _attend(study_id: str, user_id: str, day: date, streak: int) -> None:
    """An earlier check-in, written directly (the API only checks in for today)."""
    Attendance.create(id=new_id(), study=study_id, user=user_id, date=day, streak=streak,
                      checked_in_at=utcnow() - timedelta(days=1))


@db_task
def _rows(study_id: str, user_id: str) -> list[dict[str, Any]]:
    return list(Attendance.select().where((Attendance.study == study_id)
                                          & (Attendance.user == user_id))
                .order_by(Attendance.date).dicts())


def today(server: LiveServer) -> date:
    return localtime.today(server.settings.tz)


def attend_days(world: World, user: ApiUser, days_ago: list[int]) -> None:
    """Check-ins `days_ago` days before today, with the streaks the server would have given."""
    base = today(world.server)
    streak, previous = 0, None
    for ago in sorted(days_ago, reverse=True):
        streak = streak + 1 if previous is not None and previous - ago == 1 else 1
        world.server.call(_attend(world.study_id, user.id, base - timedelta(days=ago), streak))
        previous = ago


def check_in(user: ApiUser, study_id: str | None = None) -> httpx.Response:
    body = {"study_id": study_id} if study_id is not None else None
    return user.http.post("/api/attendance/check-in", json=body)


def checked_in(user: ApiUser, study_id: str | None = None) -> dict[str, Any]:
    return data(check_in(user, study_id))


def day_view(world: World, user: ApiUser, **query: str) -> httpx.Response:
    return user.http.get(world.path("/attendance"), params=query)


def stats(world: World, user: ApiUser, **query: str) -> httpx.Response:
    return user.http.get(world.path("/attendance/stats"), params=query)


# --- check-in ---------------------------------------------------------------------------------


def test_check_in_to_one_study_is_idempotent(world: World) -> None:
    member = world.member(name="출석자")
    first = checked_in(member, world.study_id)
    assert set(first) == {"date", "results", "attended_studies", "total_studies",
                          "already_attended"}
    assert first["date"] == today(world.server).isoformat()
    [result] = first["results"]
    assert set(result) == RESULT_KEYS
    assert (result["study_id"], result["study_name"], result["study_emoji"]) == (
        world.study_id, "알고리즘 스터디", "📚")
    assert (result["streak"], result["already_checked_in"]) == (1, False)
    assert (first["attended_studies"], first["total_studies"], first["already_attended"]) == (
        1, 1, 0)
    again = checked_in(member, world.study_id)
    assert again["results"] == [{**result, "already_checked_in": True}]
    assert (again["attended_studies"], again["total_studies"], again["already_attended"]) == (
        1, 1, 1)
    assert len(world.server.call(_rows(world.study_id, member.id))) == 1


def test_check_in_without_study_covers_every_open_study(world: World, api: Api) -> None:
    user = world.member(name="여러스터디")
    second = make_world(world.server, api)
    second.add(user)
    closed = make_world(world.server, api)
    closed.add(user)
    closed.set_study(status="CLOSED")
    make_world(world.server, api).add(user, status="LEFT")
    make_world(world.server, api).add(user, status="PENDING")
    deleted = make_world(world.server, api)
    deleted.add(user)
    deleted.set_study(status="DELETED")
    hidden = make_world(world.server, api, is_hidden=True)
    hidden.add(user)
    checked_in(user, second.study_id)
    outcome = checked_in(user)
    by_study = {r["study_id"]: r for r in outcome["results"]}
    assert set(by_study) == {world.study_id, second.study_id, hidden.study_id}
    assert by_study[second.study_id]["already_checked_in"] is True
    assert by_study[world.study_id]["already_checked_in"] is False
    assert (outcome["attended_studies"], outcome["total_studies"],
            outcome["already_attended"]) == (3, 3, 1)
    assert world.server.call(_rows(closed.study_id, user.id)) == []


def test_one_study_check_in_reports_the_other_studies_too(world: World, api: Api) -> None:
    user = world.member()
    make_world(world.server, api).add(user)
    outcome = checked_in(user, world.study_id)
    assert (outcome["attended_studies"], outcome["total_studies"],
            outcome["already_attended"]) == (1, 2, 0)


def test_check_in_with_no_studies(api: Api) -> None:
    user = api.signup(name="혼자")
    assert checked_in(user) == {"date": localtime.today(api.server.settings.tz).isoformat(),
                                "results": [], "attended_studies": 0, "total_studies": 0,
                                "already_attended": 0}


def test_check_in_errors(world: World, api: Api) -> None:
    outsider = api.signup(name="외부인")
    assert error_code(check_in(outsider, world.study_id)) == "NOT_MEMBER"
    assert error_code(check_in(world.add(world.user(), status="PENDING"),
                               world.study_id)) == "NOT_MEMBER"
    assert error_code(check_in(world.add(world.user(), status="KICKED"),
                               world.study_id)) == "NOT_MEMBER"
    private = make_world(world.server, api, is_public=False)
    assert error_code(check_in(outsider, private.study_id)) == "NOT_FOUND"
    assert error_code(check_in(outsider, "no-such-study")) == "NOT_FOUND"
    world.set_study(status="CLOSED")
    assert error_code(check_in(world.owner, world.study_id)) == "STUDY_CLOSED"
    for bad in ({"study_id": 5}, {"study": world.study_id}, [world.study_id]):
        response = world.owner.http.post("/api/attendance/check-in", json=bad)
        assert error_code(response) == "VALIDATION_ERROR", bad
    response = api.anonymous().post("/api/attendance/check-in")
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


def test_check_in_produces_no_events_or_notifications(world: World) -> None:
    world.member()
    checked_in(world.owner, world.study_id)
    assert world.server.call(events_after(world.study_id, 0, 100)) == []
    assert world.notifications() == []


# --- streaks ----------------------------------------------------------------------------------


def test_streak_continues_from_yesterday(world: World) -> None:
    member = world.member()
    attend_days(world, member, [3, 2, 1])
    [result] = checked_in(member, world.study_id)["results"]
    assert result["streak"] == 4


def test_streak_restarts_after_a_missed_day(world: World) -> None:
    member = world.member()
    attend_days(world, member, [5, 4, 3, 2])
    [result] = checked_in(member, world.study_id)["results"]
    assert result["streak"] == 1


def test_streaks_are_per_study(world: World, api: Api) -> None:
    member = world.member()
    other = make_world(world.server, api)
    other.add(member)
    attend_days(other, member, [1])
    results = {r["study_id"]: r["streak"] for r in checked_in(member)["results"]}
    assert results == {world.study_id: 1, other.study_id: 2}


def test_check_in_date_is_the_seoul_date_after_utc_midnight(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = world.member()
    world.server.call(_attend(world.study_id, member.id, date(2099, 3, 1), 2))
    # 15:30 UTC on 1 March is 00:30 on 2 March in Seoul: a new day, continuing the streak.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 15, 30))
    outcome = checked_in(member, world.study_id)
    assert outcome["date"] == "2099-03-02"
    assert outcome["results"][0]["streak"] == 3


def test_check_in_before_seoul_midnight_is_the_same_day(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    member = world.member()
    world.server.call(_attend(world.study_id, member.id, date(2099, 3, 1), 2))
    # 14:59 UTC is 23:59 in Seoul, still 1 March: already checked in.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 14, 59))
    outcome = checked_in(member, world.study_id)
    assert outcome["date"] == "2099-03-01"
    assert outcome["results"][0]["already_checked_in"] is True
    assert outcome["results"][0]["streak"] == 2


# --- the day list -----------------------------------------------------------------------------


def test_day_list_shows_who_checked_in_and_my_record(world: World) -> None:
    first = world.member(name="첫째")
    second = world.member(name="둘째")
    attend_days(world, second, [6, 5, 4, 1])
    checked_in(first, world.study_id)
    checked_in(second, world.study_id)
    view = data(day_view(world, second))
    assert view["date"] == today(world.server).isoformat()
    assert [(c["user"]["id"], c["streak"]) for c in view["checked_in"]] == [
        (first.id, 1), (second.id, 2)]
    assert set(view["checked_in"][0]) == {"user", "checked_in_at", "streak"}
    assert view["checked_in"][0]["user"] == {"id": first.id, "name": "첫째", "avatar": None}
    assert (view["checked_in_count"], view["member_count"]) == (2, 3)
    assert view["me"] == {"checked_in_today": True, "current_streak": 2, "longest_streak": 3,
                          "total_days": 5}
    earlier = (today(world.server) - timedelta(days=5)).isoformat()
    past = data(day_view(world, first, date=earlier))
    assert past["date"] == earlier
    assert [(c["user"]["id"], c["streak"]) for c in past["checked_in"]] == [(second.id, 2)]
    assert past["me"] == {"checked_in_today": True, "current_streak": 1, "longest_streak": 1,
                          "total_days": 1}


def test_current_streak_is_yesterdays_until_checking_in_today(world: World) -> None:
    member = world.member()
    attend_days(world, member, [3, 2, 1])
    assert data(day_view(world, member))["me"] == {
        "checked_in_today": False, "current_streak": 3, "longest_streak": 3, "total_days": 3}
    stale = world.member()
    attend_days(world, stale, [4, 3, 2])
    assert data(day_view(world, stale))["me"]["current_streak"] == 0
    assert data(day_view(world, stale))["me"]["longest_streak"] == 3


def test_day_list_errors(world: World, api: Api) -> None:
    tomorrow = (today(world.server) + timedelta(days=1)).isoformat()
    response = day_view(world, world.owner, date=tomorrow)
    assert response.json()["error"]["fields"] == {"date": "must not be in the future"}
    for bad in ("2024-1-1", "yesterday", "2024-02-30"):
        assert error_code(day_view(world, world.owner, date=bad)) == "VALIDATION_ERROR"
    assert error_code(day_view(world, api.signup())) == "NOT_MEMBER"
    private = make_world(world.server, api, is_public=False)
    assert error_code(day_view(private, api.signup())) == "NOT_FOUND"
    assert error_code(api.anonymous().get(world.path("/attendance"))) == "UNAUTHORIZED"
    # A CLOSED study is read-only, and its attendance stays readable.
    world.set_study(status="CLOSED")
    assert data(day_view(world, world.owner))["checked_in_count"] == 0


# --- statistics -------------------------------------------------------------------------------


def _stats_world(world: World) -> tuple[ApiUser, ApiUser]:
    """A MEMBER who joined 20 days ago and an ADMIN who joined 3 days ago, with check-ins."""
    member = world.add(world.user("오래된멤버"), joined_minutes_ago=20 * DAY_MINUTES)
    admin = world.add(world.user("새관리자"), role="ADMIN", joined_minutes_ago=3 * DAY_MINUTES)
    attend_days(world, member, [15, 2, 1, 0])
    # The ADMIN's check-in from before they (re)joined does not count.
    attend_days(world, admin, [5, 3])
    world.add(world.user("대기자"), status="PENDING")
    world.add(world.user("탈퇴자"), status="LEFT", joined_minutes_ago=20 * DAY_MINUTES)
    return member, admin


def test_st_admins_see_every_active_member_highest_rate_first(world: World) -> None:
    member, admin = _stats_world(world)
    start = (today(world.server) - timedelta(days=9)).isoformat()
    for viewer in (admin, world.owner):
        rows = data(stats(world, viewer, start_date=start,
                          end_date=today(world.server).isoformat()))
        assert [set(r) for r in rows] == [STATS_KEYS] * 3
        assert [(r["user"]["id"], r["days_attended"], r["eligible_days"],
                 r["attendance_rate"], r["current_streak"], r["longest_streak"])
                for r in rows] == [
            (member.id, 3, 10, 30, 3, 3),
            (admin.id, 1, 4, 25, 0, 1),
            (world.owner.id, 0, 1, 0, 0, 0),
        ]


def test_members_see_only_their_own_row(world: World) -> None:
    member, _ = _stats_world(world)
    rows = data(stats(world, member))
    # The default window is the last 30 days: the member joined 20 days ago (21 days).
    assert rows == [{"user": {"id": member.id, "name": "오래된멤버", "avatar": None},
                     "days_attended": 4, "eligible_days": 21, "attendance_rate": 19,
                     "current_streak": 3, "longest_streak": 3}]


def test_stats_default_window_is_thirty_days(world: World) -> None:
    old = world.add(world.user("고참"), joined_minutes_ago=100 * DAY_MINUTES)
    attend_days(world, old, [40, 29, 0])
    [row] = data(stats(world, old))
    assert (row["days_attended"], row["eligible_days"], row["attendance_rate"]) == (2, 30, 7)
    [row] = data(stats(world, old, end_date=(today(world.server)
                                             - timedelta(days=1)).isoformat()))
    assert (row["days_attended"], row["eligible_days"]) == (1, 30)


def test_eligible_days_stop_at_today(world: World) -> None:
    member = world.add(world.user(), joined_minutes_ago=40 * DAY_MINUTES)
    attend_days(world, member, [0])
    base = today(world.server)
    [row] = data(stats(world, member, start_date=(base - timedelta(days=1)).isoformat(),
                       end_date=(base + timedelta(days=10)).isoformat()))
    assert (row["days_attended"], row["eligible_days"], row["attendance_rate"]) == (1, 2, 50)


@pytest.mark.parametrize(("query", "field"), [
    ({"start_date": "2099-01-02", "end_date": "2099-01-01"}, "start_date"),
    ({"start_date": "2098-01-01", "end_date": "2099-01-03"}, "end_date"),
    ({"start_date": "01-01-2099"}, "start_date"),
    ({"end_date": "2099-02-29"}, "end_date"),
])
def test_stats_range_errors(world: World, query: dict[str, str], field: str) -> None:
    response = stats(world, world.owner, **query)
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {field}


def test_stats_access(world: World, api: Api) -> None:
    assert error_code(stats(world, api.signup())) == "NOT_MEMBER"
    assert error_code(stats(world, world.add(world.user(), status="LEFT"))) == "NOT_MEMBER"
    assert error_code(api.anonymous().get(world.path("/attendance/stats"))) == "UNAUTHORIZED"
    assert error_code(world.owner.http.get("/api/studies/nope/attendance/stats")) == \
        "NOT_FOUND"


def test_rates_round_half_up() -> None:
    from coup.store.attendance import rate

    assert (rate(1, 8), rate(5, 8), rate(2, 3), rate(0, 0), rate(3, 3)) == (13, 63, 67, 0, 100)
