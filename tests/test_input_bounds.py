"""Input bounds (issue 10, defects 5, 7, 9 and 10) through the real server, on SQLite and
PostgreSQL: dates inside the range the store and the clock can represent, every failing field
reported at once (COUP.md §1 item 6), messages that state the real bound, file names cleaned as
sent (§7.9 rule 3), and an oversized chunked upload answered in the error envelope."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from coup import localtime
from coup.filetypes import MB
from tests.conftest import Api, LiveServer, error_code
from tests.files_support import file_row, upload
from tests.membership_support import World, data, make_world

EXTREME_DATES = ("0001-01-01", "1899-12-31", "9999-12-31")


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


def _fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 400, response.text
    assert error_code(response) == "VALIDATION_ERROR", response.text
    return response.json()["error"]["fields"]


def _date_requests(world: World, day: str) -> Iterator[tuple[str, httpx.Response]]:
    """Every client-sent date of the study features, set to `day` (label, response)."""
    http = world.owner.http
    custom = {"period": "CUSTOM", "start_date": day, "end_date": day}
    yield "chat search start", http.get(world.path("/chat/search"), params={"start_date": day})
    yield "chat search end", http.get(world.path("/chat/search"), params={"end_date": day})
    yield "statistics", http.get("/api/dashboard/statistics", params=custom)
    yield "calendar range", http.get(world.path("/calendar"),
                                     params={"start_date": day, "end_date": day})
    yield "calendar month", http.get(world.path("/calendar"), params={"month": day[:7]})
    yield "calendar create", http.post(world.path("/calendar"), json={
        "title": "회의", "date": day, "start_time": "10:00", "end_time": "11:00"})
    yield "study task", http.post(world.path("/tasks"), json={"title": "할 일",
                                                              "due_date": day})
    yield "personal task", http.post("/api/tasks", json={"title": "할 일", "due_date": day})
    yield "attendance day", http.get(world.path("/attendance"), params={"date": day})
    yield "attendance stats", http.get(world.path("/attendance/stats"),
                                       params={"start_date": day, "end_date": day})


def test_dates_outside_the_representable_range_are_validation_errors(
        server: LiveServer, world: World) -> None:
    """Defect 5: year 1 and 9999-12-31 gave 500 (OverflowError converting to UTC)."""
    for day in EXTREME_DATES:
        for label, response in _date_requests(world, day):
            assert response.status_code == 400, (label, day, response.text)
            fields = _fields(response)
            reasons = " ".join(fields.values())
            assert "1900" in reasons and "9998" in reasons, (label, day, fields)
    # The ends of the range themselves are accepted wherever the feature allows them.
    http = world.owner.http
    for day in ("1900-01-01", "9998-12-31"):
        assert http.get(world.path("/chat/search"),
                        params={"start_date": day, "end_date": day}).status_code == 200
        assert http.get("/api/dashboard/statistics", params={
            "period": "CUSTOM", "start_date": day, "end_date": day}).status_code == 200
    last = "9998-12-31"
    assert data(http.post("/api/tasks", json={"title": "먼 훗날", "due_date": last}),
                201)["due_date"] == last
    event = data(http.post(world.path("/calendar"), json={
        "title": "먼 훗날", "date": last, "start_time": "23:00", "end_time": "23:59"}), 201)
    assert event["date"] == last
    assert http.get(world.path("/calendar"), params={"month": "9998-12"}).status_code == 200


def test_every_failing_field_is_reported_at_once(server: LiveServer, api: Api,
                                                world: World) -> None:
    """Defect 9: second-layer checks (sub_category for its category, the member cap, dates
    "today or later", status against completed, tags, one query parameter after another) ran
    only once the first layer passed."""
    owner = api.signup()
    study = owner.http.post("/api/studies", json={
        "name": "필드 검사", "emoji": "📚", "description": "모든 필드를 한 번에 보고합니다",
        "category": "개발", "sub_category": "영어", "max_members": 1})
    assert set(_fields(study)) == {"sub_category", "max_members"}
    over_cap = owner.http.post("/api/studies", json={
        "name": "x", "emoji": "📚", "description": "모든 필드를 한 번에 보고합니다",
        "category": "재테크", "sub_category": "웹", "max_members": 101})
    assert set(_fields(over_cap)) == {"name", "sub_category", "max_members"}

    yesterday = (localtime.today(server.settings.tz) - timedelta(days=1)).isoformat()
    http = world.owner.http
    event = http.post(world.path("/calendar"), json={
        "title": "x", "date": yesterday, "start_time": "11:00", "end_time": "10:00"})
    assert set(_fields(event)) == {"title", "date", "end_time"}
    task = http.post(world.path("/tasks"), json={"title": "x", "due_date": yesterday})
    assert set(_fields(task)) == {"title", "due_date"}

    personal = data(http.post("/api/tasks", json={"title": "내 할 일"}), 201)
    contradiction = http.patch(f"/api/tasks/{personal['id']}", json={
        "title": "", "status": "DONE", "completed": False})
    assert set(_fields(contradiction)) == {"title", "completed"}

    group = http.post("/api/groups", json={"name": "x", "tags": ["ok", "y" * 21]})
    assert set(_fields(group)) == {"name", "tags[1]"}
    invite = http.post("/api/groups/nope/invites", json={
        "user_id": "someone", "email": "a@example.com", "expires_in_days": 0})
    assert set(_fields(invite)) == {"email", "expires_in_days"}

    chat = http.post(world.path("/chat"), json={"content": "", "client_id": "?", "extra": 1})
    assert set(_fields(chat)) == {"content", "client_id", "extra"}
    # Query strings too: the page was read only after the other parameters passed.
    tasks = http.get(world.path("/tasks"), params={"status": "NOPE", "page": "0"})
    assert set(_fields(tasks)) == {"status", "page"}
    found = http.get(world.path("/chat/search"), params={"q": "x" * 101, "limit": "0"})
    assert set(_fields(found)) == {"q", "limit"}
    history = http.get(world.path("/chat"), params={"before_seq": "1", "after_seq": "x"})
    assert set(_fields(history)) == {"before_seq", "after_seq"}


def test_bound_messages_state_the_real_bound(server: LiveServer, api: Api) -> None:
    """Defect 10 (messages): max_members 1 said "between 2 and 9223372036854775807"."""
    owner = api.signup()
    body: dict[str, Any] = {"name": "정원 검사", "emoji": "📚", "category": "개발",
                            "description": "정원의 실제 한도를 알려 줍니다"}
    cap = server.call(server.services.system_settings.get("max_study_members"))
    for value in (1, cap + 1, 2**70):
        reason = _fields(owner.http.post("/api/studies", json={**body, "max_members": value}))[
            "max_members"]
        assert reason == f"must be between 2 and {cap}", (value, reason)
    study = api.create_study(owner)
    reason = _fields(owner.http.patch(f"/api/studies/{study['id']}",
                                      json={"max_members": 1}))["max_members"]
    assert reason == f"must be between 2 and {cap}"
    # Where no tighter bound applies, the bound is int64 and says so.
    page = owner.http.get("/api/studies", params={"page": "9" * 30})
    assert "between 1 and" in _fields(page)["page"]


def test_a_file_name_is_cleaned_as_it_was_sent(server: LiveServer, world: World) -> None:
    """Defect 10 (names): the multipart parser dropped the brackets of `<notes.md>` before the
    name rules ran, so a name that cleans to nothing (rule 3) was stored as `notes.md`."""
    http = world.owner.http
    for raw in ("<notes.md>", "<img src=notes.md>"):
        response = upload(http, world.study_id, raw, b"# notes\n", "text/markdown")
        assert set(_fields(response)) == {"file"}, raw
    assert world.study()["storage_used"] == 0
    # Quotes and brackets inside a longer name are ordinary characters of rule 3.
    kept = data(upload(http, world.study_id, "<draft> notes.md", b"# notes\n",
                       "text/markdown"), 201)
    assert kept["name"] == "notes.md"
    assert server.call(file_row(kept["id"]))["name"] == "notes.md"


def _chunked_multipart(total: int) -> tuple[str, Iterator[bytes]]:
    boundary = "coup-bounds-boundary"

    def body() -> Iterator[bytes]:
        yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
               f"filename=\"big.txt\"\r\nContent-Type: text/plain\r\n\r\n").encode()
        piece = b"a" * (256 * 1024)
        for _ in range(total // len(piece)):
            yield piece
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


def test_an_oversized_chunked_upload_gets_file_too_large_in_the_envelope(
        server: LiveServer, world: World) -> None:
    """Defect 7: 30 MiB sent with Transfer-Encoding: chunked got Tornado's bare 400."""
    content_type, body = _chunked_multipart(30 * MB)
    response = world.owner.http.post(world.path("/files"), content=body,
                                     headers={"Content-Type": content_type})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert response.json()["success"] is False
    assert error_code(response) == "FILE_TOO_LARGE"
    # One chunk that declares all 30 MiB at once: Tornado judged chunks by their declared size
    # and refused before the handler saw a byte.
    host, port = server.base_url.removeprefix("http://").split(":")
    head = (b'--b\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
            b"Content-Type: text/plain\r\n\r\n")
    tail = b"\r\n--b--\r\n"
    payload = head + b"a" * (30 * MB) + tail
    with socket.create_connection((host, int(port)), timeout=30) as conn:
        conn.sendall((f"POST {world.path('/files')} HTTP/1.1\r\nHost: {host}\r\n"
                      f"Authorization: Bearer {world.owner.token}\r\n"
                      "Content-Type: multipart/form-data; boundary=b\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n").encode())
        conn.sendall(f"{len(payload):x}\r\n".encode() + payload + b"\r\n0\r\n\r\n")
        reply = b""
        while b"}}" not in reply:
            received = conn.recv(65536)
            assert received, reply
            reply += received
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413", reply
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "FILE_TOO_LARGE"
    assert world.study()["storage_used"] == 0
    # The server still answers on a fresh connection.
    assert world.owner.http.get(world.path("/files/storage")).status_code == 200


def test_an_oversized_chunked_json_body_gets_request_too_large_in_the_envelope(
        server: LiveServer, world: World) -> None:
    """The same class as defect 7 on a JSON route: a chunked body past 2 MiB got Tornado's bare
    400 and a reset connection."""

    def body() -> Iterator[bytes]:
        piece = b" " * (256 * 1024)
        for _ in range(12):  # 3 MiB, past the 1 MiB JSON cap and Tornado's old 2 MiB one
            yield piece

    response = world.owner.http.patch("/api/users/me", content=body(),
                                      headers={"Content-Type": "application/json"})
    assert response.request.headers.get("Transfer-Encoding") == "chunked"
    assert response.status_code == 413, response.text
    assert error_code(response) == "REQUEST_TOO_LARGE"
    assert world.owner.http.get("/api/users/me").status_code == 200
