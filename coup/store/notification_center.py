"""The notification centre's reads and read-state writes (COUP.md §7.14).

Every function is scoped to its caller: a notification that belongs to someone else is
indistinguishable from a missing one (NOT_FOUND), so ids never leak. Writes return the caller's
unread count after the change and whether it moved, so the handler (and later the WebSocket
`notification:read`) can push `notification:unread-count` after commit, and only when it
changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coup.errors import NotFound
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction
from coup.store.fields import utcnow
from coup.store.models import Notification
from coup.store.notifications import notification_view, unread_count_now


@dataclass(frozen=True)
class NotificationFilter:
    """The list filters of `GET /api/notifications`; None means "no filter"."""

    is_read: bool | None = None
    type: str | None = None
    study_id: str | None = None


@dataclass(frozen=True)
class ReadStateChange:
    """The caller's unread count after a write, and whether the write changed it."""

    unread: int
    changed: bool


@dataclass(frozen=True)
class MarkedAll:
    """`mark-all-read`: how many notifications this call marked, and the unread count left."""

    count: int
    unread: int

    @property
    def changed(self) -> bool:
        return self.count > 0


@dataclass(frozen=True)
class BulkDeleted:
    """`DELETE /api/notifications/bulk`: deleted rows, ids not deleted (input order), unread."""

    deleted: int
    not_found: list[str]
    unread: int
    changed: bool


def access_notification(user_id: str, notification_id: str) -> Notification:
    """The caller's own notification; NOT_FOUND when it is missing or someone else's."""
    row = Notification.select().where(
        (Notification.id == notification_id) & (Notification.user == user_id)).first()
    if row is None:
        raise NotFound()
    return row


@db_task
def list_notifications(user_id: str, filters: NotificationFilter,
                       page: PageRequest) -> Page[dict[str, Any]]:
    """The caller's notifications, newest first (a coalesced CHAT row sorts by its latest
    message, §8.2); the id breaks ties so pages never overlap."""
    query = Notification.select().where(Notification.user == user_id)
    if filters.is_read is not None:
        query = query.where(Notification.is_read == filters.is_read)
    if filters.type is not None:
        query = query.where(Notification.type == filters.type)
    if filters.study_id is not None:
        query = query.where(Notification.study_id == filters.study_id)
    query = query.order_by(Notification.created_at.desc(), Notification.id.desc())
    found = paginate(query, page)
    return Page([notification_view(row) for row in found.items], found.total)


@db_task
def load_notification(user_id: str, notification_id: str) -> dict[str, Any]:
    return notification_view(access_notification(user_id, notification_id))


@db_transaction
def mark_read(user_id: str, notification_id: str) -> ReadStateChange:
    """Idempotent: a notification already read keeps its first `read_at`."""
    access_notification(user_id, notification_id)
    marked = (Notification.update(is_read=True, read_at=utcnow())
              .where((Notification.id == notification_id) & ~Notification.is_read)
              .execute())
    return ReadStateChange(unread_count_now(user_id), marked > 0)


@db_transaction
def mark_all_read(user_id: str) -> MarkedAll:
    marked = (Notification.update(is_read=True, read_at=utcnow())
              .where((Notification.user == user_id) & ~Notification.is_read)
              .execute())
    return MarkedAll(marked, unread_count_now(user_id))


@db_transaction
def delete_notification(user_id: str, notification_id: str) -> ReadStateChange:
    row = access_notification(user_id, notification_id)
    Notification.delete().where(Notification.id == row.id).execute()
    # Deleting a read notification leaves the unread count where it was.
    return ReadStateChange(unread_count_now(user_id), not row.is_read)


@db_transaction
def delete_notifications(user_id: str, ids: Sequence[str]) -> BulkDeleted:
    """Delete those of `ids` that are the caller's; the rest are reported, not refused."""
    owned = {
        row.id: row.is_read
        for row in Notification.select(Notification.id, Notification.is_read).where(
            Notification.id.in_(list(ids)) & (Notification.user == user_id))
    }
    deleted = 0
    if owned:
        deleted = Notification.delete().where(
            Notification.id.in_(list(owned)) & (Notification.user == user_id)).execute()
    not_found = [notification_id for notification_id in ids if notification_id not in owned]
    unread_deleted = any(not is_read for is_read in owned.values())
    return BulkDeleted(deleted, not_found, unread_count_now(user_id), unread_deleted)
