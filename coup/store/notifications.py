"""The notification engine (COUP.md §8) and the notification centre's queries (§7.14).

Notifications are created only inside the `@db_write` transaction of the write that triggers
them; each created (or coalesced) row is recorded in the transaction's Effects and pushed as
`notification:new` after commit.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from coup.jsonutil import iso
from coup.store.db import database, db_task
from coup.store.events import NotificationPush, current_effects
from coup.store.fields import new_id, utcnow
from coup.store.models import Notification, Study

# COUP.md §4.3: message is at most 500 characters; §8.1: chat previews are cut to 50.
MESSAGE_MAX_CHARS = 500
CHAT_PREVIEW_CHARS = 50

# Templates by key: (Korean, English). Keys name the trigger, not just the type, because one
# type (MEMBER, ADMIN) has several triggers with different texts.
TEMPLATES: dict[str, tuple[str, str]] = {
    "join_request": ("{user}님이 {study} 가입을 신청했습니다", "{user} applied to join {study}"),
    "join_approved": ("{study} 가입이 승인되었습니다", "Your application to {study} was approved"),
    "join_rejected": ("{study} 가입 신청이 거절되었습니다{reason}",
                      "Your application to {study} was declined{reason}"),
    "member_joined": ("{user}님이 {study}에 참여했습니다", "{user} joined {study}"),
    "member_added": ("{study}에 멤버로 추가되었습니다", "You were added to {study}"),
    "kick": ("{study}에서 내보내졌습니다{reason}", "You were removed from {study}{reason}"),
    "role_change": ("{study}에서 역할이 {role_ko}(으)로 변경되었습니다",
                    "Your role in {study} is now {role}"),
    "ownership_transferred": ("{study}의 스터디장이 되었습니다",
                              "You are now the owner of {study}"),
    "notice": ("새 공지: {title}", "New notice: {title}"),
    "file": ("새 파일: {name}", "New file: {name}"),
    "event": ("새 일정: {title} ({date} {start_time})", "New event: {title} ({date} {start_time})"),
    "task": ("새 할 일: {title}", "New task assigned: {title}"),
    "chat_one": ("{sender}: {preview}", "{sender}: {preview}"),
    "chat_many": ("{study}에 새 메시지 {count}개", "{count} new messages in {study}"),
}
ROLE_NAMES_KO = {"ADMIN": "관리자", "MEMBER": "멤버", "OWNER": "스터디장"}

_language = "ko"


def configure_language(language: str) -> None:
    """Set once at start from COUP_LANGUAGE: the language of stored notification text."""
    global _language
    _language = language


def render(template: str, **params: Any) -> str:
    """Render a template in the platform language, cut to the column's 500 characters."""
    korean, english = TEMPLATES[template]
    if "reason" in params:
        # "A `: {reason}` suffix is left out when there is no reason" (§8.1).
        params["reason"] = f": {params['reason']}" if params["reason"] else ""
    if "role" in params:
        params.setdefault("role_ko", ROLE_NAMES_KO.get(params["role"], params["role"]))
    text = (english if _language == "en" else korean).format(**params)
    return text[:MESSAGE_MAX_CHARS]


def notification_view(row: Notification) -> dict[str, Any]:
    return {
        "id": row.id,
        "type": row.type,
        "message": row.message,
        "study_id": row.study_id,
        "study_name": row.study_name,
        "study_emoji": row.study_emoji,
        "data": row.data,
        "is_read": row.is_read,
        "created_at": iso(row.created_at),
    }


def notify(recipients: Iterable[str], kind: str, message: str, *, study: Study | None,
           data: dict[str, Any] | None, actor_id: str | None = None) -> list[Notification]:
    """Create one notification per recipient inside the current write's transaction.

    The actor is never notified of their own action (§8.1); duplicates are collapsed.
    """
    now = utcnow()
    rows = []
    for user_id in dict.fromkeys(recipients):
        if user_id == actor_id:
            continue
        row = Notification.create(
            id=new_id(), user=user_id, type=kind, message=message[:MESSAGE_MAX_CHARS],
            study_id=study.id if study else None, study_name=study.name if study else None,
            study_emoji=study.emoji if study else None, data=data or {}, is_read=False,
            created_at=now, updated_at=now,
        )
        rows.append(row)
        current_effects().notifications.append(NotificationPush(user_id,
                                                                notification_view(row)))
    return rows


def chat_preview(content: str, file_name: str | None) -> str:
    if not content and file_name:
        return f"📎 {file_name}"[:CHAT_PREVIEW_CHARS]
    return content[:CHAT_PREVIEW_CHARS]


@dataclass(frozen=True, slots=True)
class ChatItem:
    """One committed message, as the CHAT notification needs it."""

    message_id: str
    seq: int
    sender_id: str
    sender_name: str
    preview: str


def notify_chat(recipients: Iterable[str], study: Study, items: list[ChatItem]) -> None:
    """Create or coalesce each recipient's unread CHAT notification for the study (§8.2).

    One group commit may carry several messages: each recipient's row absorbs all of those not
    sent by the recipient, so the batch costs one read and one write per recipient.
    """
    recipients = list(dict.fromkeys(recipients))
    if not recipients or not items:
        return
    now = utcnow()
    unread = {row.user_id: row for row in Notification.select().where(
        Notification.user.in_(recipients) & (Notification.type == "CHAT")
        & (Notification.study_id == study.id) & ~Notification.is_read)}
    for user_id in recipients:
        theirs = [item for item in items if item.sender_id != user_id]
        if not theirs:
            continue
        last = theirs[-1]
        row = unread.get(user_id)
        count = len(theirs) + (int((row.data or {}).get("count", 1)) if row else 0)
        data = {"count": count, "last_message_id": last.message_id, "last_seq": last.seq,
                "sender_id": last.sender_id}
        if count == 1:
            message = render("chat_one", sender=last.sender_name, preview=last.preview)
        else:
            message = render("chat_many", study=study.name, count=count)
        if row is None:
            row = Notification.create(
                id=new_id(), user=user_id, type="CHAT", message=message, study_id=study.id,
                study_name=study.name, study_emoji=study.emoji, data=data, is_read=False,
                created_at=now, updated_at=now)
        else:
            Notification.update(data=data, message=message, created_at=now).where(
                Notification.id == row.id).execute()
            row.data, row.message, row.created_at = data, message, now
        current_effects().notifications.append(NotificationPush(user_id,
                                                                notification_view(row)))


def mark_chat_read_upto(user_id: str, study_id: str, seq: int) -> int:
    """Mark the unread CHAT notification read when the cursor reaches its last message."""
    now = utcnow()
    row = (Notification.select()
           .where((Notification.user == user_id) & (Notification.type == "CHAT")
                  & (Notification.study_id == study_id) & ~Notification.is_read)
           .first())
    if row is None or int((row.data or {}).get("last_seq", 0)) > seq:
        return 0
    return Notification.update(is_read=True, read_at=now).where(Notification.id == row.id
                                                                  ).execute()


def unread_count_now(user_id: str) -> int:
    # Plain SQL: it runs for every WebSocket connect (hello) and every notification push.
    cursor = database.execute_sql(
        f"SELECT COUNT(*) FROM notifications WHERE user_id = {database.param} AND NOT is_read",
        (user_id,))
    return cursor.fetchone()[0]


unread_count = db_task(unread_count_now)
