"""Study files in the database (COUP.md §7.9): upload and delete with their events, the
browse queries, storage use, and download counting.

`storage_used` is only changed under the study lock (§1 item 16), in the same transaction as
the row it accounts for, so two uploads racing for the last bytes of the quota cannot both win.
The bytes themselves are moved in and removed by the handler (coup/file_storage.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from peewee import JOIN, fn

from coup.errors import ApiError, Forbidden, NotFound
from coup.jsonutil import iso
from coup.pagination import Page, PageRequest, paginate
from coup.store.db import db_task, db_transaction
from coup.store.events import append_event, db_write, lock_study
from coup.store.fields import utcnow
from coup.store.models import File, FileDownloadLog, Message, NoticeFile, Study, User
from coup.store.notifications import notify, render
from coup.store.rows import tuple_rows
from coup.store.study_access import access_study, active_member_ids
from coup.store.views import user_summary

# `folder` query value that lists every folder at once (§7.9 GET files).
ALL_FOLDERS = "*"
USER_AGENT_MAX_CHARS = 255
IP_MAX_CHARS = 45


def download_url(study_id: str, file_id: str) -> str:
    return f"/api/studies/{study_id}/files/{file_id}/download"


def file_ref(file: File) -> dict[str, Any]:
    """FileRef (§6): how messages and notices point at a file."""
    return {"id": file.id, "name": file.name, "url": download_url(file.study_id, file.id),
            "type": file.type, "size": file.size}


def file_view(file: File, uploader: User) -> dict[str, Any]:
    """File (§6)."""
    return {
        "id": file.id,
        "study_id": file.study_id,
        "name": file.name,
        "size": file.size,
        "type": file.type,
        "category": file.category,
        "folder": file.folder,
        "url": download_url(file.study_id, file.id),
        "downloads": file.downloads,
        "last_downloaded_at": iso(file.last_downloaded_at),
        "uploader": user_summary(uploader),
        "created_at": iso(file.created_at),
    }


def storage_view(used_bytes: int, quota_bytes: int) -> dict[str, Any]:
    percent = round(100.0 * used_bytes / quota_bytes, 2) if quota_bytes > 0 else 0.0
    return {"used_bytes": used_bytes, "quota_bytes": quota_bytes, "usage_percent": percent}


def _files_with_uploaders() -> Any:
    return File.select(File, User).join(User, JOIN.INNER, on=(File.uploader == User.id))


# --- upload ------------------------------------------------------------------------------------


@db_task
def check_upload_access(study_id: str, user_id: str) -> str:
    """MEMBER access for an upload; returns the study's status for the CLOSED check."""
    return access_study(study_id, user_id).study.status


@dataclass(frozen=True)
class FileDraft:
    """A received, checked upload whose bytes already sit at `storage_key`."""

    file_id: str
    name: str
    size: int
    mime: str
    category: str
    folder: str | None
    storage_key: str


@db_write
def create_file(study_id: str, user_id: str, draft: FileDraft,
                quota_bytes: int) -> dict[str, Any]:
    """Record an upload: quota check and `storage_used` under the study lock (rule 8), then
    `file:created` and FILE notifications to the other ACTIVE members."""
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    # The membership may have changed while the body streamed in; decide on the locked row.
    access_study(study_id, user_id, writable=True, study=study)
    if study.storage_used + draft.size > quota_bytes:
        raise ApiError("QUOTA_EXCEEDED")
    now = utcnow()
    file = File.create(id=draft.file_id, study=study_id, uploader=user_id, name=draft.name,
                       size=draft.size, type=draft.mime, category=draft.category,
                       folder=draft.folder, storage_key=draft.storage_key, created_at=now)
    used = study.storage_used + draft.size  # read under the lock: current
    Study.update(storage_used=used, updated_at=Study.updated_at).where(
        Study.id == study_id).execute()
    view = file_view(file, User.get_by_id(user_id))
    append_event(study_id, "file:created", {"file": view})
    notify(active_member_ids(study_id), "FILE", render("file", name=draft.name), study=study,
           data={"file_id": file.id}, actor_id=user_id)
    return {**view, "storage": storage_view(used, quota_bytes)}


# --- delete -----------------------------------------------------------------------------------


@db_write
def delete_file(study_id: str, file_id: str, user_id: str) -> str:
    """DELETE a file (uploader or ST-ADMIN, also in a CLOSED study); returns its storage key
    so the caller can remove the bytes after commit."""
    study = lock_study(study_id)
    if study is None:
        raise NotFound()
    access = access_study(study_id, user_id, study=study)
    file = File.select().where((File.id == file_id) & (File.study == study_id)).first()
    if file is None:
        raise NotFound()
    if file.uploader_id != user_id and not access.is_st_admin:
        raise Forbidden()
    # Messages keep their text and lose the file; notices lose the attachment link.
    Message.update(file=None).where(Message.file == file_id).execute()
    NoticeFile.delete().where(NoticeFile.file == file_id).execute()
    File.delete().where(File.id == file_id).execute()
    # The row is locked, so the value read is current; never below zero should it drift.
    Study.update(storage_used=max(0, study.storage_used - file.size),
                 updated_at=Study.updated_at).where(Study.id == study_id).execute()
    append_event(study_id, "file:deleted", {"file_id": file_id})
    return file.storage_key


# --- reads ------------------------------------------------------------------------------------


@db_task
def list_files(study_id: str, user_id: str, folder: str | None, category: str | None,
               name_contains: str | None, page: PageRequest) -> Page[dict[str, Any]]:
    """Files newest first; `folder` None is the root, ALL_FOLDERS every folder."""
    access_study(study_id, user_id)
    query = _files_with_uploaders().where(File.study == study_id)
    if folder is None:
        query = query.where(File.folder.is_null())
    elif folder != ALL_FOLDERS:
        query = query.where(File.folder == folder)
    if category is not None:
        query = query.where(File.category == category)
    if name_contains:
        query = query.where(File.name.contains(name_contains))
    query = query.order_by(File.created_at.desc(), File.id.desc())
    found = paginate(query, page)
    return Page([file_view(row, row.uploader) for row in found.items], found.total)


@db_task
def list_folders(study_id: str, user_id: str) -> list[dict[str, Any]]:
    """Every folder in use with its file count and size; the root (null) always comes first."""
    access_study(study_id, user_id)
    rows = tuple_rows(File.select(File.folder, fn.COUNT(File.id).alias("n"),
                                  fn.COALESCE(fn.SUM(File.size), 0).alias("total"))
                      .where(File.study == study_id).group_by(File.folder))
    counts = {folder: (int(n), int(total)) for folder, n, total in rows}
    root = counts.pop(None, (0, 0))
    folders = [{"folder": None, "file_count": root[0], "total_size": root[1]}]
    folders += [{"folder": name, "file_count": n, "total_size": total}
                for name, (n, total) in sorted(counts.items())]
    return folders


@db_task
def storage_summary(study_id: str, user_id: str, quota_bytes: int) -> dict[str, Any]:
    study = access_study(study_id, user_id).study
    count = File.select().where(File.study == study_id).count()
    return {**storage_view(study.storage_used, quota_bytes), "file_count": count}


@dataclass(frozen=True)
class DownloadTarget:
    file_id: str
    study_id: str
    name: str
    type: str
    category: str
    storage_key: str


@db_task
def access_download(study_id: str, file_id: str, user_id: str) -> DownloadTarget:
    """The file to send, for a MEMBER of its study; NOT_FOUND for another study's file."""
    access_study(study_id, user_id)
    file = File.select().where((File.id == file_id) & (File.study == study_id)).first()
    if file is None:
        raise NotFound()
    return DownloadTarget(file.id, study_id, file.name, file.type, file.category,
                          file.storage_key)


@db_transaction
def record_download(study_id: str, file_id: str, user_id: str, ip: str | None,
                    user_agent: str | None) -> None:
    """Count a (non-inline) download and log who took it (§7.9); no event."""
    now = utcnow()
    File.update(downloads=File.downloads + 1, last_downloaded_at=now).where(
        File.id == file_id).execute()
    FileDownloadLog.create(file=file_id, user=user_id, study=study_id,
                           ip=(ip or None) and ip[:IP_MAX_CHARS],
                           user_agent=(user_agent or None) and user_agent[:USER_AGENT_MAX_CHARS],
                           created_at=now)


def attachable_files(study_id: str, file_ids: list[str]) -> dict[str, File]:
    """The files of `study_id` among `file_ids` (for notice attachments); call in a worker."""
    if not file_ids:
        return {}
    return {f.id: f for f in File.select().where(
        (File.study == study_id) & File.id.in_(file_ids))}
