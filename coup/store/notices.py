"""Study notices (COUP.md §7.8): reads, the distinct-viewer count, and the writes with their
`notice:*` events and NOTICE notifications.

The pin limit is a counter other requests depend on, so every write that can pin checks it on
the locked study row (§1 item 16): two admins pinning at once cannot make a fourth pin.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from peewee import JOIN

from coup.errors import ApiError, Forbidden, NotFound, ValidationError
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.sanitize import preview
from coup.store.db import db_task, db_transaction
from coup.store.events import append_event, db_write, lock_study
from coup.store.fields import new_id, utcnow
from coup.store.files import attachable_files, file_ref
from coup.store.models import File, Notice, NoticeFile, NoticeView, User
from coup.store.notifications import notify, render
from coup.store.study_access import StudyAccess, access_study, active_member_ids
from coup.store.views import user_summary

MAX_PINNED = 3
LIST_PREVIEW_CHARS = 200


def notice_view(notice: Notice, author: User, attachments: list[File]) -> dict[str, Any]:
    """Notice (§6) with its full content."""
    return {
        "id": notice.id,
        "study_id": notice.study_id,
        "title": notice.title,
        "content": notice.content,
        "is_pinned": notice.is_pinned,
        "pinned_at": iso(notice.pinned_at),
        "is_important": notice.is_important,
        "views": notice.views,
        "author": user_summary(author),
        "attachments": [file_ref(f) for f in attachments],
        "created_at": iso(notice.created_at),
        "updated_at": iso(notice.updated_at),
    }


def attachments_of(notice_ids: list[str]) -> dict[str, list[File]]:
    """Attached files per notice, in the order they were given."""
    if not notice_ids:
        return {}
    rows = (NoticeFile.select(NoticeFile, File)
            .join(File, JOIN.INNER, on=(NoticeFile.file == File.id))
            .where(NoticeFile.notice.in_(notice_ids))
            .order_by(NoticeFile.created_at, NoticeFile.id))
    found: dict[str, list[File]] = defaultdict(list)
    for row in rows:
        found[row.notice_id].append(row.file)
    return found


def _with_author() -> Any:
    return Notice.select(Notice, User).join(User, JOIN.INNER, on=(Notice.author == User.id))


def load_notice_view(notice_id: str) -> dict[str, Any]:
    notice = _with_author().where(Notice.id == notice_id).get()
    return notice_view(notice, notice.author, attachments_of([notice_id]).get(notice_id, []))


def _notice_in(study_id: str, notice_id: str) -> Notice:
    notice = Notice.select().where((Notice.id == notice_id) & (Notice.study == study_id)).first()
    if notice is None:
        raise NotFound()
    return notice


def _lock_and_access(study_id: str, user_id: str, level: str, *,
                     writable: bool) -> StudyAccess:
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    return access_study(study_id, user_id, level, writable=writable, study=study)


def _refuse_if_pins_full(study_id: str, except_notice_id: str | None = None) -> None:
    query = Notice.select().where((Notice.study == study_id) & Notice.is_pinned)
    if except_notice_id is not None:
        query = query.where(Notice.id != except_notice_id)
    if query.count() >= MAX_PINNED:
        raise ApiError("PIN_LIMIT")


def _set_attachments(study_id: str, notice_id: str, file_ids: list[str]) -> None:
    files = attachable_files(study_id, file_ids)
    missing = [i for i in file_ids if i not in files]
    if missing:
        raise ValidationError({"attachment_file_ids": f"{missing[0]} is not a file of this study"})
    NoticeFile.delete().where(NoticeFile.notice == notice_id).execute()
    now = utcnow()
    # One microsecond apart, so the list keeps the order the author gave.
    if file_ids:
        NoticeFile.insert_many([
            {"id": new_id(), "notice": notice_id, "file": file_id,
             "created_at": now + timedelta(microseconds=index)}
            for index, file_id in enumerate(file_ids)
        ]).execute()


# --- reads ------------------------------------------------------------------------------------


@db_task
def check_access(study_id: str, user_id: str, level: str, *, writable: bool) -> None:
    """The endpoint's access level, checked before its body is read; the write checks again
    on the locked row."""
    access_study(study_id, user_id, level, writable=writable)


@db_task
def list_notices(study_id: str, user_id: str, pinned_only: bool, important_only: bool,
                 page: PageRequest) -> Page[dict[str, Any]]:
    """Pinned first (latest pin first), then newest; content cut to a plain-text preview."""
    access_study(study_id, user_id)
    query = _with_author().where(Notice.study == study_id)
    if pinned_only:
        query = query.where(Notice.is_pinned)
    if important_only:
        query = query.where(Notice.is_important)
    query = query.order_by(Notice.is_pinned.desc(), Notice.pinned_at.desc(),
                           Notice.created_at.desc(), Notice.id.desc())
    found = paginate(query, page)
    attached = attachments_of([n.id for n in found.items])
    items = []
    for notice in found.items:
        view = notice_view(notice, notice.author, attached.get(notice.id, []))
        view["content"], view["content_truncated"] = preview(notice.content, LIST_PREVIEW_CHARS)
        items.append(view)
    return Page(items, found.total)


@db_transaction
def open_notice(study_id: str, notice_id: str, user_id: str) -> dict[str, Any]:
    """The full notice; a member's first opening records a view and counts it (no event)."""
    access_study(study_id, user_id)
    _notice_in(study_id, notice_id)
    # The unique (notice, user) index makes a concurrent second "first view" a no-op.
    inserted = (NoticeView.insert(id=new_id(), notice=notice_id, user=user_id,
                                  viewed_at=utcnow())
                .on_conflict_ignore().as_rowcount().execute())
    if inserted:
        Notice.update(views=Notice.views + 1, updated_at=Notice.updated_at).where(
            Notice.id == notice_id).execute()
    return load_notice_view(notice_id)


# --- writes -----------------------------------------------------------------------------------


@db_write
def create_notice(study_id: str, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    access = _lock_and_access(study_id, user_id, "ST_ADMIN", writable=True)
    pinned = bool(fields.get("is_pinned"))
    if pinned:
        _refuse_if_pins_full(study_id)
    now = utcnow()
    notice = Notice.create(
        id=new_id(), study=study_id, author=user_id, title=fields["title"],
        content=fields["content"], is_pinned=pinned, pinned_at=now if pinned else None,
        is_important=bool(fields.get("is_important")), views=0, created_at=now,
        updated_at=now)
    _set_attachments(study_id, notice.id, fields.get("attachment_file_ids") or [])
    view = load_notice_view(notice.id)
    append_event(study_id, "notice:created", {"notice": view})
    notify(active_member_ids(study_id), "NOTICE", render("notice", title=notice.title),
           study=access.study, data={"notice_id": notice.id,
                                     "is_important": notice.is_important},
           actor_id=user_id)
    return view


@db_write
def update_notice(study_id: str, notice_id: str, user_id: str,
                  changes: dict[str, Any]) -> dict[str, Any]:
    """PATCH by the author or an ST-ADMIN; changing the pin needs ST-ADMIN (it is a pin)."""
    access = _lock_and_access(study_id, user_id, "MEMBER", writable=True)
    notice = _notice_in(study_id, notice_id)
    if notice.author_id != user_id and not access.is_st_admin:
        raise Forbidden()
    values: dict[str, Any] = {}
    for name in ("title", "content", "is_important"):
        if name in changes:
            values[name] = changes[name]
    if "is_pinned" in changes and changes["is_pinned"] != notice.is_pinned:
        if not access.is_st_admin:
            raise Forbidden()
        values.update(_pin_values(study_id, notice_id, changes["is_pinned"]))
    values["updated_at"] = utcnow()
    Notice.update(**values).where(Notice.id == notice_id).execute()
    if "attachment_file_ids" in changes:
        _set_attachments(study_id, notice_id, changes["attachment_file_ids"] or [])
    view = load_notice_view(notice_id)
    append_event(study_id, "notice:updated", {"notice": view})
    return view


@db_write
def toggle_pin(study_id: str, notice_id: str, user_id: str) -> dict[str, Any]:
    _lock_and_access(study_id, user_id, "ST_ADMIN", writable=True)
    notice = _notice_in(study_id, notice_id)
    values = _pin_values(study_id, notice_id, not notice.is_pinned)
    Notice.update(**values, updated_at=utcnow()).where(Notice.id == notice_id).execute()
    view = load_notice_view(notice_id)
    append_event(study_id, "notice:updated", {"notice": view})
    return view


def _pin_values(study_id: str, notice_id: str, pin: bool) -> dict[str, Any]:
    if not pin:
        return {"is_pinned": False, "pinned_at": None}
    _refuse_if_pins_full(study_id, except_notice_id=notice_id)
    return {"is_pinned": True, "pinned_at": utcnow()}


@db_write
def delete_notice(study_id: str, notice_id: str, user_id: str) -> None:
    """DELETE by the author or an ST-ADMIN, also in a CLOSED study (§10.2); files stay."""
    access = _lock_and_access(study_id, user_id, "MEMBER", writable=False)
    notice = _notice_in(study_id, notice_id)
    if notice.author_id != user_id and not access.is_st_admin:
        raise Forbidden()
    NoticeView.delete().where(NoticeView.notice == notice_id).execute()
    NoticeFile.delete().where(NoticeFile.notice == notice_id).execute()
    Notice.delete().where(Notice.id == notice_id).execute()
    append_event(study_id, "notice:deleted", {"notice_id": notice_id})

