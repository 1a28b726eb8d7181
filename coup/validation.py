"""Strict input rules for JSON bodies and query strings (COUP.md §1 item 9).

A schema is a mapping of field name to a rule. `parse_body` rejects unknown fields, checks exact
JSON types (no "1" for 1), cleans strings (NFC, trim, control characters removed; newline and tab
kept in multi-line fields), counts lengths in code points after cleaning, and reports every
failing field at once as one VALIDATION_ERROR.

Checks that come after the schema (one field against another, a bound from the settings, "today
or later") add to the same report: `parse_fields` puts the failing fields into a `Problems` and
returns the fields that passed, the later checks run on those and add theirs, and
`Problems.raise_if_any()` raises them all together (COUP.md §1 item 6).

Numbers and dates are bounded by what the store and the clock can represent: integers by their
rule's real bounds (int64 when nothing tighter applies), dates and instants by `EARLIEST_DATE`
and `LATEST_DATE`; every message names the bound it enforces.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar
from urllib.parse import urlsplit

from coup.errors import ValidationError

# Sentinel for "the field was not sent" in PATCH bodies, as opposed to an explicit null.
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT", "__bool__": lambda s: False})()

_CONTROL_EXCEPT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ALL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
# Every date a client sends, and every instant, must fall in this range. The top leaves a year
# below Python's datetime.max (9999-12-31): the server turns a range's last day into the next
# day's local midnight and shifts local times by the zone's offset (up to 14 hours), and both
# must stay representable; stopping at a year's end keeps every month of the range whole. The
# bottom is far above datetime.min (year 1, where the same shifts overflow) and above the
# local-mean-time offsets zone data gives for years before standard time (Asia/Seoul used
# +08:27:52 until 1908); no study schedule, due date or search needs an earlier day.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(9998, 12, 31)
EARLIEST_INSTANT = datetime.combine(EARLIEST_DATE, time.min)
LATEST_INSTANT = datetime.combine(LATEST_DATE, time.max)
DATE_RANGE_REASON = f"must be between {EARLIEST_DATE} and {LATEST_DATE}"
# Query integers longer than this are out of every bound without being converted.
_QUERY_INT = re.compile(r"-?[0-9]{1,18}")

T = TypeVar("T")


class FieldInvalid(Exception):
    """One field's value breaks its rule; the message says why, for `fields`."""


class Problems:
    """The failing fields of one request, gathered over every layer of its checks.

    A layer adds what it finds; later layers check only the fields that passed earlier ones,
    so each field keeps the first reason found for it. `raise_if_any` raises them all as one
    VALIDATION_ERROR.
    """

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}

    def add(self, name: str, reason: str) -> None:
        self.fields.setdefault(name, reason)

    def __contains__(self, name: object) -> bool:
        return name in self.fields

    def __bool__(self) -> bool:
        return bool(self.fields)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Run a check that raises VALIDATION_ERROR; its fields are added here instead."""
        try:
            yield
        except ValidationError as exc:
            for name, reason in (exc.fields or {}).items():
                self.add(name, reason)

    def check(self, parse: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """`parse(*args, **kwargs)`, or None with its fields added when it fails."""
        with self.collect():
            return parse(*args, **kwargs)
        return None

    def raise_if_any(self) -> None:
        if self.fields:
            raise ValidationError(self.fields)


def range_reason(low: int, high: int) -> str:
    return f"must be between {low} and {high}"


def clean_text(value: str, *, multiline: bool = False) -> str:
    """NFC-normalise, strip control characters (keeping newline and tab when multi-line), trim."""
    value = unicodedata.normalize("NFC", value)
    pattern = _CONTROL_EXCEPT_NEWLINE_TAB if multiline else _ALL_CONTROL
    return pattern.sub("", value).strip()


@dataclass(frozen=True)
class Rule:
    required: bool = True
    nullable: bool = False

    def check(self, value: Any) -> Any:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Rule):
    min_len: int = 0
    max_len: int = 255
    multiline: bool = False
    pattern: re.Pattern[str] | None = None
    pattern_reason: str = "has characters that are not allowed"
    lower: bool = False
    extra: Callable[[str], None] | None = None

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldInvalid("must be a string")
        text = clean_text(value, multiline=self.multiline)
        if self.lower:
            text = text.lower()
        if text == "" and not self.required:
            # An empty string in an optional field means null (COUP.md §1 item 9).
            return None
        if len(text) < self.min_len:
            raise FieldInvalid(f"must be at least {self.min_len} characters")
        if len(text) > self.max_len:
            raise FieldInvalid(f"must be at most {self.max_len} characters")
        if self.pattern is not None and not self.pattern.fullmatch(text):
            raise FieldInvalid(self.pattern_reason)
        if self.extra is not None:
            self.extra(text)
        return text


@dataclass(frozen=True)
class Email(Text):
    max_len: int = 255
    lower: bool = True
    pattern: re.Pattern[str] | None = EMAIL_PATTERN
    pattern_reason: str = "must be a valid email address"


@dataclass(frozen=True)
class Password(Rule):
    """Passwords are checked by the password policy, not cleaned: every character counts."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldInvalid("must be a string")
        if value == "":
            raise FieldInvalid("is required")
        if len(value) > 1024:
            raise FieldInvalid("is too long")
        return value


@dataclass(frozen=True)
class Integer(Rule):
    """A JSON integer within [low, high]: the field's real bounds, int64 when none is tighter
    (a bound that depends on a setting is put in the schema when the request is parsed)."""

    low: int = INT64_MIN
    high: int = INT64_MAX

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldInvalid("must be an integer")
        if not self.low <= value <= self.high:
            raise FieldInvalid(range_reason(self.low, self.high))
        return value


@dataclass(frozen=True)
class Boolean(Rule):
    def check(self, value: Any) -> Any:
        if not isinstance(value, bool):
            raise FieldInvalid("must be true or false")
        return value


@dataclass(frozen=True)
class Choice(Rule):
    values: tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        if not isinstance(value, str) or value not in self.values:
            raise FieldInvalid(f"must be one of {', '.join(self.values)}")
        return value


@dataclass(frozen=True)
class Instant(Rule):
    """An ISO-8601 instant with a zone (`Z` or an offset); returned as naive UTC."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise FieldInvalid("must be an ISO-8601 timestamp")
        return parse_instant(value)


@dataclass(frozen=True)
class TextList(Rule):
    item: Text = field(default_factory=lambda: Text(max_len=20))
    max_items: int = 10

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise FieldInvalid("must be a list")
        if len(value) > self.max_items:
            raise FieldInvalid(f"must have at most {self.max_items} items")
        return [self.item.check(entry) for entry in value]


@dataclass(frozen=True)
class ListShape(Rule):
    """Only the shape (a JSON list): the caller checks the items itself, so that each problem
    is named with its index (`tags[2]`)."""

    def check(self, value: Any) -> Any:
        if not isinstance(value, list):
            raise FieldInvalid("must be a list")
        return value


def parse_instant(value: str) -> datetime:
    """An ISO-8601 instant with a zone, as naive UTC within the representable range."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FieldInvalid("must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise FieldInvalid("must include a time zone (Z or an offset)")
    try:
        instant = parsed.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # the offset moves it past year 1 or 9999
        raise FieldInvalid(DATE_RANGE_REASON) from None
    if not EARLIEST_INSTANT <= instant <= LATEST_INSTANT:
        raise FieldInvalid(DATE_RANGE_REASON)
    return instant


def check_date_range(day: date) -> date:
    """`day` itself when it lies in [EARLIEST_DATE, LATEST_DATE]; FieldInvalid otherwise."""
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise FieldInvalid(DATE_RANGE_REASON)
    return day


def parse_fields(body: Any, schema: Mapping[str, Rule], problems: Problems, *,
                 partial: bool = False) -> dict[str, Any]:
    """Validate a decoded JSON body against `schema`: the fields that passed are returned and
    every failing one is added to `problems`, so later checks can still look at the rest.

    With `partial` (PATCH), absent fields are left out of the result and at least one known
    field must be present; `null` is kept for nullable fields, meaning "clear it".
    """
    if not isinstance(body, dict):
        problems.add("body", "must be a JSON object")
        return {}
    found = len(problems.fields)
    result: dict[str, Any] = {}
    for name in body:
        if name not in schema:
            problems.add(name, "is not a known field")
    for name, rule in schema.items():
        if name not in body:
            if rule.required and not partial:
                problems.add(name, "is required")
            continue
        value = body[name]
        if value is None:
            if rule.nullable or not rule.required:
                result[name] = None
            else:
                problems.add(name, "must not be null")
            continue
        try:
            checked = rule.check(value)
        except FieldInvalid as exc:
            problems.add(name, str(exc))
            continue
        if checked is None and rule.required and not rule.nullable:
            problems.add(name, "is required")
            continue
        result[name] = checked
    if partial and len(problems.fields) == found and not result:
        problems.add("body", "must contain at least one field")
    return result


def parse_body(
    body: Any, schema: Mapping[str, Rule], *, partial: bool = False
) -> dict[str, Any]:
    """`parse_fields` for a body with no later checks: VALIDATION_ERROR on any failing field."""
    problems = Problems()
    result = parse_fields(body, schema, problems, partial=partial)
    problems.raise_if_any()
    return result


def parse_query_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?[0-9]+", raw):
        raise ValidationError({name: "must be an integer"})
    # Far too many digits is out of range as well; it is never converted (Python refuses
    # to convert more than 4300 digits, and no bound here needs more than 18).
    value = int(raw) if _QUERY_INT.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ValidationError({name: range_reason(low, high)})
    return value


def parse_query_bool(raw: str | None, name: str, default: bool | None) -> bool | None:
    if raw is None or raw == "":
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise ValidationError({name: "must be true or false"})


# Ids are opaque 1-32 character strings (COUP.md §1 item 3).
ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Ids in bodies are looked up, not parsed: anything unknown is NOT_FOUND, as in paths.
USER_ID = Text(max_len=64)


@dataclass(frozen=True)
class OptionalChoice(Choice):
    """A Choice where "" means null, like the optional text fields (§1 item 9)."""

    def check(self, value: Any) -> Any:
        if value == "" and not self.required:
            return None
        return super().check(value)


def query_choice(raw: str | None, name: str, values: tuple[str, ...],
                 default: str | None = None) -> str | None:
    """A query parameter restricted to `values`; absent or empty means `default`."""
    if raw is None or raw == "":
        return default
    if raw not in values:
        raise ValidationError({name: f"must be one of {', '.join(values)}"})
    return raw


def _https_url(value: str) -> None:
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. an unclosed "[" in the host ("Invalid IPv6 URL")
        raise FieldInvalid("must be an https:// URL") from None
    if parts.scheme != "https" or not parts.hostname or any(c.isspace() for c in value):
        raise FieldInvalid("must be an https:// URL")


# An image given by URL (avatars, group images): https only.
AVATAR_URL = Text(required=False, nullable=True, max_len=500, extra=_https_url)
