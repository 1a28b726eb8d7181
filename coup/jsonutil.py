"""JSON encoding shared by REST and WebSocket, and the one timestamp format (COUP.md §1 item 4)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import ujson


def dumps(value: Any) -> str:
    return ujson.dumps(value, ensure_ascii=False, escape_forward_slashes=False)


def loads(text: str | bytes) -> Any:
    return ujson.loads(text)


def iso(moment: datetime | None) -> str | None:
    """A naive-UTC datetime as `2025-03-01T09:30:00.000Z` (milliseconds, Z), or None."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def iso_date(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None
