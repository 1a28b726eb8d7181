"""Study calendar events (COUP.md §7.10): reads, and writes with their durable events (§9.2).

Events are single-day entries whose `date`, `start_time` and `end_time` are wall-clock values
in the platform time zone; the Event object adds `starts_at` and `ends_at`, the UTC instants
they stand for, so every view takes the zone (`settings.tz`).

Writes are `@db_write` functions that lock the study first (§1 item 16), so the seqs of their
events are decided one writer at a time. An overlap with another event never blocks a write;
it is reported back (`overlaps`) so the handler can warn.
"""

from __future__ import annotations

from datetime import date, tzinfo
from typing import Any

from peewee import JOIN

from coup.errors import ApiError, Forbidden, NotFound, ValidationError
from coup.jsonutil import iso, iso_date
from coup.localtime import to_utc
from coup.store.db import db_task
from coup.store.events import append_event, db_write, lock_study
from coup.store.fields import new_id, utcnow
from coup.store.models import Event, Study, User
from coup.store.notifications import notify, render
from coup.store.study_access import StudyAccess, access_study, active_member_ids
from coup.store.views import user_summary

DEFAULT_COLOR = "#6366F1"
# The fields a client may set, in the order the Event object lists them.
EDITABLE_FIELDS = ("title", "description", "date", "start_time", "end_time", "location", "color")


def event_view(row: Event, creator: User, tz: tzinfo) -> dict[str, Any]:
    """The Event object of §6; `creator` is loaded with the row (no lazy load)."""
    return {
        "id": row.id,
        "study_id": row.study_id,
        "title": row.title,
        "description": row.description,
        "date": iso_date(row.date),
        "start_time": row.start_time,
        "end_time": row.end_time,
        "starts_at": iso(to_utc(row.date, row.start_time, tz)),
        "ends_at": iso(to_utc(row.date, row.end_time, tz)),
        "location": row.location,
        "color": row.color,
        "created_by": user_summary(creator),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def _events_with_creators() -> Any:
    return Event.select(Event, User).join(User, JOIN.INNER, on=(Event.created_by == User.id))


def _load(study_id: str, event_id: str) -> Event:
    """The event with its creator; NOT_FOUND when missing or in another study (§3.1)."""
    row = (_events_with_creators()
           .where((Event.id == event_id) & (Event.study == study_id)).first())
    if row is None:
        raise NotFound()
    return row


def _overlaps(study_id: str, day: date, start: str, end: str,
              exclude_id: str | None = None) -> list[dict[str, Any]]:
    """Other events of the study on `day` whose times overlap [start, end).

    `HH:MM` strings are zero-padded, so comparing them as text compares the times; events
    that only touch (one ends at 10:00, the next starts at 10:00) do not overlap.
    """
    query = (Event.select(Event.id, Event.title)
             .where((Event.study == study_id) & (Event.date == day)
                    & (Event.start_time < end) & (Event.end_time > start))
             .order_by(Event.start_time, Event.end_time, Event.id))
    if exclude_id is not None:
        query = query.where(Event.id != exclude_id)
    return [{"id": row.id, "title": row.title} for row in query]


def _can_change(access: StudyAccess, row: Event, user_id: str) -> bool:
    """Editing and deleting an event: its creator, or an ST-ADMIN (§3.4)."""
    return access.is_st_admin or row.created_by_id == user_id


def _access_event_for_change(study_id: str, event_id: str,
                             user_id: str) -> tuple[Study, Event]:
    """Lock the study, then check MEMBER access, the event, and creator-or-ST-ADMIN."""
    access = access_study(study_id, user_id, study=lock_study(study_id))
    row = _load(study_id, event_id)
    if not _can_change(access, row, user_id):
        raise Forbidden()
    return access.study, row


# --- reads ------------------------------------------------------------------------------------


@db_task
def list_events(study_id: str, user_id: str, start: date | None, end: date | None,
                tz: tzinfo) -> list[dict[str, Any]]:
    """GET …/calendar: the study's events from `start` to `end` inclusive (or all of them)."""
    access_study(study_id, user_id)
    query = _events_with_creators().where(Event.study == study_id)
    if start is not None:
        query = query.where(Event.date >= start)
    if end is not None:
        query = query.where(Event.date <= end)
    query = query.order_by(Event.date, Event.start_time, Event.end_time, Event.created_at,
                           Event.id)
    return [event_view(row, row.created_by, tz) for row in query]


@db_task
def load_event(study_id: str, event_id: str, user_id: str, tz: tzinfo) -> dict[str, Any]:
    """GET …/calendar/{event_id}."""
    access_study(study_id, user_id)
    row = _load(study_id, event_id)
    return event_view(row, row.created_by, tz)


# --- writes -----------------------------------------------------------------------------------


@db_write
def create_event(study_id: str, user_id: str, fields: dict[str, Any],
                 tz: tzinfo) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """POST …/calendar (ST-ADMIN): the event and the events it overlaps.

    `fields` are validated (times ordered, date not in the past) by the caller.
    """
    access = access_study(study_id, user_id, "ST_ADMIN", writable=True,
                          study=lock_study(study_id))
    study = access.study
    overlaps = _overlaps(study_id, fields["date"], fields["start_time"], fields["end_time"])
    now = utcnow()
    row = Event.create(
        id=new_id(), study=study_id, created_by=user_id, title=fields["title"],
        description=fields.get("description"), date=fields["date"],
        start_time=fields["start_time"], end_time=fields["end_time"],
        location=fields.get("location"), color=fields.get("color") or DEFAULT_COLOR,
        created_at=now, updated_at=now,
    )
    view = event_view(row, User.get_by_id(user_id), tz)
    append_event(study_id, "event:created", {"event": view})
    notify(active_member_ids(study_id), "EVENT",
           render("event", title=row.title, date=view["date"], start_time=row.start_time),
           study=study, actor_id=user_id, data={"event_id": row.id, "date": view["date"]})
    return view, overlaps


@db_write
def update_event(study_id: str, event_id: str, user_id: str, changes: dict[str, Any],
                 tz: tzinfo) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """PATCH …/calendar/{event_id} (creator or ST-ADMIN): start < end on the merged values."""
    study, row = _access_event_for_change(study_id, event_id, user_id)
    if study.status == "CLOSED":
        raise ApiError("STUDY_CLOSED")
    start = changes.get("start_time", row.start_time)
    end = changes.get("end_time", row.end_time)
    if start >= end:
        field = "end_time" if "end_time" in changes else "start_time"
        raise ValidationError({field: "end_time must be later than start_time"})
    for name in EDITABLE_FIELDS:
        if name in changes:
            setattr(row, name, changes[name])
    row.save()
    overlaps = _overlaps(study_id, row.date, row.start_time, row.end_time, exclude_id=row.id)
    view = event_view(row, row.created_by, tz)
    append_event(study_id, "event:updated", {"event": view})
    return view, overlaps


@db_write
def delete_event(study_id: str, event_id: str, user_id: str) -> None:
    """DELETE …/calendar/{event_id} (creator or ST-ADMIN); allowed in a CLOSED study (§10.2)."""
    _, row = _access_event_for_change(study_id, event_id, user_id)
    row.delete_instance()
    append_event(study_id, "event:deleted", {"event_id": event_id})
