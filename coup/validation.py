"""Strict input rules for JSON bodies and query strings (COUP.md §1 item 9).

A schema is a mapping of field name to a rule. `parse_body` rejects unknown fields, checks exact
JSON types (no "1" for 1), cleans strings (NFC, trim, control characters removed; newline and tab
kept in multi-line fields), counts lengths in code points after cleaning, and reports every
failing field at once as one VALIDATION_ERROR.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from coup.errors import ValidationError

# Sentinel for "the field was not sent" in PATCH bodies, as opposed to an explicit null.
ABSENT: Any = type("Absent", (), {"__repr__": lambda self: "ABSENT", "__bool__": lambda s: False})()

_CONTROL_EXCEPT_NEWLINE_TAB = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ALL_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class FieldInvalid(Exception):
    """One field's value breaks its rule; the message says why, for `fields`."""


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
    low: int = -(2**63)
    high: int = 2**63 - 1

    def check(self, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldInvalid("must be an integer")
        if not self.low <= value <= self.high:
            raise FieldInvalid(f"must be between {self.low} and {self.high}")
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
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise FieldInvalid("must be an ISO-8601 timestamp") from None
    if parsed.tzinfo is None:
        raise FieldInvalid("must include a time zone (Z or an offset)")
    return parsed.astimezone(UTC).replace(tzinfo=None)


def parse_body(
    body: Any, schema: Mapping[str, Rule], *, partial: bool = False
) -> dict[str, Any]:
    """Validate a decoded JSON body against `schema`.

    With `partial` (PATCH), absent fields are left out of the result and at least one known
    field must be present; `null` is kept for nullable fields, meaning "clear it".
    """
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    problems: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name in body:
        if name not in schema:
            problems[name] = "is not a known field"
    for name, rule in schema.items():
        if name not in body:
            if rule.required and not partial:
                problems[name] = "is required"
            continue
        value = body[name]
        if value is None:
            if rule.nullable or not rule.required:
                result[name] = None
            else:
                problems[name] = "must not be null"
            continue
        try:
            result[name] = rule.check(value)
        except FieldInvalid as exc:
            problems[name] = str(exc)
            continue
        if result[name] is None and rule.required and not rule.nullable:
            problems[name] = "is required"
    if partial and not problems and not result:
        problems["body"] = "must contain at least one field"
    if problems:
        raise ValidationError(problems)
    return result


def parse_query_int(raw: str | None, name: str, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"-?\d{1,12}", raw):
        raise ValidationError({name: "must be an integer"})
    value = int(raw)
    if not low <= value <= high:
        raise ValidationError({name: f"must be between {low} and {high}"})
    return value


def parse_query_bool(raw: str | None, name: str, default: bool | None) -> bool | None:
    if raw is None or raw == "":
        return default
    if raw in ("true", "false"):
        return raw == "true"
    raise ValidationError({name: "must be true or false"})
