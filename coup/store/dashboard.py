"""The dashboard (COUP.md §7.15): home, summary, recent activities, upcoming schedules, widgets.

Every read costs a fixed number of queries, whatever the number of studies, notifications or
tasks the caller has: counts are scalar subqueries of one SELECT, lists are one query with
their joins and a LIMIT. The home page's sections are built one by one so that a failing
section is reported (null, named in `failed_sections`) without failing the others.

"ACTIVE studies" are studies whose status is ACTIVE in which the caller is an ACTIVE member:
CLOSED studies are read-only archives and DELETED ones are gone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any

import peewee
from peewee import JOIN, fn

from coup.jsonutil import iso
from coup.localtime import day_start_utc, local_date, month_range
from coup.pagination import Page, PageRequest, paginate
from coup.store.calendar import event_view
from coup.store.db import db_task, db_transaction
from coup.store.models import Attendance, Event, Notification, Study, StudyMember, Task, User
from coup.store.notifications import notification_view
from coup.store.rows import dict_rows, tuple_row

log = logging.getLogger(__name__)

MY_STUDIES_LIMIT = 6
RECENT_ACTIVITIES_LIMIT = 5
UPCOMING_EVENTS_LIMIT = 3
# The home page shows events up to the end of the third local day after today.
UPCOMING_DAYS_AHEAD = 3

# --- shared query pieces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """One reading of the clock for a whole request: `now` is naive UTC, `tz` the platform zone."""

    now: datetime
    tz: tzinfo

    @property
    def today(self) -> date:
        return local_date(self.now, self.tz)

    def day_start(self, day: date) -> datetime:
        return day_start_utc(day, self.tz)


def percent(part: int, whole: int) -> int:
    """An integer percentage, rounded half up (62.5 shows as 63); 0 of 0 is 0."""
    return int(100 * part / whole + 0.5) if whole else 0


def count_of(query: peewee.Select) -> peewee.Select:
    """`query` as a scalar subquery counting its rows (its ordering dropped)."""
    return query.order_by().select(fn.COUNT(peewee.SQL("*")))


def active_study_memberships(user_id: str) -> peewee.Select:
    """The caller's ACTIVE memberships in ACTIVE studies (select more columns as needed)."""
    return (StudyMember.select(StudyMember.study).join(Study, on=(StudyMember.study == Study.id))
            .where((StudyMember.user == user_id) & (StudyMember.status == "ACTIVE")
                   & (Study.status == "ACTIVE")))


def pending_tasks(user_id: str) -> peewee.Expression:
    """Personal tasks still to do: not completed and not CANCELLED (as in §7.12 stats)."""
    return (Task.user == user_id) & ~Task.completed & (Task.status != "CANCELLED")


def completed_between(user_id: str, start: datetime, end: datetime) -> peewee.Expression:
    return ((Task.user == user_id) & Task.completed & (Task.completed_at >= start)
            & (Task.completed_at < end))


def unread_notifications(user_id: str) -> peewee.Expression:
    return (Notification.user == user_id) & ~Notification.is_read


def upcoming_events(user_id: str, clock: Clock, last_day: date) -> peewee.Select:
    """Events of the caller's ACTIVE studies that start from now to the end of `last_day`,
    soonest first, with their study and creator loaded in the same query."""
    local_now = clock.now.replace(tzinfo=UTC).astimezone(clock.tz)
    # Times are whole minutes: an event at 10:00 has started by 10:00:30, so round up.
    first = local_now.replace(second=0, microsecond=0)
    if first < local_now:
        first += timedelta(minutes=1)
    first_day, first_time = first.date(), first.strftime("%H:%M")
    mine = StudyMember.select(StudyMember.study).where(
        (StudyMember.user == user_id) & (StudyMember.status == "ACTIVE"))
    return (Event.select(Event, Study.id, Study.name, Study.emoji, User)
            .join(Study, on=(Event.study == Study.id))
            .switch(Event).join(User, JOIN.INNER, on=(Event.created_by == User.id))
            .where(Event.study.in_(mine) & (Study.status == "ACTIVE")
                   & (Event.date <= last_day)
                   & ((Event.date > first_day)
                      | ((Event.date == first_day) & (Event.start_time >= first_time))))
            .order_by(Event.date, Event.start_time, Event.end_time, Event.id))


def _study_ref(study_id: str | None, name: str | None, emoji: str | None) -> dict[str, Any] | None:
    return None if study_id is None else {"id": study_id, "name": name, "emoji": emoji}


# --- the home page (GET /api/dashboard) -------------------------------------------------------


def stats_section(user_id: str, clock: Clock) -> dict[str, Any]:
    first, last = month_range(clock.today)
    start, end = clock.day_start(first), clock.day_start(last + timedelta(days=1))
    active, pending, unread, completed = tuple_row(User.select(
        count_of(active_study_memberships(user_id)),
        count_of(Task.select().where(pending_tasks(user_id))),
        count_of(Notification.select().where(unread_notifications(user_id))),
        count_of(Task.select().where(completed_between(user_id, start, end))),
    ).where(User.id == user_id))
    return {"active_studies": active, "pending_tasks": pending,
            "unread_notifications": unread, "completed_this_month": completed}


def my_studies_section(user_id: str, clock: Clock) -> list[dict[str, Any]]:
    counted = StudyMember.alias("counted")
    member_count = counted.select(fn.COUNT(counted.id)).where(
        (counted.study == Study.id) & (counted.status == "ACTIVE"))
    joined = fn.COALESCE(StudyMember.joined_at, StudyMember.created_at)
    rows = dict_rows(active_study_memberships(user_id)
                     .select(Study.id, Study.name, Study.emoji, Study.category, StudyMember.role,
                             StudyMember.joined_at, StudyMember.created_at,
                             member_count.alias("member_count"))
                     .order_by(joined.desc(), StudyMember.id.desc())
                     .limit(MY_STUDIES_LIMIT))
    return [{"id": row["id"], "name": row["name"], "emoji": row["emoji"],
             "category": row["category"], "role": row["role"],
             "member_count": row["member_count"],
             "joined_at": iso(row["joined_at"] or row["created_at"])}
            for row in rows]


def recent_activities_section(user_id: str, clock: Clock) -> list[dict[str, Any]]:
    rows = (Notification.select().where(Notification.user == user_id)
            .order_by(Notification.created_at.desc(), Notification.id.desc())
            .limit(RECENT_ACTIVITIES_LIMIT))
    return [notification_view(row) for row in rows]


# The home page's short event: these Event fields plus the study's id, name and emoji.
UPCOMING_EVENT_FIELDS = ("id", "title", "date", "start_time", "end_time", "starts_at")


def upcoming_events_section(user_id: str, clock: Clock) -> list[dict[str, Any]]:
    last_day = clock.today + timedelta(days=UPCOMING_DAYS_AHEAD)
    events = []
    for row in upcoming_events(user_id, clock, last_day).limit(UPCOMING_EVENTS_LIMIT):
        view = event_view(row, row.created_by, clock.tz)
        events.append({**{key: view[key] for key in UPCOMING_EVENT_FIELDS},
                       "study_id": row.study.id, "study_name": row.study.name,
                       "study_emoji": row.study.emoji})
    return events


def attendance_section(user_id: str, clock: Clock) -> dict[str, Any]:
    """How many of the caller's ACTIVE studies they checked in to today, of how many."""
    checked_in, total = tuple_row(User.select(
        count_of(Attendance.select().where((Attendance.user == user_id)
                                           & (Attendance.date == clock.today)
                                           & Attendance.study.in_(
                                               active_study_memberships(user_id)))),
        count_of(active_study_memberships(user_id)),
    ).where(User.id == user_id))
    return {"checked_in_today": checked_in, "total_studies": total}


# Section name -> builder; each costs one query.
SECTIONS: dict[str, Callable[[str, Clock], Any]] = {
    "stats": stats_section,
    "my_studies": my_studies_section,
    "recent_activities": recent_activities_section,
    "upcoming_events": upcoming_events_section,
    "attendance": attendance_section,
}


def build_dashboard(user_id: str, clock: Clock) -> dict[str, Any]:
    """Every section on its own: a failing one is null and named in `failed_sections`; when
    every section fails, the last error is raised (INTERNAL, or OVERLOADED when the database
    connection was lost).

    Outside a transaction each query commits on its own (autocommit), so on PostgreSQL a
    failed section does not abort the queries of the sections after it.
    """
    result: dict[str, Any] = {}
    failed: list[str] = []
    error: Exception | None = None
    for name, build in SECTIONS.items():
        try:
            result[name] = build(user_id, clock)
        except Exception as exc:
            log.exception("dashboard section %s failed for user %s", name, user_id)
            result[name], error = None, exc
            failed.append(name)
    if error is not None and len(failed) == len(SECTIONS):
        raise error
    result["failed_sections"] = failed
    return result


load_dashboard = db_task(build_dashboard)


# --- summary, recent activities, upcoming schedules -------------------------------------------


@db_task
def load_summary(user_id: str) -> dict[str, Any]:
    studies = (StudyMember.select().join(Study, on=(StudyMember.study == Study.id))
               .where((StudyMember.user == user_id)
                      & StudyMember.status.in_(("ACTIVE", "PENDING"))
                      & (Study.status != "DELETED")))
    active, total, pending, completed, tasks, unread = tuple_row(User.select(
        count_of(active_study_memberships(user_id)),
        count_of(studies),
        count_of(Task.select().where(pending_tasks(user_id))),
        count_of(Task.select().where((Task.user == user_id) & Task.completed)),
        count_of(Task.select().where(Task.user == user_id)),
        count_of(Notification.select().where(unread_notifications(user_id))),
    ).where(User.id == user_id))
    return {
        "studies": {"active": active, "total": total},
        "tasks": {"pending": pending, "completed": completed, "total": tasks,
                  "completion_rate": percent(completed, tasks)},
        "notifications": {"unread": unread},
    }


@db_task
def list_recent_activities(user_id: str, types: list[str] | None,
                           page: PageRequest) -> Page[dict[str, Any]]:
    query = Notification.select().where(Notification.user == user_id)
    if types:
        query = query.where(Notification.type.in_(types))
    found = paginate(query.order_by(Notification.created_at.desc(), Notification.id.desc()),
                     page)
    return Page([{"id": row.id, "type": row.type, "message": row.message,
                  "study": _study_ref(row.study_id, row.study_name, row.study_emoji),
                  "is_read": row.is_read, "created_at": iso(row.created_at)}
                 for row in found.items], found.total)


@db_task
def load_upcoming_schedules(user_id: str, clock: Clock, days: int,
                            limit: int) -> dict[str, Any]:
    """Events starting from now to the end of the `days`-th local day after today."""
    last_day = clock.today + timedelta(days=days)
    rows = upcoming_events(user_id, clock, last_day).limit(limit)
    events = [{**event_view(row, row.created_by, clock.tz),
               "study": _study_ref(row.study.id, row.study.name, row.study.emoji)}
              for row in rows]
    return {"events": events, "count": len(events),
            "period": {"from": iso(clock.now),
                       "to": iso(clock.day_start(last_day + timedelta(days=1)))}}


# --- widgets ----------------------------------------------------------------------------------

WIDGET_SIZES = ("small", "medium", "large")
DEFAULT_WIDGET_SIZE = "medium"
# The default layout (§7.15): id, type, title in Korean and in English; positions in order.
DEFAULT_WIDGETS: tuple[tuple[str, str, str, str], ...] = (
    ("statistics", "STATISTICS", "통계", "Stats"),
    ("my-studies", "STUDY_LIST", "내 스터디", "My studies"),
    ("tasks", "TASK_LIST", "할 일", "Tasks"),
    ("notifications", "NOTIFICATION_LIST", "알림", "Notifications"),
    ("upcoming", "UPCOMING_SCHEDULES", "다가오는 일정", "Upcoming events"),
    ("recent-activities", "RECENT_ACTIVITIES", "최근 활동", "Recent activity"),
)


def default_widgets(language: str) -> list[dict[str, Any]]:
    return [{"id": widget_id, "type": kind, "title": english if language == "en" else korean,
             "position": position, "visible": True, "size": DEFAULT_WIDGET_SIZE}
            for position, (widget_id, kind, korean, english) in enumerate(DEFAULT_WIDGETS)]


def widgets_view(stored: list[dict[str, Any]] | None, language: str) -> dict[str, Any]:
    if stored is None:
        return {"widgets": default_widgets(language), "is_default": True}
    return {"widgets": sorted(stored, key=lambda widget: widget["position"]),
            "is_default": False}


@db_task
def load_widgets(user_id: str, language: str) -> dict[str, Any]:
    stored = User.select(User.dashboard_widgets).where(User.id == user_id).get()
    return widgets_view(stored.dashboard_widgets, language)


@db_transaction
def store_widgets(user_id: str, widgets: list[dict[str, Any]] | None,
                  language: str) -> dict[str, Any]:
    """Save a validated layout; None goes back to the default (stored as null)."""
    User.update(dashboard_widgets=widgets).where(User.id == user_id).execute()
    return widgets_view(widgets, language)
