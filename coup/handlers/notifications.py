"""The notification centre (COUP.md §7.14): list, count, open, mark read, delete.

Notifications are only ever created by the server's triggers (§8), so there is no POST here.
Every write that moves the caller's unread count pushes `notification:unread-count {unread}` to
all of their sessions after commit, through the realtime front door.
"""

from __future__ import annotations

import logging
from typing import Any

from coup.actors.realtime import Realtime
from coup.errors import ValidationError
from coup.handlers.base import ApiHandler
from coup.pagination import pagination_view, parse_page
from coup.store import notification_center as center
from coup.store.enums import NOTIFICATION_TYPE
from coup.store.notifications import unread_count
from coup.validation import ID_PATTERN, parse_query_bool

log = logging.getLogger(__name__)

# DELETE /api/notifications/bulk takes 1 to this many distinct ids (§7.14).
BULK_DELETE_MAX_IDS = 100


def announce_unread_count(realtime: Realtime, user_id: str, unread: int) -> None:
    """Push `notification:unread-count` to the user's sessions, once the write has committed.
    A failed push never fails the request (§1 item 13): clients re-read the count."""
    try:
        realtime.unread_count_changed(user_id, unread)
    except Exception:
        log.exception("pushing the unread count of user %s failed", user_id)


def parse_filters(type_: str | None, is_read: str | None,
                  study_id: str | None) -> center.NotificationFilter:
    """Read the list filters; every failing one is reported at once."""
    problems: dict[str, str] = {}
    kind = None
    if type_:
        kind = type_.strip().upper()
        if kind not in NOTIFICATION_TYPE:
            problems["type"] = f"must be one of {', '.join(NOTIFICATION_TYPE)}"
    read = None
    try:
        read = parse_query_bool(is_read, "is_read", None)
    except ValidationError as exc:
        problems.update(exc.fields or {})
    if study_id and not ID_PATTERN.fullmatch(study_id):
        problems["study_id"] = "must be a study id"
    if problems:
        raise ValidationError(problems)
    return center.NotificationFilter(is_read=read, type=kind, study_id=study_id or None)


def parse_ids(body: Any) -> list[str]:
    """The `{ids}` body of a bulk delete: 1-100 distinct ids, each problem named."""
    if not isinstance(body, dict):
        raise ValidationError({"body": "must be a JSON object"})
    problems = {name: "is not a known field" for name in body if name != "ids"}
    ids = body.get("ids")
    if not isinstance(ids, list):
        problems["ids"] = "is required" if ids is None else "must be a list of ids"
        raise ValidationError(problems)
    if not 1 <= len(ids) <= BULK_DELETE_MAX_IDS:
        problems["ids"] = f"must hold 1 to {BULK_DELETE_MAX_IDS} ids"
    seen: set[str] = set()
    for index, value in enumerate(ids):
        if not isinstance(value, str) or not ID_PATTERN.fullmatch(value):
            problems[f"ids[{index}]"] = "must be a notification id"
        elif value in seen:
            problems[f"ids[{index}]"] = "is a duplicate"
        else:
            seen.add(value)
    if problems:
        raise ValidationError(problems)
    return ids


class NotificationsHandler(ApiHandler):
    async def get(self) -> None:
        user_id = self.user_id
        filters = parse_filters(self.get_query_argument("type", None),
                                self.get_query_argument("is_read", None),
                                self.get_query_argument("study_id", None))
        page = parse_page(self.get_query_argument("page", None),
                          self.get_query_argument("limit", None))
        found = await center.list_notifications(user_id, filters, page)
        self.ok(found.items, pagination=pagination_view(page, found.total))


class NotificationCountHandler(ApiHandler):
    async def get(self) -> None:
        self.ok({"unread": await unread_count(self.user_id)})


class MarkAllReadHandler(ApiHandler):
    async def post(self) -> None:
        user_id = self.user_id
        # Nothing to read from the body, but it must still be JSON if one is sent.
        self.json_body(allow_empty=True)
        result = await center.mark_all_read(user_id)
        if result.changed:
            announce_unread_count(self.services.realtime, user_id, result.unread)
        self.ok({"count": result.count, "unread": result.unread})

    async def patch(self) -> None:
        await self.post()


class BulkDeleteHandler(ApiHandler):
    async def delete(self) -> None:
        user_id = self.user_id
        ids = parse_ids(self.json_body())
        result = await center.delete_notifications(user_id, ids)
        if result.changed:
            announce_unread_count(self.services.realtime, user_id, result.unread)
        self.ok({"deleted": result.deleted, "not_found": result.not_found,
                 "unread": result.unread})


class NotificationHandler(ApiHandler):
    async def get(self, notification_id: str) -> None:
        self.ok(await center.load_notification(self.user_id, notification_id))

    async def delete(self, notification_id: str) -> None:
        user_id = self.user_id
        result = await center.delete_notification(user_id, notification_id)
        if result.changed:
            announce_unread_count(self.services.realtime, user_id, result.unread)
        self.ok({"unread": result.unread})


class NotificationReadHandler(ApiHandler):
    async def post(self, notification_id: str) -> None:
        user_id = self.user_id
        self.json_body(allow_empty=True)
        result = await center.mark_read(user_id, notification_id)
        if result.changed:
            announce_unread_count(self.services.realtime, user_id, result.unread)
        self.ok({"unread": result.unread})

    async def patch(self, notification_id: str) -> None:
        await self.post(notification_id)
