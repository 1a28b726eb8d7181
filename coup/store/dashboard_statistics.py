"""GET /api/dashboard/statistics (COUP.md §7.15): the caller's statistics by type and period.

Counts of things that happen (studies joined, notifications received, messages sent, tasks
completed, check-ins) are for the period; counts of state (studies held, tasks by status and
priority, due soon, overdue, unread) are as of now. Series cover the whole period in local
buckets (`YYYY-MM-DD`, the Monday date, `YYYY-MM`, `YYYY`), with zero for empty buckets.

Timestamps are read (one column, one query per kind) and bucketed here in the platform time
zone, because SQLite has no time zones; each type costs a fixed number of queries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import peewee
from peewee import Case, fn

from coup.localtime import local_date, month_range, week_start
from coup.store.dashboard import (
    Clock,
    active_study_memberships,
    completed_between,
    count_of,
    pending_tasks,
    percent,
    unread_notifications,
    upcoming_events,
)
from coup.store.db import db_task
from coup.store.enums import NOTIFICATION_TYPE, PRIORITY, TASK_STATUS
from coup.store.models import Attendance, Message, Notification, Study, StudyMember, Task, User
from coup.store.rows import tuple_row, tuple_rows

STAT_TYPES = ("STUDY", "TASK", "NOTIFICATION", "ACTIVITY", "OVERVIEW")
PERIODS = ("TODAY", "THIS_WEEK", "THIS_MONTH", "THIS_YEAR", "CUSTOM")
AGGREGATIONS = ("DAY", "WEEK", "MONTH", "YEAR")
# A CUSTOM period spans at most this many days after its start date.
CUSTOM_MAX_DAYS = 365
# TASK `due_soon`: pending tasks due from today to this many days ahead.
DUE_SOON_DAYS = 3
# OVERVIEW `events_next_7_days`: the same window as the upcoming schedules' default.
OVERVIEW_EVENT_DAYS = 7
ACTIVITY_KINDS = ("notifications", "messages_sent", "tasks_completed", "check_ins")


@dataclass(frozen=True)
class Period:
    """The local dates the statistics cover (both inclusive) and how series are bucketed."""

    first: date
    last: date
    aggregation: str

    def bucket(self, day: date) -> str:
        if self.aggregation == "WEEK":
            return week_start(day).isoformat()
        if self.aggregation == "MONTH":
            return f"{day.year:04d}-{day.month:02d}"
        if self.aggregation == "YEAR":
            return f"{day.year:04d}"
        return day.isoformat()

    def buckets(self) -> list[str]:
        keys: dict[str, None] = {}
        day = self.first
        while day <= self.last:
            keys[self.bucket(day)] = None
            day += timedelta(days=1)
        return list(keys)


def resolve_period(period: str, today: date, start: date | None, end: date | None,
                   aggregation: str) -> Period:
    """The dates of a named period around `today` (CUSTOM: `start` to `end`, validated)."""
    if period == "TODAY":
        first, last = today, today
    elif period == "THIS_WEEK":
        first = week_start(today)
        last = first + timedelta(days=6)
    elif period == "THIS_MONTH":
        first, last = month_range(today)
    elif period == "THIS_YEAR":
        first, last = date(today.year, 1, 1), date(today.year, 12, 31)
    else:
        assert start is not None and end is not None
        first, last = start, end
    return Period(first, last, aggregation)


def _count_by_bucket(period: Period, days: Iterable[date]) -> Counter[str]:
    return Counter(period.bucket(day) for day in days if period.first <= day <= period.last)


def _series(period: Period, days: Iterable[date]) -> list[dict[str, Any]]:
    counts = _count_by_bucket(period, days)
    return [{"bucket": key, "count": counts.get(key, 0)} for key in period.buckets()]


def _local_days(clock: Clock, instants: Iterable[datetime]) -> list[date]:
    return [local_date(moment, clock.tz) for moment in instants]


def _values(query: peewee.SelectBase) -> list[Any]:
    """The one value each row of `query` selects."""
    return [row[0] for row in tuple_rows(query)]


def _instants(query: peewee.SelectBase) -> list[datetime]:
    return _values(query)


def _bounds(clock: Clock, period: Period) -> tuple[datetime, datetime]:
    return clock.day_start(period.first), clock.day_start(period.last + timedelta(days=1))


# --- by type ----------------------------------------------------------------------------------


def study_statistics(user_id: str, clock: Clock, period: Period) -> dict[str, Any]:
    held = list(tuple_rows(active_study_memberships(user_id)
                           .select(StudyMember.role, Study.category)))
    start, end = _bounds(clock, period)
    # Every membership that became ACTIVE in the period, including those left since.
    joined = _instants(StudyMember.select(StudyMember.joined_at)
                       .join(Study, on=(StudyMember.study == Study.id))
                       .where((StudyMember.user == user_id) & (StudyMember.status != "PENDING")
                              & (Study.status != "DELETED") & (StudyMember.joined_at >= start)
                              & (StudyMember.joined_at < end)))
    return {
        "total": len(held),
        "owned": sum(role == "OWNER" for role, _ in held),
        "by_category": dict(Counter(category for _, category in held)),
        "joined_series": _series(period, _local_days(clock, joined)),
    }


def task_statistics(user_id: str, clock: Clock, period: Period) -> dict[str, Any]:
    by_status = dict.fromkeys(TASK_STATUS, 0)
    by_priority = dict.fromkeys(PRIORITY, 0)
    for status, priority, count in tuple_rows(
            Task.select(Task.status, Task.priority, fn.COUNT(Task.id))
            .where(Task.user == user_id).group_by(Task.status, Task.priority)):
        by_status[status] += count
        # Pending = not DONE (completed) and not CANCELLED, as in GET /api/tasks/stats.
        if status not in ("DONE", "CANCELLED"):
            by_priority[priority] += count
    today = clock.today
    soon = (Task.due_date >= today) & (Task.due_date <= today + timedelta(days=DUE_SOON_DAYS))
    due_soon, overdue = tuple_row(Task.select(
        fn.SUM(Case(None, ((soon, 1),), 0)),
        fn.SUM(Case(None, ((Task.due_date < today, 1),), 0)),
    ).where(pending_tasks(user_id)))
    start, end = _bounds(clock, period)
    completed = _instants(Task.select(Task.completed_at)
                          .where(completed_between(user_id, start, end)))
    return {
        "by_status": by_status,
        "by_priority": by_priority,
        "due_soon": int(due_soon or 0),
        "overdue": int(overdue or 0),
        "completed_series": _series(period, _local_days(clock, completed)),
    }


def notification_statistics(user_id: str, clock: Clock, period: Period) -> dict[str, Any]:
    start, end = _bounds(clock, period)
    rows = list(tuple_rows(Notification.select(Notification.type, Notification.is_read,
                                               Notification.created_at)
                           .where((Notification.user == user_id)
                                  & (Notification.created_at >= start)
                                  & (Notification.created_at < end))))
    by_type = dict.fromkeys(NOTIFICATION_TYPE, 0)
    read = 0
    for kind, is_read, _ in rows:
        by_type[kind] += 1
        read += bool(is_read)
    return {
        "by_type": by_type,
        "read": read,
        "unread": len(rows) - read,
        "series": _series(period, _local_days(clock, [row[2] for row in rows])),
    }


def activity_statistics(user_id: str, clock: Clock, period: Period) -> dict[str, Any]:
    start, end = _bounds(clock, period)
    days: dict[str, list[date]] = {
        "notifications": _local_days(clock, _instants(
            Notification.select(Notification.created_at)
            .where((Notification.user == user_id) & (Notification.created_at >= start)
                   & (Notification.created_at < end)))),
        "messages_sent": _local_days(clock, _instants(
            Message.select(Message.created_at)
            .where((Message.user == user_id) & Message.deleted_at.is_null()
                   & (Message.created_at >= start) & (Message.created_at < end)))),
        "tasks_completed": _local_days(clock, _instants(
            Task.select(Task.completed_at).where(completed_between(user_id, start, end)))),
        # Check-ins carry their local date already.
        "check_ins": _values(Attendance.select(Attendance.date)
                               .where((Attendance.user == user_id)
                                      & (Attendance.date >= period.first)
                                      & (Attendance.date <= period.last))),
    }
    counts = {kind: _count_by_bucket(period, days[kind]) for kind in ACTIVITY_KINDS}
    return {
        **{kind: len(days[kind]) for kind in ACTIVITY_KINDS},
        "series": [{"bucket": key, **{kind: counts[kind].get(key, 0) for kind in ACTIVITY_KINDS}}
                   for key in period.buckets()],
    }


def overview_statistics(user_id: str, clock: Clock, period: Period) -> dict[str, Any]:
    last_event_day = clock.today + timedelta(days=OVERVIEW_EVENT_DAYS)
    active, tasks, completed, unread, events = tuple_row(User.select(
        count_of(active_study_memberships(user_id)),
        count_of(Task.select().where(Task.user == user_id)),
        count_of(Task.select().where((Task.user == user_id) & Task.completed)),
        count_of(Notification.select().where(unread_notifications(user_id))),
        count_of(upcoming_events(user_id, clock, last_event_day)),
    ).where(User.id == user_id))
    return {
        "active_studies": active,
        "task_completion_rate": percent(completed, tasks),
        "unread_notifications": unread,
        "events_next_7_days": events,
        "attendance_rate": _attendance_rate(user_id, clock, period),
    }


def _attendance_rate(user_id: str, clock: Clock, period: Period) -> int:
    """Mean over the caller's ACTIVE studies of days checked in ÷ eligible days, where the
    eligible days are those of the period from the day they joined up to today."""
    last = min(period.last, clock.today)
    eligible: dict[str, int] = {}
    for study_id, joined_at, created_at in tuple_rows(
            active_study_memberships(user_id)
            .select(StudyMember.study, StudyMember.joined_at, StudyMember.created_at)):
        first = max(period.first, local_date(joined_at or created_at, clock.tz))
        if first <= last:
            eligible[study_id] = (last - first).days + 1
    if not eligible:
        return 0
    attended: dict[str, int] = dict(tuple_rows(
        Attendance.select(Attendance.study, fn.COUNT(Attendance.id))
        .where((Attendance.user == user_id) & Attendance.study.in_(list(eligible))
               & (Attendance.date >= period.first) & (Attendance.date <= last))
        .group_by(Attendance.study)))
    rates = [min(1.0, attended.get(study_id, 0) / days) for study_id, days in eligible.items()]
    return int(100 * sum(rates) / len(rates) + 0.5)


BUILDERS = {
    "STUDY": study_statistics,
    "TASK": task_statistics,
    "NOTIFICATION": notification_statistics,
    "ACTIVITY": activity_statistics,
    "OVERVIEW": overview_statistics,
}


@db_task
def load_statistics(user_id: str, kind: str, clock: Clock, period: Period) -> dict[str, Any]:
    return BUILDERS[kind](user_id, clock, period)
