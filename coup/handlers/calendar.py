"""Study calendar (COUP.md §7.10): list by range or month, create, read, edit, delete.

Dates and times are wall-clock values in the platform time zone; "today" for the "today or
later" rule is the zone's today (`coup.localtime`). The store checks access and writes the
durable events; this module validates input and words the overlap warning.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from coup import localtime
from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.localtime import ClockTime, Day
from coup.store import calendar as calendar_store
from coup.validation import Problems, Rule, Text, parse_fields

# A range query may span at most this many days between its two dates (§7.10).
MAX_RANGE_DAYS = 366
COLOR_PATTERN = re.compile(r"#[0-9A-Fa-f]{6}")
OVERLAP_WARNING = {
    "ko": "같은 시간대에 다른 일정이 있습니다: {titles}",
    "en": "Another event is scheduled at the same time: {titles}",
}

CREATE_SCHEMA: dict[str, Rule] = {
    "title": Text(min_len=2, max_len=100),
    "description": Text(required=False, nullable=True, max_len=1000, multiline=True),
    "date": Day(),
    "start_time": ClockTime(),
    "end_time": ClockTime(),
    "location": Text(required=False, nullable=True, max_len=200),
    # Optional on create (null or "" means the default); stored upper-case.
    "color": Text(required=False, nullable=True, max_len=7, pattern=COLOR_PATTERN,
                  pattern_reason="must be a colour #RRGGBB"),
}
# PATCH: the same rules; a field that is required on create cannot be cleared with null.
UPDATE_SCHEMA: dict[str, Rule] = {
    **CREATE_SCHEMA,
    "color": Text(max_len=7, pattern=COLOR_PATTERN, pattern_reason="must be a colour #RRGGBB"),
}


def parse_event_fields(body: Any, schema: Mapping[str, Rule], today: date, *,
                       partial: bool = False) -> dict[str, Any]:
    """The body's fields and the rules between them, every failing field at once: a supplied
    date is today or later, and start is before end when both are supplied (PATCH checks the
    merged values again in the store)."""
    problems = Problems()
    data = parse_fields(body, schema, problems, partial=partial)
    if "date" in data and data["date"] < today:
        problems.add("date", "must be today or later")
    if "start_time" in data and "end_time" in data and data["start_time"] >= data["end_time"]:
        problems.add("end_time", "must be later than start_time")
    problems.raise_if_any()
    if data.get("color"):
        data["color"] = data["color"].upper()
    return data


def with_warning(event: dict[str, Any], overlaps: list[dict[str, Any]],
                 language: str) -> dict[str, Any]:
    """Event + {overlaps, warning}; the warning names every overlapping event."""
    warning = None
    if overlaps:
        template = OVERLAP_WARNING.get(language, OVERLAP_WARNING["ko"])
        warning = template.format(titles=", ".join(item["title"] for item in overlaps))
    return {**event, "overlaps": overlaps, "warning": warning}


def parse_range(start_raw: str | None, end_raw: str | None,
                month_raw: str | None) -> tuple[date | None, date | None]:
    """Either start_date and end_date (inclusive, at most 366 days apart), or month, or none."""
    problems: dict[str, str] = {}
    start = end = None
    if month_raw and (start_raw or end_raw):
        raise ValidationError({"month": "use either month or start_date and end_date"})
    if month_raw:
        try:
            return localtime.parse_month(month_raw)
        except ValueError as exc:
            raise ValidationError({"month": str(exc)}) from None
    for name, raw in (("start_date", start_raw), ("end_date", end_raw)):
        if not raw:
            continue
        try:
            if name == "start_date":
                start = localtime.parse_date(raw)
            else:
                end = localtime.parse_date(raw)
        except ValueError as exc:
            problems[name] = str(exc)
    if not problems and (start is None) != (end is None):
        missing = "end_date" if end is None else "start_date"
        problems[missing] = "is required with " + ("start_date" if end is None else "end_date")
    if not problems and start is not None and end is not None:
        if start > end:
            problems["start_date"] = "must not be after end_date"
        elif (end - start).days > MAX_RANGE_DAYS:
            problems["end_date"] = f"must be at most {MAX_RANGE_DAYS} days after start_date"
    if problems:
        raise ValidationError(problems)
    return start, end


class EventsHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        start, end = parse_range(self.get_query_argument("start_date", None),
                                 self.get_query_argument("end_date", None),
                                 self.get_query_argument("month", None))
        self.ok(await calendar_store.list_events(study_id, user_id, start, end,
                                                 self.services.settings.tz))

    async def post(self, study_id: str) -> None:
        user_id = self.user_id
        tz = self.services.settings.tz
        data = parse_event_fields(self.json_body(), CREATE_SCHEMA, localtime.today(tz))
        event, overlaps = await calendar_store.create_event(study_id, user_id, data, tz)
        self.created(with_warning(event, overlaps, self.services.settings.language))


class EventHandler(ApiHandler):
    async def get(self, study_id: str, event_id: str) -> None:
        user_id = self.user_id
        self.ok(await calendar_store.load_event(study_id, event_id, user_id,
                                                self.services.settings.tz))

    async def patch(self, study_id: str, event_id: str) -> None:
        user_id = self.user_id
        tz = self.services.settings.tz
        data = parse_event_fields(self.json_body(), UPDATE_SCHEMA, localtime.today(tz),
                                  partial=True)
        event, overlaps = await calendar_store.update_event(study_id, event_id, user_id, data,
                                                            tz)
        self.ok(with_warning(event, overlaps, self.services.settings.language))

    async def delete(self, study_id: str, event_id: str) -> None:
        user_id = self.user_id
        await calendar_store.delete_event(study_id, event_id, user_id)
        self.ok(None)
