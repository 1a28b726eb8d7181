"""Chat messages: group-committed writes, edits, deletes, read cursors and history (COUP.md §7.7).

`write_messages` is the hot path: a study's RoomActor hands it every message that arrived since
its last flush and it writes them all in one transaction (group commit): the study row lock,
one insert for the messages, one seq bump and one insert for their events, and the CHAT
notifications for the members who are not in the room, coalesced per recipient.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from peewee import JOIN

from coup.errors import ApiError, Forbidden, NotFound, ValidationError
from coup.jsonutil import iso
from coup.store.db import database, db_task
from coup.store.events import append_event, db_write, lock_study
from coup.store.fields import new_id, utcnow
from coup.store.files import file_ref
from coup.store.models import File, Message, Study, StudyReadCursor, User
from coup.store.notifications import ChatItem, chat_preview, mark_chat_read_upto
from coup.store.study_access import access_study, active_member_ids
from coup.store.views import user_summary
from coup.validation import clean_text

MESSAGE_MAX_CHARS = 2000
CLIENT_ID_PATTERN = re.compile(r"[A-Za-z0-9-]{8,64}")


@dataclass(frozen=True, slots=True)
class MessageDraft:
    """A message as a client sent it, already cleaned; `client_id` is always set."""

    user_id: str
    content: str
    client_id: str
    file_id: str | None


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """What one draft became: the message (new or the original of a retry) or an error."""

    message: dict[str, Any] | None
    seq: int
    created: bool
    error: ApiError | None = None


def clean_content(raw: Any, *, has_file: bool) -> str:
    """Plain text, 1-2000 characters after cleaning (empty allowed with a file)."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValidationError({"content": "must be a string"})
    content = clean_text(raw, multiline=True)
    if not content and not has_file:
        raise ValidationError({"content": "must not be empty"})
    if len(content) > MESSAGE_MAX_CHARS:
        raise ValidationError({"content": f"must be at most {MESSAGE_MAX_CHARS} characters"})
    return content


def check_client_id(raw: Any) -> str | None:
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not CLIENT_ID_PATTERN.fullmatch(raw):
        raise ValidationError({"client_id": "must be 8-64 letters, digits or '-'"})
    return raw


def restriction_error(user: User, action: str, now: datetime) -> ApiError | None:
    if action in (user.restricted_actions or []) and user.restricted_until is not None \
            and user.restricted_until > now:
        return ApiError("RESTRICTED", details={"action": action,
                                               "restricted_until": iso(user.restricted_until)})
    return None


def message_view(message: Message, author: User, file: File | None) -> dict[str, Any]:
    return {
        "id": message.id,
        "client_id": message.client_id,
        "study_id": message.study_id,
        "seq": message.seq,
        "user": user_summary(author),
        "content": message.content,
        "file": file_ref(file) if file is not None else None,
        "created_at": iso(message.created_at),
        "updated_at": iso(message.updated_at),
        "edited": message.edited_at is not None,
    }


def chat_item(view: dict[str, Any]) -> ChatItem:
    """What a CHAT notification needs of one committed message (§8.2)."""
    file_name = view["file"]["name"] if view["file"] else None
    return ChatItem(view["id"], view["seq"], view["user"]["id"], view["user"]["name"],
                    chat_preview(view["content"], file_name))


def load_message(study_id: str, message_id: str) -> tuple[Message, User, File | None]:
    row = (Message.select(Message, User, File)
           .join(User, on=(Message.user == User.id))
           .switch(Message).join(File, JOIN.LEFT_OUTER, on=(Message.file == File.id))
           .where((Message.id == message_id) & (Message.study == study_id)
                  & Message.deleted_at.is_null())
           .first())
    if row is None:
        raise NotFound()
    file = row.file if row.file_id else None
    return row, row.user, file


@db_write
def edit_message(study_id: str, message_id: str, user_id: str, raw_content: Any) -> dict[str, Any]:
    study = access_study(study_id, user_id, study=lock_study(study_id)).study
    message, author, file = load_message(study_id, message_id)
    if message.user_id != user_id:
        raise Forbidden(message="only the author can edit a message")
    if study.status == "CLOSED":
        raise ApiError("STUDY_CLOSED")
    error = restriction_error(author, "MESSAGE", utcnow())
    if error is not None:
        raise error
    content = clean_content(raw_content, has_file=file is not None)
    now = utcnow()
    Message.update(content=content, edited_at=now, updated_at=now).where(
        Message.id == message_id).execute()
    message.content, message.edited_at, message.updated_at = content, now, now
    view = message_view(message, author, file)
    append_event(study_id, "chat:message-updated", {"message": view})
    return view


@db_write
def delete_message(study_id: str, message_id: str, user_id: str) -> None:
    study = lock_study(study_id)
    access = access_study(study_id, user_id, study=study)
    message, _, _ = load_message(study_id, message_id)
    if message.user_id != user_id and not access.is_st_admin:
        raise Forbidden(message="only the author or a study admin can delete a message")
    Message.update(deleted_at=utcnow(), deleted_by=user_id).where(
        Message.id == message_id).execute()
    append_event(study_id, "chat:message-deleted", {"message_id": message_id})


@dataclass(frozen=True)
class CursorMove:
    last_read_seq: int
    moved: bool
    unread_messages: int
    chat_notification_read: bool


@db_task
def move_read_cursor(study_id: str, user_id: str, seq: int) -> CursorMove:
    """Move the user's cursor forward (never back), clamped to the study's last seq."""
    with database.atomic():
        study_last = Study.select(Study.last_seq).where(Study.id == study_id).scalar() or 0
        target = max(0, min(seq, study_last))
        cursor = StudyReadCursor.select().where(
            (StudyReadCursor.study == study_id) & (StudyReadCursor.user == user_id)).first()
        moved = False
        if cursor is None:
            cursor = StudyReadCursor.create(id=new_id(), study=study_id, user=user_id,
                                            last_read_seq=target, updated_at=utcnow())
            moved = target > 0
        elif target > cursor.last_read_seq:
            StudyReadCursor.update(last_read_seq=target, updated_at=utcnow()).where(
                StudyReadCursor.id == cursor.id).execute()
            cursor.last_read_seq = target
            moved = True
        read = bool(mark_chat_read_upto(user_id, study_id, cursor.last_read_seq))
        unread = unread_messages_now(study_id, user_id, cursor.last_read_seq)
    return CursorMove(cursor.last_read_seq, moved, unread, read)


def unread_messages_now(study_id: str, user_id: str, last_read_seq: int) -> int:
    return Message.select().where(
        (Message.study == study_id) & (Message.user != user_id) & Message.deleted_at.is_null()
        & (Message.seq > last_read_seq)).count()


@db_task
def read_cursors(study_id: str) -> list[dict[str, Any]]:
    members = active_member_ids(study_id)
    cursors = {c.user_id: c.last_read_seq for c in StudyReadCursor.select().where(
        (StudyReadCursor.study == study_id) & StudyReadCursor.user.in_(members))}
    return [{"user_id": uid, "last_read_seq": cursors.get(uid, 0)} for uid in members]


def _message_page_query(study_id: str):  # type: ignore[no-untyped-def]
    return (Message.select(Message, User, File)
            .join(User, on=(Message.user == User.id))
            .switch(Message).join(File, JOIN.LEFT_OUTER, on=(Message.file == File.id))
            .where((Message.study == study_id) & Message.deleted_at.is_null()))


def _views(rows: list[Message]) -> list[dict[str, Any]]:
    return [message_view(r, r.user, r.file if r.file_id else None) for r in rows]


@db_task
def history_page(study_id: str, before_seq: int | None, after_seq: int | None,
                 limit: int) -> tuple[list[dict[str, Any]], bool]:
    """A page of messages in ascending seq, and whether more exist in the travel direction."""
    query = _message_page_query(study_id)
    if after_seq is not None:
        rows = list(query.where(Message.seq > after_seq).order_by(Message.seq.asc())
                    .limit(limit + 1))
        more = len(rows) > limit
        return _views(rows[:limit]), more
    if before_seq is not None:
        query = query.where(Message.seq < before_seq)
    rows = list(query.order_by(Message.seq.desc()).limit(limit + 1))
    more = len(rows) > limit
    return _views(list(reversed(rows[:limit]))), more


@db_task
def search_messages(study_id: str, q: str | None, start: datetime | None, end: datetime | None,
                    user_id: str | None, page: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    query = _message_page_query(study_id)
    if q:
        query = query.where(Message.content.contains(q))
    if start is not None:
        query = query.where(Message.created_at >= start)
    if end is not None:
        query = query.where(Message.created_at < end)
    if user_id:
        query = query.where(Message.user == user_id)
    total = query.count()
    rows = list(query.order_by(Message.created_at.desc(), Message.seq.desc())
                .paginate(page, limit))
    return _views(rows), total



@db_task
def check_can_post(study_id: str, user_id: str) -> None:
    """The checks a REST post makes before validation: MEMBER, STUDY_CLOSED, RESTRICTED."""
    access_study(study_id, user_id, writable=True)
    user = User.get_by_id(user_id)
    error = restriction_error(user, "MESSAGE", utcnow())
    if error is not None:
        raise error


@db_task
def check_member(study_id: str, user_id: str) -> int:
    """MEMBER access; returns the study's last seq (for cursor pagination)."""
    return access_study(study_id, user_id).study.last_seq


@db_task
def message_seq(study_id: str, message_id: str, user_id: str) -> int:
    """MEMBER access, then the seq of a live message of this study (NOT_FOUND otherwise)."""
    access_study(study_id, user_id)
    seq = Message.select(Message.seq).where(
        (Message.id == message_id) & (Message.study == study_id)
        & Message.deleted_at.is_null()).scalar()
    if seq is None:
        raise NotFound()
    return int(seq)


@db_task
def find_by_client_id(study_id: str, user_id: str, client_id: str) -> WriteOutcome | None:
    """The message an earlier send with this client id created, as a replay outcome."""
    row = (Message.select(Message, User, File)
           .join(User, on=(Message.user == User.id))
           .switch(Message).join(File, JOIN.LEFT_OUTER, on=(Message.file == File.id))
           .where((Message.study == study_id) & (Message.user == user_id)
                  & (Message.client_id == client_id))
           .first())
    if row is None:
        return None
    return WriteOutcome(message_view(row, row.user, row.file if row.file_id else None),
                        row.seq, False)
