"""Dashboard (COUP.md §7.15): home, summary, recent activities, upcoming schedules, statistics
and the widget layout. Every endpoint is for the caller's own data (access level USER)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from coup import localtime
from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.store import dashboard, dashboard_statistics
from coup.store.dashboard import Clock
from coup.store.dashboard_statistics import (
    AGGREGATIONS,
    CUSTOM_MAX_DAYS,
    PERIODS,
    STAT_TYPES,
)
from coup.store.enums import NOTIFICATION_TYPE, WIDGET_TYPE
from coup.validation import (
    Boolean,
    Choice,
    Integer,
    Text,
    parse_body,
    parse_query_int,
    query_choice,
)

RECENT_ACTIVITIES_PAGE_LIMIT = 20
UPCOMING_DEFAULT_DAYS = 7
UPCOMING_MAX_DAYS = 30
UPCOMING_DEFAULT_LIMIT = 20
UPCOMING_MAX_LIMIT = 100
WIDGETS_MAX = 11
WIDGET_SCHEMA = {
    "id": Text(min_len=1, max_len=40, pattern=re.compile(r"[a-z0-9-]+"),
               pattern_reason="may use a-z, 0-9 and '-' only"),
    "type": Choice(values=WIDGET_TYPE),
    "title": Text(max_len=30),
    "position": Integer(low=0, high=WIDGETS_MAX - 1),
    "visible": Boolean(),
    "size": Choice(required=False, values=dashboard.WIDGET_SIZES),
}


class ClockedHandler(ApiHandler):
    def clock(self) -> Clock:
        # coup.localtime.utcnow is the clock tests shift; every feature reads the same one.
        return Clock(localtime.utcnow(), self.services.settings.tz)


class DashboardHandler(ClockedHandler):
    async def get(self) -> None:
        self.ok(await dashboard.load_dashboard(self.user_id, self.clock()))


class SummaryHandler(ApiHandler):
    async def get(self) -> None:
        self.ok(await dashboard.load_summary(self.user_id))


class RecentActivitiesHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        problems: dict[str, str] = {}
        types = None
        try:
            types = parse_types(self.get_query_argument("types", None))
        except ValidationError as exc:
            problems.update(exc.fields or {})
        try:
            page = parse_page(self.get_query_argument("page", None),
                              self.get_query_argument("limit", None),
                              default_limit=RECENT_ACTIVITIES_PAGE_LIMIT)
        except ValidationError as exc:
            problems.update(exc.fields or {})
        if problems:
            raise ValidationError(problems)
        found = await dashboard.list_recent_activities(user_id, types, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))


class UpcomingSchedulesHandler(ClockedHandler):
    async def get(self) -> None:
        user_id = self.user_id
        problems: dict[str, str] = {}
        values: dict[str, int] = {}
        for name, default, high in (("days", UPCOMING_DEFAULT_DAYS, UPCOMING_MAX_DAYS),
                                    ("limit", UPCOMING_DEFAULT_LIMIT, UPCOMING_MAX_LIMIT)):
            try:
                values[name] = parse_query_int(self.get_query_argument(name, None), name,
                                               default, 1, high)
            except ValidationError as exc:
                problems.update(exc.fields or {})
        if problems:
            raise ValidationError(problems)
        self.ok(await dashboard.load_upcoming_schedules(user_id, self.clock(), values["days"],
                                                        values["limit"]))


class StatisticsHandler(ClockedHandler):
    async def get(self) -> None:
        user_id = self.user_id
        clock = self.clock()
        arg = self.get_query_argument
        problems: dict[str, str] = {}
        choices: dict[str, str] = {}
        for name, values, default in (("type", STAT_TYPES, "OVERVIEW"),
                                      ("period", PERIODS, "THIS_MONTH"),
                                      ("aggregation", AGGREGATIONS, "DAY")):
            try:
                choices[name] = query_choice(arg(name, None), name, values, default) or default
            except ValidationError as exc:
                problems.update(exc.fields or {})
        start, end = custom_range(choices.get("period"), arg("start_date", None),
                                  arg("end_date", None), problems)
        if problems:
            raise ValidationError(problems)
        period = dashboard_statistics.resolve_period(choices["period"], clock.today, start, end,
                                                     choices["aggregation"])
        self.ok(await dashboard_statistics.load_statistics(user_id, choices["type"], clock,
                                                           period))


class WidgetsHandler(ApiHandler):
    async def get(self) -> None:
        self.ok(await dashboard.load_widgets(self.user_id, self.services.settings.language))

    async def patch(self) -> None:
        user_id = self.user_id
        widgets = parse_layout(self.json_body())
        self.ok(await dashboard.store_widgets(user_id, widgets, self.services.settings.language))


# --- query and body parsing -------------------------------------------------------------------


def parse_types(raw: str | None) -> list[str] | None:
    """`types`: comma-separated NotificationType values (any case); empty means all types."""
    if not raw:
        return None
    types = [part.strip().upper() for part in raw.split(",") if part.strip()]
    unknown = [kind for kind in types if kind not in NOTIFICATION_TYPE]
    if unknown:
        allowed = ", ".join(NOTIFICATION_TYPE)
        raise ValidationError({"types": f"has unknown types {', '.join(unknown)}; "
                                        f"use {allowed}"})
    return types or None


def custom_range(period: str | None, raw_start: str | None, raw_end: str | None,
                 problems: dict[str, str]) -> tuple[date | None, date | None]:
    """`start_date` and `end_date`: required with CUSTOM, refused with any other period."""
    if period != "CUSTOM":
        for name, raw in (("start_date", raw_start), ("end_date", raw_end)):
            if raw:
                problems[name] = "is only allowed with period=CUSTOM"
        return None, None
    parsed: dict[str, date] = {}
    for name, raw in (("start_date", raw_start), ("end_date", raw_end)):
        if not raw:
            problems[name] = "is required with period=CUSTOM"
            continue
        try:
            parsed[name] = localtime.parse_date(raw)
        except ValueError as exc:
            problems[name] = str(exc)
    start, end = parsed.get("start_date"), parsed.get("end_date")
    if start is not None and end is not None:
        if start > end:
            problems["end_date"] = "must not be before start_date"
        elif (end - start).days > CUSTOM_MAX_DAYS:
            problems["end_date"] = f"must be at most {CUSTOM_MAX_DAYS} days after start_date"
    return start, end


def parse_layout(body: Any) -> list[dict[str, Any]] | None:
    """PATCH /api/dashboard/widgets: `{widgets: [...]}` or `{reset: true}` (None: the default).

    Each widget's problems are named `widgets[i].field`; ids and positions must be unique.
    """
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    problems = {name: "is not a known field" for name in body if name not in ("widgets", "reset")}
    if "reset" in body:
        if body["reset"] is not True:
            problems["reset"] = "must be true (or send widgets instead)"
        elif "widgets" in body:
            problems["reset"] = "cannot be sent together with widgets"
        if problems:
            raise ValidationError(problems)
        return None
    raw = body.get("widgets")
    if not isinstance(raw, list) or not 1 <= len(raw) <= WIDGETS_MAX:
        problems["widgets"] = (f"must be a list of 1 to {WIDGETS_MAX} widgets"
                               if "widgets" in body else "is required (or send reset: true)")
        raise ValidationError(problems)
    widgets: list[dict[str, Any]] = []
    seen_ids: dict[str, int] = {}
    seen_positions: dict[int, int] = {}
    for index, item in enumerate(raw):
        try:
            widget = parse_body(item, WIDGET_SCHEMA)
        except ValidationError as exc:
            for name, reason in (exc.fields or {}).items():
                key = f"widgets[{index}]" if name == "body" else f"widgets[{index}].{name}"
                problems[key] = reason
            continue
        widget["size"] = widget.get("size") or dashboard.DEFAULT_WIDGET_SIZE
        if widget["id"] in seen_ids:
            problems[f"widgets[{index}].id"] = f"repeats widgets[{seen_ids[widget['id']]}].id"
        if widget["position"] in seen_positions:
            problems[f"widgets[{index}].position"] = (
                f"repeats widgets[{seen_positions[widget['position']]}].position")
        seen_ids.setdefault(widget["id"], index)
        seen_positions.setdefault(widget["position"], index)
        widgets.append({key: widget[key] for key in WIDGET_SCHEMA})
    if problems:
        raise ValidationError(problems)
    return widgets
