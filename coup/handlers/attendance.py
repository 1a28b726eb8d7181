"""Attendance (COUP.md §7.13): daily check-in, who checked in on a day, per-member statistics.

"Today" is the local date in the platform time zone (`coup.localtime`).
"""

from __future__ import annotations

from datetime import date, timedelta

from coup import localtime
from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.store import attendance as attendance_store
from coup.validation import Rule, Text

# The default statistics window: the last 30 days up to today.
DEFAULT_STATS_DAYS = 30
# A statistics range may span at most this many days between its two dates.
MAX_RANGE_DAYS = 366
# Ids are looked up, not parsed (§1 item 3); this only bounds the size of the body.
CHECK_IN_SCHEMA: dict[str, Rule] = {"study_id": Text(required=False, nullable=True, max_len=64)}


def query_date(raw: str | None, name: str, problems: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        return localtime.parse_date(raw)
    except ValueError as exc:
        problems[name] = str(exc)
        return None


class CheckInHandler(ApiHandler):
    async def post(self) -> None:
        user_id = self.user_id
        data = self.parse(CHECK_IN_SCHEMA, allow_empty=True)
        self.ok(await attendance_store.check_in(user_id, data.get("study_id"),
                                                localtime.today(self.services.settings.tz)))


class StudyAttendanceHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        today = localtime.today(self.services.settings.tz)
        problems: dict[str, str] = {}
        day = query_date(self.get_query_argument("date", None), "date", problems) or today
        if not problems and day > today:
            problems["date"] = "must not be in the future"
        if problems:
            raise ValidationError(problems)
        self.ok(await attendance_store.day_attendance(study_id, user_id, day, today))


class AttendanceStatsHandler(ApiHandler):
    async def get(self, study_id: str) -> None:
        user_id = self.user_id
        tz = self.services.settings.tz
        today = localtime.today(tz)
        problems: dict[str, str] = {}
        start = query_date(self.get_query_argument("start_date", None), "start_date", problems)
        end = query_date(self.get_query_argument("end_date", None), "end_date", problems)
        if problems:
            raise ValidationError(problems)
        # A missing end is today; a missing start is 30 days back from the end.
        end = end or today
        start = start or end - timedelta(days=DEFAULT_STATS_DAYS - 1)
        if start > end:
            raise ValidationError({"start_date": "must not be after end_date"})
        if (end - start).days > MAX_RANGE_DAYS:
            raise ValidationError(
                {"end_date": f"must be at most {MAX_RANGE_DAYS} days after start_date"})
        self.ok(await attendance_store.attendance_stats(study_id, user_id, start, end, today,
                                                        tz))
