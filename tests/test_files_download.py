"""Study files after upload (COUP.md §7.9): download with its headers, ranges and inline
previews, browsing by folder and category, storage use, and deletion with `file:deleted`."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest

from coup.file_storage import retry_pending_deletions
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.files_support import (
    PDF,
    PNG,
    assert_consecutive,
    download_logs,
    events,
    file_row,
    make_message_with_file,
    message_file_id,
    notice_links,
    stored_path,
    upload,
)
from tests.membership_support import World, data, make_world


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


def _upload(world: World, user: ApiUser, name: str, content: bytes,
            mime: str = "application/octet-stream", **fields: str) -> dict[str, Any]:
    return data(upload(user.http, world.study_id, name, content, mime, **fields), 201)


def _download_path(world: World, file_id: str) -> str:
    return world.path(f"/files/{file_id}/download")


# --- download ---------------------------------------------------------------------------------


def test_download_sends_the_bytes_with_safe_headers_and_counts_it(
        server: LiveServer, world: World) -> None:
    member = world.member()
    file = _upload(world, world.owner, "회의 자료.pdf", PDF)

    response = member.http.get(_download_path(world, file["id"]),
                               headers={"User-Agent": "coup-test/1.0"})

    assert response.status_code == 200
    assert response.content == PDF
    assert response.headers["Content-Type"] == "application/pdf"
    assert response.headers["Content-Disposition"] == (
        "attachment; filename*=UTF-8''" + quote("회의-자료.pdf", safe=""))
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-File-Id"] == file["id"]
    assert response.headers["Content-Length"] == str(len(PDF))
    assert response.headers["Accept-Ranges"] == "bytes"
    row = server.call(file_row(file["id"]))
    assert row["downloads"] == 1 and row["last_downloaded_at"] is not None
    logs = server.call(download_logs(file["id"]))
    assert len(logs) == 1
    assert (logs[0]["user"], logs[0]["study"]) == (member.id, world.study_id)
    assert logs[0]["ip"] == "127.0.0.1" and logs[0]["user_agent"] == "coup-test/1.0"
    listed = data(member.http.get(world.path("/files")))
    assert listed[0]["downloads"] == 1 and listed[0]["last_downloaded_at"] is not None
    assert [e.type for e in events(server, world.study_id)] == ["file:created"]


@pytest.mark.parametrize(("name", "content", "sent_type"), [
    ("icon.svg", b"<svg xmlns='http://www.w3.org/2000/svg'/>", "application/octet-stream"),
    ("page.html", b"<html></html>", "application/octet-stream"),
    ("data.json", b"{}", "application/octet-stream"),
    ("notes.txt", b"plain", "text/plain"),
    ("photo.png", PNG, "image/png"),
])
def test_markup_and_code_download_as_octet_stream(world: World, name: str, content: bytes,
                                                  sent_type: str) -> None:
    file = _upload(world, world.owner, name, content)
    response = world.owner.http.get(_download_path(world, file["id"]))
    assert response.headers["Content-Type"] == sent_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_range_requests_get_partial_content(server: LiveServer, world: World) -> None:
    content = PDF + bytes(range(256)) * 2000  # ~0.5 MB: several read chunks
    file = _upload(world, world.owner, "long.pdf", content)
    path = _download_path(world, file["id"])
    http = world.owner.http

    middle = http.get(path, headers={"Range": "bytes=10-19"})
    assert middle.status_code == 206
    assert middle.content == content[10:20]
    assert middle.headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    assert middle.headers["Content-Length"] == "10"
    tail = http.get(path, headers={"Range": "bytes=-5"})
    assert tail.status_code == 206 and tail.content == content[-5:]
    rest = http.get(path, headers={"Range": "bytes=300000-"})
    assert rest.status_code == 206 and rest.content == content[300000:]
    clipped = http.get(path, headers={"Range": f"bytes=0-{len(content) + 99}"})
    assert clipped.status_code == 206 and clipped.content == content

    beyond = http.get(path, headers={"Range": f"bytes={len(content)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["Content-Range"] == f"bytes */{len(content)}"
    assert beyond.json()["success"] is False
    several = http.get(path, headers={"Range": "bytes=0-1,5-6"})
    assert several.status_code == 200 and several.content == content
    stale = http.get(path, headers={"Range": "bytes=0-1", "If-Range": '"other"'})
    assert stale.status_code == 200

    # Counted: the ones starting at byte 0 (clipped, several, stale), not the resumed parts.
    assert server.call(file_row(file["id"]))["downloads"] == 3


def test_inline_previews_are_for_media_only_and_not_counted(
        server: LiveServer, world: World) -> None:
    image = _upload(world, world.owner, "photo.png", PNG)
    svg = _upload(world, world.owner, "icon.svg", b"<svg/>")
    pdf = _upload(world, world.owner, "doc.pdf", PDF)
    http = world.owner.http

    response = http.get(_download_path(world, image["id"]), params={"inline": "true"})
    assert response.status_code == 200 and response.content == PNG
    assert response.headers["Content-Disposition"].startswith("inline")
    assert response.headers["Content-Type"] == "image/png"
    assert server.call(file_row(image["id"]))["downloads"] == 0
    assert server.call(download_logs(image["id"])) == []
    for refused in (svg, pdf):
        response = http.get(_download_path(world, refused["id"]), params={"inline": "true"})
        assert error_code(response) == "VALIDATION_ERROR"
    response = http.get(_download_path(world, image["id"]), params={"inline": "yes"})
    assert error_code(response) == "VALIDATION_ERROR"
    attachment = http.get(_download_path(world, image["id"]), params={"inline": "false"})
    assert attachment.headers["Content-Disposition"].startswith("attachment")


def test_missing_bytes_answer_file_gone(server: LiveServer, world: World) -> None:
    file = _upload(world, world.owner, "gone.pdf", PDF)
    stored_path(server, world.study_id, file["id"], "pdf").unlink()
    response = world.owner.http.get(_download_path(world, file["id"]))
    assert response.status_code == 410 and error_code(response) == "FILE_GONE"


def test_download_needs_membership_and_the_right_study(world: World, api: Api) -> None:
    file = _upload(world, world.owner, "doc.pdf", PDF)
    other_study = world.new_study()
    outsider = world.user()
    assert error_code(outsider.http.get(_download_path(world, file["id"]))) == "NOT_MEMBER"
    assert error_code(api.anonymous().get(_download_path(world, file["id"]))) == "UNAUTHORIZED"
    wrong = world.owner.http.get(f"/api/studies/{other_study}/files/{file['id']}/download")
    assert error_code(wrong) == "NOT_FOUND"
    unknown = world.owner.http.get(_download_path(world, "no-such-file"))
    assert error_code(unknown) == "NOT_FOUND"


def test_upload_dir_is_never_served_statically(server: LiveServer, world: World,
                                               api: Api) -> None:
    file = _upload(world, world.owner, "doc.pdf", PDF)
    key = f"studies/{world.study_id}/{file['id']}.pdf"
    http = api.anonymous()
    for path in (f"/{key}", f"/uploads/{key}", f"/media/{key}", f"/media/avatars/../../{key}",
                 f"/media/avatars/{file['id']}.pdf"):
        response = http.get(path)
        assert response.status_code == 404, path
        assert PDF not in response.content


# --- browse -----------------------------------------------------------------------------------


def test_files_are_listed_by_folder_category_and_name(world: World) -> None:
    member = world.member()
    root_doc = _upload(world, world.owner, "root-doc.pdf", PDF)
    root_img = _upload(world, member, "diagram.png", PNG)
    week1 = _upload(world, member, "week1-notes.pdf", PDF, folder="1주차")
    week2 = _upload(world, world.owner, "week2-photo.png", PNG, folder="2주차")
    http = member.http

    def ids(**params: str) -> list[str]:
        return [f["id"] for f in data(http.get(world.path("/files"), params=params))]

    assert ids() == [root_img["id"], root_doc["id"]]
    assert ids(folder="1주차") == [week1["id"]]
    assert ids(folder="*") == [week2["id"], week1["id"], root_img["id"], root_doc["id"]]
    assert ids(folder="*", category="IMAGE") == [week2["id"], root_img["id"]]
    assert ids(folder="*", q="WEEK") == [week2["id"], week1["id"]]
    assert ids(folder="*", q="%") == []
    page = http.get(world.path("/files"), params={"folder": "*", "limit": 3, "page": 2})
    assert [f["id"] for f in data(page)] == [root_doc["id"]]
    assert page.json()["pagination"]["total"] == 4
    assert error_code(http.get(world.path("/files"), params={"category": "PHOTO"})) == (
        "VALIDATION_ERROR")
    assert error_code(http.get(world.path("/files"), params={"q": "x" * 101})) == (
        "VALIDATION_ERROR")

    folders = data(http.get(world.path("/files/folders")))
    assert folders == [
        {"folder": None, "file_count": 2, "total_size": len(PDF) + len(PNG)},
        {"folder": "1주차", "file_count": 1, "total_size": len(PDF)},
        {"folder": "2주차", "file_count": 1, "total_size": len(PNG)},
    ]


def test_storage_reports_use_against_the_quota(server: LiveServer, world: World,
                                               api: Api) -> None:
    empty = data(world.owner.http.get(world.path("/files/storage")))
    quota = server.settings.study_quota_bytes
    assert empty == {"used_bytes": 0, "quota_bytes": quota, "usage_percent": 0.0,
                     "file_count": 0}
    assert data(world.owner.http.get(world.path("/files/folders"))) == [
        {"folder": None, "file_count": 0, "total_size": 0}]
    _upload(world, world.owner, "a.pdf", PDF)
    storage = data(world.member().http.get(world.path("/files/storage")))
    assert storage["used_bytes"] == len(PDF) and storage["file_count"] == 1
    assert storage["usage_percent"] == round(100 * len(PDF) / quota, 2)
    outsider = world.user()
    assert error_code(outsider.http.get(world.path("/files/storage"))) == "NOT_MEMBER"
    assert error_code(api.anonymous().get(world.path("/files/folders"))) == "UNAUTHORIZED"


# --- delete -----------------------------------------------------------------------------------


def test_uploader_or_admin_deletes_with_event_and_cleanup(
        server: LiveServer, world: World) -> None:
    member, other, admin = world.member(), world.member(), world.member("ADMIN")
    mine = _upload(world, member, "mine.pdf", PDF)
    theirs = _upload(world, other, "theirs.png", PNG)
    message_id = server.call(make_message_with_file(world.study_id, other.id, theirs["id"],
                                                    seq=900_000))
    notice = data(world.owner.http.post(world.path("/notices"), json={
        "title": "첨부 공지", "content": "파일 참고", "attachment_file_ids": [theirs["id"]]}), 201)

    assert error_code(member.http.delete(world.path(f"/files/{theirs['id']}"))) == "FORBIDDEN"
    assert data(member.http.delete(world.path(f"/files/{mine['id']}"))) is None
    assert data(admin.http.delete(world.path(f"/files/{theirs['id']}"))) is None
    assert error_code(admin.http.delete(world.path(f"/files/{theirs['id']}"))) == "NOT_FOUND"

    assert server.call(file_row(theirs["id"])) is None
    assert server.call(message_file_id(message_id)) is None
    assert server.call(notice_links(notice["id"]))[1] == 0
    assert data(world.owner.http.get(world.path(f"/notices/{notice['id']}")))[
        "attachments"] == []
    assert world.study()["storage_used"] == 0
    assert not stored_path(server, world.study_id, mine["id"], "pdf").exists()
    assert not stored_path(server, world.study_id, theirs["id"], "png").exists()

    found = events(server, world.study_id)
    assert [e.type for e in found] == ["file:created", "file:created", "notice:created",
                                       "file:deleted", "file:deleted"]
    assert_consecutive(found)
    assert found[3].payload == {"study_id": world.study_id, "seq": 4, "file_id": mine["id"]}
    assert found[4].payload == {"study_id": world.study_id, "seq": 5, "file_id": theirs["id"]}


def test_delete_follows_the_role_matrix(world: World, api: Api) -> None:
    file = _upload(world, world.member(), "doc.pdf", PDF)
    path = world.path(f"/files/{file['id']}")
    other_study = world.new_study()
    assert error_code(world.user().http.delete(path)) == "NOT_MEMBER"
    assert error_code(api.anonymous().delete(path)) == "UNAUTHORIZED"
    assert error_code(world.owner.http.delete(
        f"/api/studies/{other_study}/files/{file['id']}")) == "NOT_FOUND"
    assert world.owner.http.delete(path).status_code == 200


def test_closed_study_still_downloads_and_deletes(world: World) -> None:
    member = world.member()
    file = _upload(world, member, "doc.pdf", PDF)
    world.set_study(status="CLOSED")
    assert member.http.get(_download_path(world, file["id"])).content == PDF
    assert len(data(member.http.get(world.path("/files")))) == 1
    assert member.http.delete(world.path(f"/files/{file['id']}")).status_code == 200


def test_failed_byte_deletion_is_queued_for_the_purge_job(
        server: LiveServer, world: World) -> None:
    file = _upload(world, world.owner, "stuck.pdf", PDF)
    path = stored_path(server, world.study_id, file["id"], "pdf")
    path.unlink()
    path.mkdir()  # unlink() of a directory fails: the bytes "cannot be removed"
    (path / "keep").write_bytes(b"x")

    assert world.owner.http.delete(world.path(f"/files/{file['id']}")).status_code == 200
    assert server.call(file_row(file["id"])) is None
    trash = server.settings.upload_dir / ".trash"
    key = f"studies/{world.study_id}/{file['id']}.pdf"
    assert key in trash.read_text().splitlines()

    (path / "keep").unlink()
    path.rmdir()
    path.write_bytes(b"left behind")
    deleted, failing = retry_pending_deletions(server.settings.upload_dir)
    assert deleted >= 1 and failing == 0
    assert not path.exists()
    assert not trash.exists() or key not in trash.read_text()

