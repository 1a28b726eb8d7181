"""Wall-clock dates and times in the platform time zone (COUP.md §1 item 4).

Calendar dates (`YYYY-MM-DD`) and times of day (`HH:MM`) are local to `COUP_TIMEZONE`
(`settings.tz`); instants are naive UTC, as stored. "Today", "this week" (Monday first) and
"this month" are computed here so every feature agrees on where a day starts.

The API, all pure functions of their arguments except `today` (which reads the clock):

* `today(tz)`                    the local date now
* `local_date(instant, tz)`      the local date of a naive-UTC instant
* `to_utc(day, hhmm, tz)`        a local date and `HH:MM` (or a `time`) as a naive-UTC instant
* `day_start_utc(day, tz)`       local midnight of `day` as a naive-UTC instant
* `week_start(day)`              the Monday of `day`'s week
* `month_range(day)`             first and last date of `day`'s month
* `parse_date(raw)`, `parse_month(raw)`, `parse_clock(raw)`  strict parsers (ValueError); dates
                                 and months lie in coup.validation's EARLIEST_DATE..LATEST_DATE,
                                 so the conversions above never overflow
* `Day`, `ClockTime`             body rules (coup.validation) for `YYYY-MM-DD` and `HH:MM`

Tests shift "now" by patching `coup.localtime.utcnow`.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from coup.validation import (
    DATE_RANGE_REASON,
    EARLIEST_DATE,
    LATEST_DATE,
    FieldInvalid,
    Rule,
    check_date_range,
)


def utcnow() -> datetime:
    """Now in UTC without tzinfo: timestamps are stored naive-UTC on both databases (§4.1)."""
    return datetime.now(UTC).replace(tzinfo=None)


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
# 24-hour HH:MM from 00:00 to 23:59, always two digits each (so strings compare as times).
_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def today(tz: tzinfo) -> date:
    """The current local date in `tz`."""
    return local_date(utcnow(), tz)


def local_date(instant: datetime, tz: tzinfo) -> date:
    """The local date in `tz` of a naive-UTC instant."""
    return instant.replace(tzinfo=UTC).astimezone(tz).date()


def to_utc(day: date, clock: str | time, tz: tzinfo) -> datetime:
    """The naive-UTC instant of local `day` at `clock` (`HH:MM` or a time) in `tz`."""
    moment = parse_clock(clock) if isinstance(clock, str) else clock
    return datetime.combine(day, moment, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def day_start_utc(day: date, tz: tzinfo) -> datetime:
    """Local midnight at the start of `day`, as a naive-UTC instant (end = next day's start)."""
    return to_utc(day, time.min, tz)


def week_start(day: date) -> date:
    """The Monday of the week holding `day` (weeks start on Monday everywhere, §1 item 4)."""
    return day - timedelta(days=day.weekday())


def month_range(day: date) -> tuple[date, date]:
    """The first and the last date of the month holding `day`."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def parse_date(raw: str) -> date:
    """A strict `YYYY-MM-DD` calendar date in the representable range; ValueError otherwise."""
    if not isinstance(raw, str) or not _DATE.fullmatch(raw):
        raise ValueError("must be a date YYYY-MM-DD")
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValueError("must be a valid date YYYY-MM-DD") from None
    try:
        return check_date_range(day)
    except FieldInvalid:
        raise ValueError(DATE_RANGE_REASON) from None


def parse_month(raw: str) -> tuple[date, date]:
    """A strict `YYYY-MM` month (wholly in the representable range) as its first and last
    date; ValueError otherwise."""
    match = _MONTH.fullmatch(raw) if isinstance(raw, str) else None
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise ValueError("must be a month YYYY-MM")
    year, month = int(match.group(1)), int(match.group(2))
    if not EARLIEST_DATE.year <= year <= LATEST_DATE.year:
        raise ValueError(f"must be a month between {EARLIEST_DATE:%Y-%m} and "
                         f"{LATEST_DATE:%Y-%m}")
    return month_range(date(year, month, 1))


def parse_clock(raw: str) -> time:
    """A strict `HH:MM` (00:00 to 23:59) time of day; ValueError otherwise."""
    if not isinstance(raw, str) or not _CLOCK.fullmatch(raw):
        raise ValueError("must be a time HH:MM from 00:00 to 23:59")
    return time(int(raw[:2]), int(raw[3:]))


@dataclass(frozen=True)
class Day(Rule):
    """A body field holding a local calendar date `YYYY-MM-DD`; parsed to a `date`."""

    def check(self, value: Any) -> Any:
        try:
            return parse_date(value)
        except ValueError as exc:
            raise FieldInvalid(str(exc)) from None


@dataclass(frozen=True)
class ClockTime(Rule):
    """A body field holding a local time of day `HH:MM`; kept as the checked string."""

    def check(self, value: Any) -> Any:
        try:
            parse_clock(value)
        except ValueError as exc:
            raise FieldInvalid(str(exc)) from None
        return value
