"""File uploads (COUP.md §7.9 upload rules 1-8): streaming, cut-off, type and content checks,
the quota under concurrency, `file:created` and FILE notifications.

Downloads, browsing and deletion are in test_files_download.py.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coup.filetypes import MB
from tests.conftest import Api, LiveServer, error_code
from tests.files_support import (
    EXE,
    JPEG,
    PDF,
    PNG,
    assert_consecutive,
    events,
    file_row,
    node_settings,
    stored_path,
    system_setting,
    upload,
)
from tests.membership_support import World, data, make_world

FILE_KEYS = {"id", "study_id", "name", "size", "type", "category", "folder", "url",
             "downloads", "last_downloaded_at", "uploader", "created_at"}


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


def _tmp_files(server: LiveServer) -> list[Path]:
    directory = server.settings.upload_dir / "tmp"
    return [p for p in directory.iterdir() if p.is_file()] if directory.is_dir() else []


def _study_files(server: LiveServer, study_id: str) -> list[Path]:
    directory = server.settings.upload_dir / "studies" / study_id
    return sorted(directory.iterdir()) if directory.is_dir() else []


# --- success ----------------------------------------------------------------------------------


def test_member_uploads_a_file_with_event_notifications_and_storage(
        server: LiveServer, world: World) -> None:
    member = world.member(name="올린사람")
    admin = world.member("ADMIN")
    world.add(world.user(), status="PENDING")

    response = upload(member.http, world.study_id, "회의록.pdf", PDF, "application/pdf",
                      folder="  3월 자료 ")
    file = data(response, 201)

    assert set(file) == FILE_KEYS | {"storage"}
    assert file["name"] == "회의록.pdf" and file["size"] == len(PDF)
    assert file["type"] == "application/pdf" and file["category"] == "DOCUMENT"
    assert file["folder"] == "3월 자료" and file["downloads"] == 0
    assert file["uploader"] == {"id": member.id, "name": "올린사람", "avatar": None}
    assert file["url"] == f"/api/studies/{world.study_id}/files/{file['id']}/download"
    quota = server.settings.study_quota_bytes
    assert file["storage"] == {"used_bytes": len(PDF), "quota_bytes": quota,
                               "usage_percent": round(100 * len(PDF) / quota, 2)}

    path = stored_path(server, world.study_id, file["id"], "pdf")
    assert path.read_bytes() == PDF
    row = server.call(file_row(file["id"]))
    assert row["storage_key"] == f"studies/{world.study_id}/{file['id']}.pdf"
    assert world.study()["storage_used"] == len(PDF)
    assert _tmp_files(server) == []

    found = events(server, world.study_id)
    assert [e.type for e in found] == ["file:created"]
    assert_consecutive(found)
    assert set(found[0].payload) == {"study_id", "seq", "file"}
    assert found[0].payload["file"] == {k: v for k, v in file.items() if k != "storage"}

    sent = [n for n in world.notifications() if n["type"] == "FILE"]
    assert sorted(n["user"] for n in sent) == sorted([world.owner.id, admin.id])
    assert all(n["data"] == {"file_id": file["id"]} for n in sent)
    assert all(n["message"] == "새 파일: 회의록.pdf" for n in sent)


def test_generic_mime_is_replaced_and_aliases_are_stored_canonically(world: World) -> None:
    png = data(upload(world.owner.http, world.study_id, "a.png", PNG,
                      "application/octet-stream"), 201)
    jpeg = data(upload(world.owner.http, world.study_id, "b.JPG", JPEG, "image/jpg"), 201)
    code = data(upload(world.owner.http, world.study_id, "main.py", b"print('hi')\n",
                       "text/x-python", category="CODE"), 201)
    assert (png["type"], png["category"]) == ("image/png", "IMAGE")
    assert (jpeg["type"], jpeg["name"]) == ("image/jpeg", "b.JPG")
    assert (code["type"], code["category"]) == ("text/x-python", "CODE")


def test_path_traversal_name_is_cleaned_and_stored_inside_the_upload_dir(
        server: LiveServer, world: World) -> None:
    file = data(upload(world.owner.http, world.study_id, "../../etc/passwd.txt",
                       b"root:x:0:0\n", "text/plain"), 201)
    assert file["name"] == "etc-passwd.txt"
    stored = _study_files(server, world.study_id)
    assert [p.name for p in stored] == [f"{file['id']}.txt"]
    upload_root = server.settings.upload_dir.resolve()
    assert upload_root in stored[0].resolve().parents
    assert not (upload_root.parent / "etc").exists()


@pytest.mark.parametrize(("raw", "cleaned"), [
    ("<b>보고서</b> 최종 (2).pdf", "보고서-최종-2-.pdf"),
    (unicodedata.normalize("NFD", "한글 파일.pdf"), "한글-파일.pdf"),
    ("C:\\Users\\me\\..\\notes.pdf", "C-Users-me-..-notes.pdf"),
    ("---..report...pdf", "report...pdf"),
    ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
])
def test_names_are_cleaned(world: World, raw: str, cleaned: str) -> None:
    assert data(upload(world.owner.http, world.study_id, raw, PDF), 201)["name"] == cleaned


# --- rules 1-2 ------------------------------------------------------------------------------


def test_upload_follows_the_role_matrix(world: World, api: Api) -> None:
    outsider = world.user()
    private_study = world.new_study(is_public=False)
    assert upload(world.member().http, world.study_id, "m.pdf", PDF).status_code == 201
    assert upload(world.member("ADMIN").http, world.study_id, "a.pdf", PDF).status_code == 201
    assert upload(world.owner.http, world.study_id, "o.pdf", PDF).status_code == 201
    assert error_code(upload(outsider.http, world.study_id, "x.pdf", PDF)) == "NOT_MEMBER"
    assert error_code(upload(outsider.http, private_study, "x.pdf", PDF)) == "NOT_FOUND"
    assert error_code(upload(api.anonymous(), world.study_id, "x.pdf", PDF)) == "UNAUTHORIZED"


def test_uploads_can_be_switched_off(server: LiveServer, world: World) -> None:
    with system_setting(server, "allow_file_upload", False):
        response = upload(world.owner.http, world.study_id, "a.pdf", PDF)
        assert response.status_code == 403 and error_code(response) == "FEATURE_DISABLED"
    assert upload(world.owner.http, world.study_id, "a.pdf", PDF).status_code == 201


def test_closed_study_refuses_uploads(world: World) -> None:
    world.set_study(status="CLOSED")
    assert error_code(upload(world.owner.http, world.study_id, "a.pdf", PDF)) == "STUDY_CLOSED"


def test_uploads_are_rate_limited_per_user(server: LiveServer, world: World) -> None:
    member = world.member()
    count = server.settings.upload_rate.count
    for _ in range(count):  # attempts count, so cheap invalid ones fill the window
        response = member.http.post(world.path("/files"), files={"other": ("a.pdf", b"x")})
        assert error_code(response) == "VALIDATION_ERROR"
    response = upload(member.http, world.study_id, "a.pdf", PDF)
    assert response.status_code == 429 and error_code(response) == "RATE_LIMITED"
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["details"]["retry_after_ms"] > 0
    assert upload(world.owner.http, world.study_id, "a.pdf", PDF).status_code == 201


def test_form_problems_are_validation_errors(world: World) -> None:
    http = world.owner.http
    response = http.post(world.path("/files"), files={"other": ("a.pdf", PDF)},
                         data={"folder": "x" * 101, "category": "PICTURE"})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"other", "file", "folder", "category"}
    two = http.post(world.path("/files"), files=[("file", ("a.pdf", PDF)),
                                                 ("file", ("b.pdf", PDF))])
    assert error_code(two) == "VALIDATION_ERROR"
    not_a_file = http.post(world.path("/files"), data={"file": "text"},
                           files={"x": ("", b"")})
    assert error_code(not_a_file) == "VALIDATION_ERROR"
    assert error_code(upload(http, world.study_id, "###", b"abc")) == "VALIDATION_ERROR"
    assert error_code(upload(http, world.study_id, "empty.txt", b"")) == "VALIDATION_ERROR"


def test_non_multipart_bodies_are_bad_requests(world: World) -> None:
    http = world.owner.http
    assert error_code(http.post(world.path("/files"), json={"file": "x"})) == "BAD_REQUEST"
    truncated = http.post(world.path("/files"), content=b"--b\r\nContent-Disposition: form-data",
                          headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert error_code(truncated) == "BAD_REQUEST"


# --- rules 3-7 ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "content", "mime", "fields", "code"), [
    ("a.exe.pdf", PDF, "application/pdf", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("setup.exe", EXE, "application/octet-stream", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("run.sh.txt", b"echo hi", "text/plain", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("app.JS", b"alert(1)", "text/javascript", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("notes.txt", b"hello", "application/x-msdownload", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("notes", b"hello", "text/plain", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("tool.php", b"<?php", "text/plain", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("photo.png", PNG, "image/png", {"category": "DOCUMENT"}, "FILE_TYPE_NOT_ALLOWED"),
    ("report.pdf", PDF, "image/png", {}, "FILE_TYPE_NOT_ALLOWED"),
    ("forged.png", b"GIF89a this is not a png at all", "image/png", {}, "FILE_REJECTED"),
    ("invoice.pdf", EXE, "application/pdf", {}, "FILE_REJECTED"),
    ("readme.txt", b"\x7fELF\x02\x01\x01" + bytes(50), "text/plain", {}, "FILE_REJECTED"),
    ("Main.java", b"\xca\xfe\xba\xbe\x00\x00\x00\x34", "text/plain", {}, "FILE_REJECTED"),
    ("slides.pptx", PDF, "application/octet-stream", {}, "FILE_REJECTED"),
    ("clip.mp4", b"not a video at all", "video/mp4", {}, "FILE_REJECTED"),
])
def test_type_and_content_rules(server: LiveServer, world: World, name: str, content: bytes,
                                mime: str, fields: dict[str, str], code: str) -> None:
    response = upload(world.owner.http, world.study_id, name, content, mime, **fields)
    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert _study_files(server, world.study_id) == []
    assert _tmp_files(server) == []
    assert world.study()["storage_used"] == 0


@pytest.mark.parametrize(("name", "content"), [
    ("photo.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(20)),
    ("doc.docx", b"PK\x03\x04" + bytes(30)),
    ("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(30)),
    ("song.mp3", b"ID3\x03\x00" + bytes(30)),
    ("clip.mov", b"\x00\x00\x00\x14ftypqt  " + bytes(20)),
    ("icon.svg", b"<svg xmlns='http://www.w3.org/2000/svg'><script>x</script></svg>"),
    ("page.html", b"<html><script>alert(1)</script></html>"),
    ("archive.tar", bytes(257) + b"ustar\x0000" + bytes(100)),
])
def test_formats_with_their_signature_are_accepted(world: World, name: str,
                                                    content: bytes) -> None:
    assert upload(world.owner.http, world.study_id, name, content).status_code == 201


# --- rule 6: size, streamed -------------------------------------------------------------------


def _multipart_stream(name: str, mime: str, total: int, chunk: int = 64 * 1024,
                      on_progress: object = None) -> tuple[str, Iterator[bytes]]:
    boundary = "coup-test-boundary"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"{name}\"\r\nContent-Type: {mime}\r\n\r\n").encode()
        sent = 0
        while sent < total:
            piece = min(chunk, total - sent)
            yield b"a" * piece
            sent += piece
            if callable(on_progress):
                on_progress(sent)
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


def _wait_for(condition: Callable[[], bool], seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


def test_a_file_over_its_category_limit_is_cut_off_while_streaming(
        server: LiveServer, world: World) -> None:
    limit = 2 * MB  # CODE files
    before = set(_tmp_files(server))
    observed: dict[str, Any] = {"spooled": 0, "removed_before_end": False}

    def ours() -> list[Path]:
        return [p for p in _tmp_files(server) if p not in before]

    def spooled_size() -> int:
        total = 0
        for path in ours():
            with contextlib.suppress(FileNotFoundError):  # removed since it was listed
                total += path.stat().st_size
        return total

    def watch(sent: int) -> None:
        # The client pauses (so the server catches up) at two points of the body: halfway to
        # the limit the server must be spooling to disk; past the limit, with the body still
        # incomplete, its temporary file must already be gone.
        if sent == MB:
            _wait_for(lambda: spooled_size() >= MB // 2)
            observed["spooled"] = spooled_size()
        elif sent == limit + MB:
            observed["removed_before_end"] = _wait_for(lambda: not ours())

    content_type, body = _multipart_stream("big.py", "text/x-python", 4 * MB,
                                           on_progress=watch)
    response = world.owner.http.post(world.path("/files"), content=body,
                                     headers={"Content-Type": content_type})

    assert response.status_code == 413 and error_code(response) == "FILE_TOO_LARGE"
    assert MB // 2 <= observed["spooled"] <= limit
    assert observed["removed_before_end"] is True
    assert ours() == [] and _study_files(server, world.study_id) == []


def test_a_body_over_the_global_cap_is_refused_without_being_kept(
        server: LiveServer, world: World) -> None:
    cap = server.call(server.services.system_settings.get("max_file_size")) * MB
    content_type, body = _multipart_stream("huge.txt", "text/plain", cap + 512 * 1024)
    response = world.owner.http.post(world.path("/files"), content=body,
                                     headers={"Content-Type": content_type})
    assert response.status_code == 413 and error_code(response) == "FILE_TOO_LARGE"
    assert _tmp_files(server) == [] and _study_files(server, world.study_id) == []
    assert world.study()["storage_used"] == 0


def test_a_declared_length_over_the_cap_is_refused_before_the_body(
        server: LiveServer, world: World) -> None:
    # A raw socket: HTTP clients will not declare a length they do not send.
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall((f"POST {world.path('/files')} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {world.owner.token}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {200 * MB}\r\n\r\n").encode())
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += conn.recv(65536)
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    assert b"connection: close" in rest.lower()


def test_an_upload_dropped_midway_leaves_no_temporary_file(
        server: LiveServer, world: World) -> None:
    host, port = server.base_url.removeprefix("http://").split(":")
    head = (b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n"
            b"Content-Type: text/plain\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall((f"POST {world.path('/files')} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {world.owner.token}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      f"Content-Length: {5 * MB}\r\n\r\n").encode() + head)
        conn.sendall(b"x" * (1 * MB))
        deadline = time.monotonic() + 10
        while not _tmp_files(server) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _tmp_files(server), "the upload was being spooled"
    deadline = time.monotonic() + 10
    while _tmp_files(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _tmp_files(server) == [] and _study_files(server, world.study_id) == []


def test_lower_max_file_size_setting_caps_every_category(
        server: LiveServer, world: World) -> None:
    with system_setting(server, "max_file_size", 1):
        response = upload(world.owner.http, world.study_id, "photo.png", PNG + bytes(MB))
        assert error_code(response) == "FILE_TOO_LARGE"
        assert upload(world.owner.http, world.study_id, "ok.png", PNG).status_code == 201


# --- rule 8: quota ----------------------------------------------------------------------------


def test_quota_overflow_is_refused_and_leaves_nothing(server: LiveServer, world: World) -> None:
    data(upload(world.owner.http, world.study_id, "first.pdf", PDF), 201)
    with node_settings(server, study_quota_bytes=len(PDF) * 2 - 1):
        response = upload(world.owner.http, world.study_id, "second.pdf", PDF)
        assert response.status_code == 409 and error_code(response) == "QUOTA_EXCEEDED"
    assert len(_study_files(server, world.study_id)) == 1
    assert world.study()["storage_used"] == len(PDF)
    assert [e.type for e in events(server, world.study_id)] == ["file:created"]


def test_two_uploads_racing_for_the_last_bytes_of_quota_one_wins(
        server: LiveServer, world: World) -> None:
    other = world.member()
    content = PDF + bytes(200 * 1024)
    results: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def send(http: httpx.Client, name: str) -> None:
        barrier.wait()
        results.append(upload(http, world.study_id, name, content))

    with node_settings(server, study_quota_bytes=len(content) + len(content) // 2):
        threads = [threading.Thread(target=send, args=(world.owner.http, "a.pdf")),
                   threading.Thread(target=send, args=(other.http, "b.pdf"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(r.status_code for r in results) == [201, 409]
    assert [error_code(r) for r in results if r.status_code == 409] == ["QUOTA_EXCEEDED"]
    assert world.study()["storage_used"] == len(content)
    assert len(_study_files(server, world.study_id)) == 1
    assert _tmp_files(server) == []
    found = events(server, world.study_id)
    assert [e.type for e in found] == ["file:created"]
    assert_consecutive(found)
