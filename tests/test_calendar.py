"""Study calendar (COUP.md §7.10) through the real server, on SQLite and PostgreSQL: the role
matrix (§3.4), CLOSED studies (§10.2), events (§9.2), EVENT notifications (§8.1), overlap
warnings and the platform time zone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from coup import localtime
from coup.store.db import db_transaction
from coup.store.events import events_after
from coup.store.fields import new_id, utcnow
from coup.store.models import Event, StudyMember
from coup.store.notifications import render
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.membership_support import World, data, make_world

EVENT_KEYS = {"id", "study_id", "title", "description", "date", "start_time", "end_time",
              "starts_at", "ends_at", "location", "color", "created_by", "created_at",
              "updated_at"}


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


@db_transaction
def _set_role(study_id: str, user_id: str, role: str) -> None:
    StudyMember.update(role=role).where((StudyMember.study == study_id)
                                        & (StudyMember.user == user_id)).execute()


@db_transaction
def _insert_event(study_id: str, user_id: str, day: date, start: str = "09:00",
                  end: str = "10:00", title: str = "지난 일정") -> str:
    now = utcnow()
    return Event.create(id=new_id(), study=study_id, created_by=user_id, title=title,
                        date=day, start_time=start, end_time=end, created_at=now,
                        updated_at=now).id


def today(server: LiveServer) -> date:
    return localtime.today(server.settings.tz)


def body(server: LiveServer, **fields: Any) -> dict[str, Any]:
    values = {"title": "주간 회의", "date": (today(server) + timedelta(days=1)).isoformat(),
              "start_time": "10:00", "end_time": "11:00"}
    values.update(fields)
    return values


def create(world: World, actor: ApiUser, **fields: Any) -> httpx.Response:
    return actor.http.post(world.path("/calendar"), json=body(world.server, **fields))


def created(world: World, actor: ApiUser, **fields: Any) -> dict[str, Any]:
    return data(create(world, actor, **fields), 201)


def events(world: World, since: int = 0) -> list[Any]:
    return world.server.call(events_after(world.study_id, since, 1000))


def last_seq(world: World) -> int:
    found = events(world)
    return found[-1].seq if found else 0


# --- create -----------------------------------------------------------------------------------


def test_owner_creates_an_event_with_defaults_and_utc_instants(world: World) -> None:
    day = today(world.server) + timedelta(days=3)
    event = created(world, world.owner, date=day.isoformat(), start_time="09:30",
                    end_time="18:05", description="  줄\n바꿈  ", location="")
    assert set(event) == EVENT_KEYS | {"overlaps", "warning"}
    assert event["study_id"] == world.study_id
    assert event["color"] == "#6366F1"
    assert event["description"] == "줄\n바꿈"
    assert event["location"] is None
    assert event["created_by"] == {"id": world.owner.id, "name": world.owner.name,
                                   "avatar": None}
    assert event["overlaps"] == [] and event["warning"] is None
    # Asia/Seoul is UTC+9 all year.
    assert event["starts_at"] == f"{day.isoformat()}T00:30:00.000Z"
    assert event["ends_at"] == f"{day.isoformat()}T09:05:00.000Z"
    fetched = data(world.owner.http.get(world.path(f"/calendar/{event['id']}")))
    assert fetched == {k: v for k, v in event.items() if k in EVENT_KEYS}


def test_admin_creates_an_event_and_the_color_is_upper_cased(world: World) -> None:
    admin = world.member("ADMIN")
    event = created(world, admin, color="#a1b2c3", date=today(world.server).isoformat())
    assert event["color"] == "#A1B2C3"
    assert event["created_by"]["id"] == admin.id


def test_only_st_admins_create_events(world: World, api: Api) -> None:
    member = world.member("MEMBER")
    assert error_code(create(world, member)) == "FORBIDDEN"
    outsider = api.signup(name="외부인")
    assert error_code(create(world, outsider)) == "NOT_MEMBER"
    pending = world.add(world.user("대기자"), status="PENDING")
    assert error_code(create(world, pending)) == "NOT_MEMBER"
    left = world.add(world.user("탈퇴자"), status="LEFT", role="ADMIN")
    assert error_code(create(world, left)) == "NOT_MEMBER"
    response = api.anonymous().post(world.path("/calendar"), json=body(world.server))
    assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


def test_a_private_study_is_not_found_for_outsiders(server: LiveServer, api: Api) -> None:
    private = make_world(server, api, is_public=False)
    outsider = api.signup(name="외부인")
    assert error_code(create(private, outsider)) == "NOT_FOUND"
    assert error_code(outsider.http.get(private.path("/calendar"))) == "NOT_FOUND"
    assert error_code(outsider.http.get("/api/studies/no-such-study/calendar")) == "NOT_FOUND"


def test_create_validation_lists_every_failing_field(world: World) -> None:
    yesterday = today(world.server) - timedelta(days=1)
    response = world.owner.http.post(world.path("/calendar"), json={
        "title": "a", "description": "x" * 1001, "date": yesterday.isoformat(),
        "start_time": "24:00", "end_time": "9:00", "location": "y" * 201, "color": "red",
        "extra": 1})
    assert error_code(response) == "VALIDATION_ERROR"
    # "Today or later" is reported with the others (issue 10, defect 9); start < end is
    # compared only when both times parse.
    assert set(response.json()["error"]["fields"]) == {
        "title", "description", "date", "start_time", "end_time", "location", "color", "extra"}
    response = create(world, world.owner, date=yesterday.isoformat())
    assert response.json()["error"]["fields"] == {"date": "must be today or later"}
    for start, end in (("10:00", "10:00"), ("11:00", "10:59")):
        response = create(world, world.owner, start_time=start, end_time=end)
        assert response.json()["error"]["fields"] == {"end_time": "must be later than start_time"}
    for bad in ("2025/01/01", "2025-02-30", "20250101", 20250101, None):
        response = create(world, world.owner, date=bad)
        assert set(response.json()["error"]["fields"]) == {"date"}, bad
    response = world.owner.http.post(world.path("/calendar"), json={"title": "제목"})
    assert set(response.json()["error"]["fields"]) == {"date", "start_time", "end_time"}


def test_extreme_times_are_accepted(world: World) -> None:
    event = created(world, world.owner, start_time="00:00", end_time="23:59")
    assert (event["start_time"], event["end_time"]) == ("00:00", "23:59")


def test_create_in_a_closed_study_is_refused(world: World) -> None:
    world.set_study(status="CLOSED")
    assert error_code(create(world, world.owner)) == "STUDY_CLOSED"
    assert events(world) == []


def test_create_appends_event_created_and_notifies_other_active_members(world: World) -> None:
    admin = world.member("ADMIN", "관리자")
    member = world.member("MEMBER", "멤버")
    world.add(world.user("대기자"), status="PENDING")
    world.add(world.user("탈퇴자"), status="LEFT")
    world.add(world.user("강퇴자"), status="KICKED")
    before = last_seq(world)
    event = created(world, admin, title="모의고사")
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "event:created")]
    payload = found[0].payload
    assert set(payload) == {"study_id", "seq", "event"}
    assert payload["event"] == {k: v for k, v in event.items() if k in EVENT_KEYS}
    sent = [n for n in world.notifications() if n["type"] == "EVENT"]
    assert sorted(n["user"] for n in sent) == sorted([world.owner.id, member.id])
    for note in sent:
        assert note["data"] == {"event_id": event["id"], "date": event["date"]}
        assert note["message"] == render("event", title="모의고사", date=event["date"],
                                         start_time="10:00")
        assert note["study_id"] == world.study_id


def test_overlapping_events_are_created_with_a_warning(world: World) -> None:
    first = created(world, world.owner, title="알고리즘", start_time="10:00", end_time="11:00")
    second = created(world, world.owner, title="자료구조", start_time="10:30",
                     end_time="11:30")
    assert second["overlaps"] == [{"id": first["id"], "title": "알고리즘"}]
    assert second["warning"] == "같은 시간대에 다른 일정이 있습니다: 알고리즘"
    both = created(world, world.owner, title="전체", start_time="09:00", end_time="12:00")
    assert [o["id"] for o in both["overlaps"]] == [first["id"], second["id"]]
    assert both["warning"] == "같은 시간대에 다른 일정이 있습니다: 알고리즘, 자료구조"
    # Touching is not overlapping; another date never overlaps.
    touching = created(world, world.owner, start_time="12:00", end_time="13:00")
    assert touching["overlaps"] == [] and touching["warning"] is None
    other_day = (today(world.server) + timedelta(days=2)).isoformat()
    assert created(world, world.owner, date=other_day)["overlaps"] == []


# --- list and read ----------------------------------------------------------------------------


def test_list_orders_by_date_then_start_time_and_filters(world: World) -> None:
    base = today(world.server) + timedelta(days=40)
    late = created(world, world.owner, date=base.isoformat(), start_time="15:00",
                   end_time="16:00")
    early = created(world, world.owner, date=base.isoformat(), start_time="08:00",
                    end_time="09:00")
    next_day = created(world, world.owner, date=(base + timedelta(days=1)).isoformat())
    far = created(world, world.owner, date=(base + timedelta(days=100)).isoformat())
    member = world.member()

    def listed(**query: str) -> list[str]:
        response = member.http.get(world.path("/calendar"), params=query)
        assert "pagination" not in response.json()
        return [e["id"] for e in data(response)]

    assert listed() == [early["id"], late["id"], next_day["id"], far["id"]]
    assert listed(start_date=base.isoformat(), end_date=base.isoformat()) == [
        early["id"], late["id"]]
    assert listed(start_date=(base + timedelta(days=1)).isoformat(),
                  end_date=(base + timedelta(days=100)).isoformat()) == [
        next_day["id"], far["id"]]
    assert far["id"] in listed(month=far["date"][:7])


def test_list_by_month_covers_the_whole_month(world: World) -> None:
    first = created(world, world.owner, date="2099-02-01")
    last = created(world, world.owner, date="2099-02-28")
    created(world, world.owner, date="2099-03-01")
    created(world, world.owner, date="2099-01-31")
    listed = data(world.owner.http.get(world.path("/calendar"), params={"month": "2099-02"}))
    assert [e["id"] for e in listed] == [first["id"], last["id"]]


@pytest.mark.parametrize(("query", "field"), [
    ({"start_date": "2099-01-02", "end_date": "2099-01-01"}, "start_date"),
    ({"start_date": "2099-01-01", "end_date": "2100-01-03"}, "end_date"),
    ({"start_date": "2099-01-01"}, "end_date"),
    ({"end_date": "2099-01-01"}, "start_date"),
    ({"start_date": "2099-1-1", "end_date": "2099-01-05"}, "start_date"),
    ({"month": "2099-13"}, "month"),
    ({"month": "2099-1"}, "month"),
    ({"month": "2099-01", "start_date": "2099-01-01", "end_date": "2099-01-05"}, "month"),
])
def test_list_query_errors(world: World, query: dict[str, str], field: str) -> None:
    response = world.owner.http.get(world.path("/calendar"), params=query)
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {field}


def test_a_range_of_exactly_366_days_is_allowed(world: World) -> None:
    response = world.owner.http.get(world.path("/calendar"), params={
        "start_date": "2099-01-01", "end_date": "2100-01-02"})
    assert response.status_code == 200, response.text


def test_read_access_and_events_of_another_study(world: World, api: Api) -> None:
    event = created(world, world.owner)
    member = world.member()
    assert data(member.http.get(world.path(f"/calendar/{event['id']}")))["id"] == event["id"]
    other = make_world(world.server, api)
    assert error_code(other.owner.http.get(other.path(f"/calendar/{event['id']}"))) == \
        "NOT_FOUND"
    assert error_code(member.http.get(world.path("/calendar/unknown-id"))) == "NOT_FOUND"
    outsider = api.signup(name="외부인")
    assert error_code(outsider.http.get(world.path(f"/calendar/{event['id']}"))) == \
        "NOT_MEMBER"
    assert error_code(outsider.http.get(world.path("/calendar"))) == "NOT_MEMBER"
    anonymous = api.anonymous().get(world.path("/calendar"))
    assert error_code(anonymous) == "UNAUTHORIZED"
    # A CLOSED study stays readable.
    world.set_study(status="CLOSED")
    assert len(data(member.http.get(world.path("/calendar")))) == 1


# --- edit -------------------------------------------------------------------------------------


def test_edit_permissions_follow_the_role_matrix(world: World, api: Api) -> None:
    admin = world.member("ADMIN", "관리자")
    member = world.member("MEMBER", "멤버")
    event = created(world, admin)
    path = world.path(f"/calendar/{event['id']}")
    assert error_code(member.http.patch(path, json={"title": "바꿈"})) == "FORBIDDEN"
    assert error_code(member.http.delete(path)) == "FORBIDDEN"
    outsider = api.signup(name="외부인")
    assert error_code(outsider.http.patch(path, json={"title": "바꿈"})) == "NOT_MEMBER"
    for actor, title in ((admin, "관리자 수정"), (world.owner, "스터디장 수정")):
        assert data(actor.http.patch(path, json={"title": title}))["title"] == title
    other_admin = world.member("ADMIN", "다른관리자")
    assert data(other_admin.http.patch(path, json={"title": "다른 관리자"}))["title"] == \
        "다른 관리자"
    # The creator keeps the right to edit after losing the ADMIN role.
    world.server.call(_set_role(world.study_id, admin.id, "MEMBER"))
    assert data(admin.http.patch(path, json={"title": "작성자 수정"}))["title"] == "작성자 수정"
    other = make_world(world.server, api)
    assert error_code(other.owner.http.patch(other.path(f"/calendar/{event['id']}"),
                                             json={"title": "다른 제목"})) == "NOT_FOUND"


def test_edit_checks_fields_and_the_merged_times(world: World) -> None:
    event = created(world, world.owner, start_time="10:00", end_time="11:00")
    path = world.path(f"/calendar/{event['id']}")
    http = world.owner.http
    response = http.patch(path, json={"start_time": "11:00"})
    assert response.json()["error"]["fields"] == {
        "start_time": "end_time must be later than start_time"}
    response = http.patch(path, json={"end_time": "09:59"})
    assert set(response.json()["error"]["fields"]) == {"end_time"}
    past = (today(world.server) - timedelta(days=1)).isoformat()
    assert http.patch(path, json={"date": past}).json()["error"]["fields"] == {
        "date": "must be today or later"}
    for bad in ({}, {"title": None}, {"color": None}, {"date": None}, {"unknown": 1},
                {"start_time": "7:00"}):
        assert error_code(http.patch(path, json=bad)) == "VALIDATION_ERROR", bad
    changed = data(http.patch(path, json={
        "start_time": "12:00", "end_time": "13:30", "description": "설명",
        "location": "강의실", "color": "#00ff00"}))
    assert (changed["start_time"], changed["end_time"], changed["color"]) == (
        "12:00", "13:30", "#00FF00")
    cleared = data(http.patch(path, json={"description": None, "location": ""}))
    assert cleared["description"] is None and cleared["location"] is None
    assert cleared["title"] == event["title"]


def test_an_event_in_the_past_can_still_be_renamed(world: World) -> None:
    past = today(world.server) - timedelta(days=5)
    event_id = world.server.call(_insert_event(world.study_id, world.owner.id, past))
    renamed = data(world.owner.http.patch(world.path(f"/calendar/{event_id}"),
                                          json={"title": "이름만 변경"}))
    assert renamed["date"] == past.isoformat()


def test_edit_appends_event_updated_without_notifications(world: World) -> None:
    world.member("MEMBER")
    first = created(world, world.owner, title="첫 일정", start_time="10:00", end_time="11:00")
    second = created(world, world.owner, title="둘째", start_time="12:00", end_time="13:00")
    notes_before = len(world.notifications())
    before = last_seq(world)
    changed = data(world.owner.http.patch(world.path(f"/calendar/{second['id']}"),
                                          json={"start_time": "10:30"}))
    # The event itself is never its own overlap.
    assert changed["overlaps"] == [{"id": first["id"], "title": "첫 일정"}]
    assert changed["warning"] == "같은 시간대에 다른 일정이 있습니다: 첫 일정"
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "event:updated")]
    assert set(found[0].payload) == {"study_id", "seq", "event"}
    assert found[0].payload["event"] == {k: v for k, v in changed.items() if k in EVENT_KEYS}
    assert len(world.notifications()) == notes_before
    alone = data(world.owner.http.patch(world.path(f"/calendar/{first['id']}"),
                                        json={"start_time": "08:00", "end_time": "09:00"}))
    assert alone["overlaps"] == [] and alone["warning"] is None


def test_edit_in_a_closed_study_is_refused_but_delete_works(world: World) -> None:
    member = world.member("ADMIN")
    event = created(world, member)
    world.set_study(status="CLOSED")
    path = world.path(f"/calendar/{event['id']}")
    assert error_code(world.owner.http.patch(path, json={"title": "변경"})) == "STUDY_CLOSED"
    plain = world.member("MEMBER")
    # Permission is decided before the study state.
    assert error_code(plain.http.patch(path, json={"title": "변경"})) == "FORBIDDEN"
    assert data(member.http.delete(path)) is None


# --- delete -----------------------------------------------------------------------------------


def test_delete_by_creator_or_st_admin_appends_event_deleted(world: World) -> None:
    admin = world.member("ADMIN")
    member = world.member("MEMBER")
    mine = created(world, admin)
    theirs = created(world, world.owner)
    assert error_code(member.http.delete(world.path(f"/calendar/{mine['id']}"))) == \
        "FORBIDDEN"
    before = last_seq(world)
    assert data(admin.http.delete(world.path(f"/calendar/{mine['id']}"))) is None
    assert data(admin.http.delete(world.path(f"/calendar/{theirs['id']}"))) is None
    found = events(world, before)
    assert [(e.seq, e.type) for e in found] == [(before + 1, "event:deleted"),
                                                (before + 2, "event:deleted")]
    assert found[0].payload == {"study_id": world.study_id, "seq": before + 1,
                                "event_id": mine["id"]}
    assert error_code(admin.http.get(world.path(f"/calendar/{mine['id']}"))) == "NOT_FOUND"
    assert error_code(admin.http.delete(world.path(f"/calendar/{mine['id']}"))) == "NOT_FOUND"


def test_writes_have_consecutive_seqs(world: World) -> None:
    event = created(world, world.owner)
    world.owner.http.patch(world.path(f"/calendar/{event['id']}"), json={"title": "수정"})
    world.owner.http.delete(world.path(f"/calendar/{event['id']}"))
    found = events(world)
    assert [e.seq for e in found] == list(range(1, len(found) + 1))
    assert [e.type for e in found][-3:] == ["event:created", "event:updated", "event:deleted"]
    for event_row in found:
        assert event_row.payload["seq"] == event_row.seq


# --- time zone --------------------------------------------------------------------------------


def test_today_is_the_seoul_date_just_after_midnight(world: World,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # 2099-03-01 15:30 UTC is 2099-03-02 00:30 in Seoul: 1 March is already past there.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 15, 30))
    response = create(world, world.owner, date="2099-03-01")
    assert response.json()["error"]["fields"] == {"date": "must be today or later"}
    event = created(world, world.owner, date="2099-03-02", start_time="00:00",
                    end_time="00:45")
    assert event["starts_at"] == "2099-03-01T15:00:00.000Z"
    assert event["ends_at"] == "2099-03-01T15:45:00.000Z"


def test_the_seoul_date_before_midnight_is_still_today(world: World,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # 14:59 UTC is 23:59 in Seoul on the same date.
    monkeypatch.setattr(localtime, "utcnow", lambda: datetime(2099, 3, 1, 14, 59))
    event = created(world, world.owner, date="2099-03-01", start_time="23:00",
                    end_time="23:59")
    assert event["starts_at"] == "2099-03-01T14:00:00.000Z"
    response = create(world, world.owner, date="2099-02-28")
    assert error_code(response) == "VALIDATION_ERROR"
