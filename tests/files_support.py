"""Shared helpers for the notice and file tests (test_notices.py, test_files*.py)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from coup.store.db import db_task, db_transaction
from coup.store.events import CommittedEvent, events_after
from coup.store.fields import new_id, utcnow
from coup.store.models import File, FileDownloadLog, Message, Notice, NoticeFile, NoticeView
from coup.store.system_settings import SETTING_SPECS, store_setting
from tests.conftest import LiveServer, override_node_settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4 + b"%%EOF\n"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(200)
EXE = b"MZ\x90\x00\x03\x00\x00\x00" + bytes(120)


@db_transaction
def make_file_row(study_id: str, uploader_id: str, name: str = "notes.pdf", size: int = 10,
                  folder: str | None = None, category: str = "DOCUMENT",
                  mime: str = "application/pdf") -> str:
    """A file row without bytes, for tests that only need something to point at."""
    file_id = new_id()
    File.create(id=file_id, study=study_id, uploader=uploader_id, name=name, size=size,
                type=mime, category=category, folder=folder,
                storage_key=f"studies/{study_id}/{file_id}.pdf", created_at=utcnow())
    return file_id


@db_transaction
def make_message_with_file(study_id: str, user_id: str, file_id: str, seq: int) -> str:
    message_id = new_id()
    now = utcnow()
    Message.create(id=message_id, study=study_id, user=user_id, client_id=new_id(), seq=seq,
                   content="see the file", file=file_id, created_at=now, updated_at=now)
    return message_id


@db_task
def file_row(file_id: str) -> dict[str, Any] | None:
    return File.select().where(File.id == file_id).dicts().first()


@db_task
def message_file_id(message_id: str) -> str | None:
    return Message.get_by_id(message_id).file_id


@db_task
def download_logs(file_id: str) -> list[dict[str, Any]]:
    return list(FileDownloadLog.select().where(FileDownloadLog.file == file_id).dicts())


@db_task
def notice_links(notice_id: str) -> tuple[int, int, bool]:
    """(view rows, attachment rows, notice exists)."""
    return (NoticeView.select().where(NoticeView.notice == notice_id).count(),
            NoticeFile.select().where(NoticeFile.notice == notice_id).count(),
            Notice.select().where(Notice.id == notice_id).exists())


def events(server: LiveServer, study_id: str, since: int = 0) -> list[CommittedEvent]:
    return server.call(events_after(study_id, since, 10_000))


def assert_consecutive(found: list[CommittedEvent], first: int = 1) -> None:
    assert [e.seq for e in found] == list(range(first, first + len(found)))
    for event in found:
        assert event.payload["seq"] == event.seq


def upload(http: httpx.Client, study_id: str, name: str, content: bytes,
           mime: str = "application/octet-stream", **fields: str) -> httpx.Response:
    return http.post(f"/api/studies/{study_id}/files", files={"file": (name, content, mime)},
                     data=fields)


def stored_path(server: LiveServer, study_id: str, file_id: str, extension: str) -> Path:
    return server.settings.upload_dir / "studies" / study_id / f"{file_id}.{extension}"


@contextmanager
def system_setting(server: LiveServer, key: str, value: Any) -> Iterator[None]:
    """Store a system setting for the length of a block, then put the default back."""
    server.call(store_setting(key, value))
    server.services.system_settings.invalidate()
    try:
        yield
    finally:
        server.call(store_setting(key, SETTING_SPECS[key].default))
        server.services.system_settings.invalidate()


@contextmanager
def node_settings(server: LiveServer, **changes: Any) -> Iterator[None]:
    """Replace the node's environment settings (e.g. the study quota) for a block."""
    with override_node_settings(server, **changes):
        yield
