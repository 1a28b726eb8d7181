"""Notices (COUP.md §7.8): create, list, open, edit, pin, delete; the role matrix (§3.4), the
CLOSED rules (§10.2), `notice:*` events (§9.2) and NOTICE notifications (§8.1)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from coup.store.db import db_transaction
from coup.store.models import Notice
from tests.conftest import Api, LiveServer, error_code
from tests.conftest import User as ApiUser
from tests.files_support import (
    assert_consecutive,
    events,
    make_file_row,
    notice_links,
)
from tests.membership_support import World, data, make_world

NOTICE_KEYS = {"id", "study_id", "title", "content", "is_pinned", "pinned_at", "is_important",
               "views", "author", "attachments", "created_at", "updated_at"}
FILE_REF_KEYS = {"id", "name", "url", "type", "size"}


@pytest.fixture()
def world(server: LiveServer, api: Api) -> World:
    return make_world(server, api)


def _create(world: World, actor: ApiUser, **fields: Any) -> httpx.Response:
    body = {"title": "이번 주 공지", "content": "<p>모임은 <b>토요일</b>입니다.</p>", **fields}
    return actor.http.post(world.path("/notices"), json=body)


def _notice(world: World, actor: ApiUser | None = None, **fields: Any) -> dict[str, Any]:
    return data(_create(world, actor or world.owner, **fields), 201)


def _pin(world: World, actor: ApiUser, notice_id: str) -> httpx.Response:
    return actor.http.post(world.path(f"/notices/{notice_id}/pin"))


def _notices_sent(world: World) -> list[dict[str, Any]]:
    return [n for n in world.notifications() if n["type"] == "NOTICE"]


# --- create -----------------------------------------------------------------------------------


def test_admin_creates_notice_with_event_notifications_and_attachments(
        server: LiveServer, world: World) -> None:
    admin = world.member("ADMIN", "관리자")
    member = world.member("MEMBER", "멤버")
    world.add(world.user(), status="PENDING")
    world.add(world.user(), status="LEFT")
    file_ids = [server.call(make_file_row(world.study_id, member.id, name=f"f{i}.pdf"))
                for i in range(2)]

    notice = _notice(world, admin, title="  시험 일정  ", is_important=True,
                     attachment_file_ids=[file_ids[1], file_ids[0], file_ids[1]])

    assert set(notice) == NOTICE_KEYS
    assert notice["title"] == "시험 일정"
    assert notice["content"] == "<p>모임은 <b>토요일</b>입니다.</p>"
    assert notice["is_important"] is True and notice["is_pinned"] is False
    assert notice["pinned_at"] is None and notice["views"] == 0
    assert notice["author"] == {"id": admin.id, "name": "관리자", "avatar": None}
    assert [a["id"] for a in notice["attachments"]] == [file_ids[1], file_ids[0]]
    assert set(notice["attachments"][0]) == FILE_REF_KEYS
    assert notice["attachments"][0]["url"] == (
        f"/api/studies/{world.study_id}/files/{file_ids[1]}/download")

    found = events(server, world.study_id)
    assert [e.type for e in found] == ["notice:created"]
    assert_consecutive(found)
    assert set(found[0].payload) == {"study_id", "seq", "notice"}
    assert found[0].payload["notice"] == notice

    sent = _notices_sent(world)
    assert sorted(n["user"] for n in sent) == sorted([world.owner.id, member.id])
    for row in sent:
        assert row["data"] == {"notice_id": notice["id"], "is_important": True}
        assert row["message"] == "새 공지: 시험 일정"


def test_notice_content_is_sanitised_before_it_is_stored(world: World) -> None:
    notice = _notice(world, content=(
        '<p onclick="steal()">hi<script>alert(1)</script> '
        '<a href="javascript:alert(1)">bad</a> <a href="https://coup.example">ok</a></p>'
        '<img src=x onerror=alert(1)>**markdown** stays'))
    assert notice["content"] == (
        '<p>hi bad <a href="https://coup.example" target="_blank" '
        'rel="noopener noreferrer">ok</a></p>**markdown** stays')


@pytest.mark.parametrize(("fields", "field"), [
    ({"title": "a"}, "title"),
    ({"title": "x" * 101}, "title"),
    ({"content": "<script>only a script</script>"}, "content"),
    ({"content": ""}, "content"),
    ({"content": 5}, "content"),
    ({"is_pinned": "true"}, "is_pinned"),
    ({"attachment_file_ids": ["a", "b", "c", "d", "e", "f"]}, "attachment_file_ids"),
    ({"attachment_file_ids": "abc"}, "attachment_file_ids"),
    ({"color": "red"}, "color"),
])
def test_create_rejects_invalid_fields(world: World, fields: dict[str, Any],
                                       field: str) -> None:
    response = _create(world, world.owner, **fields)
    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["fields"]


def test_content_limit_is_checked_after_sanitising(world: World) -> None:
    dropped = "<script>" + "x" * 5000 + "</script>"
    assert _create(world, world.owner, content="a" * 10_000 + dropped).status_code == 201
    response = _create(world, world.owner, content="a" * 10_001)
    assert error_code(response) == "VALIDATION_ERROR"


def test_attachments_must_be_files_of_this_study(server: LiveServer, world: World) -> None:
    other_study = world.new_study()
    foreign = server.call(make_file_row(other_study, world.owner.id))
    response = _create(world, world.owner, attachment_file_ids=[foreign])
    assert error_code(response) == "VALIDATION_ERROR"
    assert "attachment_file_ids" in response.json()["error"]["fields"]
    assert events(server, world.study_id) == []


def test_create_follows_the_role_matrix(world: World, api: Api) -> None:
    member = world.member()
    outsider = world.user()
    private_study = world.new_study(is_public=False)

    assert _create(world, world.owner).status_code == 201
    assert _create(world, world.member("ADMIN")).status_code == 201
    assert error_code(_create(world, member)) == "FORBIDDEN"
    assert error_code(_create(world, outsider)) == "NOT_MEMBER"
    response = outsider.http.post(f"/api/studies/{private_study}/notices",
                                  json={"title": "제목입니다", "content": "내용"})
    assert error_code(response) == "NOT_FOUND"
    response = api.anonymous().post(world.path("/notices"),
                                    json={"title": "제목입니다", "content": "내용"})
    assert error_code(response) == "UNAUTHORIZED"


def test_pinned_create_counts_against_the_pin_limit(world: World) -> None:
    for _ in range(3):
        _notice(world, is_pinned=True)
    assert error_code(_create(world, world.owner, is_pinned=True)) == "PIN_LIMIT"
    assert _create(world, world.owner, is_pinned=False).status_code == 201


# --- list and detail --------------------------------------------------------------------------


def test_list_puts_latest_pins_first_then_newest_with_a_plain_text_preview(
        world: World) -> None:
    member = world.member()
    long_body = "<p>" + "가" * 150 + "</p><p>" + "&amp;" * 100 + "</p>"
    old = _notice(world, title="오래된 공지", content=long_body)
    first_pin = _notice(world, title="첫 고정")
    newest = _notice(world, title="최신 공지", content="<b>짧은</b> 글", is_important=True)
    second_pin = _notice(world, title="둘째 고정")
    data(_pin(world, world.owner, first_pin["id"]))
    time.sleep(0.01)
    data(_pin(world, world.owner, second_pin["id"]))

    response = member.http.get(world.path("/notices"))
    items = data(response)
    assert [n["id"] for n in items] == [second_pin["id"], first_pin["id"], newest["id"],
                                        old["id"]]
    assert response.json()["pagination"]["limit"] == 10
    assert response.json()["pagination"]["total"] == 4
    assert set(items[0]) == NOTICE_KEYS | {"content_truncated"}
    short = items[2]
    assert short["content"] == "짧은 글" and short["content_truncated"] is False
    cut = items[3]
    assert cut["content"] == "가" * 150 + "\n" + "&" * 49
    assert len(cut["content"]) == 200 and cut["content_truncated"] is True

    pinned = data(member.http.get(world.path("/notices"), params={"pinned": "true"}))
    assert [n["id"] for n in pinned] == [second_pin["id"], first_pin["id"]]
    important = data(member.http.get(world.path("/notices"), params={"important": "true"}))
    assert [n["id"] for n in important] == [newest["id"]]
    response = member.http.get(world.path("/notices"), params={"pinned": "yes"})
    assert error_code(response) == "VALIDATION_ERROR"
    second_page = member.http.get(world.path("/notices"), params={"limit": 3, "page": 2})
    assert [n["id"] for n in data(second_page)] == [old["id"]]


def test_detail_counts_each_member_once_and_records_no_event(
        server: LiveServer, world: World) -> None:
    member, admin = world.member(), world.member("ADMIN")
    notice = _notice(world, content="<p>" + "긴 내용 " * 100 + "</p>")
    before = len(events(server, world.study_id))

    first = data(member.http.get(world.path(f"/notices/{notice['id']}")))
    again = data(member.http.get(world.path(f"/notices/{notice['id']}")))
    by_admin = data(admin.http.get(world.path(f"/notices/{notice['id']}")))

    assert first["views"] == 1 and again["views"] == 1 and by_admin["views"] == 2
    assert first["content"] == notice["content"]
    assert "content_truncated" not in first
    assert len(events(server, world.study_id)) == before
    assert server.call(notice_links(notice["id"]))[0] == 2


def test_notice_of_another_study_is_not_found(world: World) -> None:
    other = world.new_study()
    notice = _notice(world)
    path = f"/api/studies/{other}/notices/{notice['id']}"
    assert error_code(world.owner.http.get(path)) == "NOT_FOUND"
    assert error_code(world.owner.http.patch(path, json={"title": "바꾼 제목"})) == "NOT_FOUND"
    assert error_code(world.owner.http.delete(path)) == "NOT_FOUND"
    assert error_code(world.owner.http.post(path + "/pin")) == "NOT_FOUND"


def test_reading_needs_an_active_membership(world: World, api: Api) -> None:
    notice = _notice(world)
    outsider = world.user()
    pending = world.add(world.user(), status="PENDING")
    for user in (outsider, pending):
        assert error_code(user.http.get(world.path("/notices"))) == "NOT_MEMBER"
        assert error_code(user.http.get(world.path(f"/notices/{notice['id']}"))) == "NOT_MEMBER"
    assert error_code(api.anonymous().get(world.path("/notices"))) == "UNAUTHORIZED"


# --- pin --------------------------------------------------------------------------------------


def test_pin_toggles_and_a_fourth_pin_is_refused(server: LiveServer, world: World) -> None:
    admin, member = world.member("ADMIN"), world.member()
    notices = [_notice(world) for _ in range(4)]
    for notice in notices[:3]:
        pinned = data(_pin(world, admin, notice["id"]))
        assert pinned["is_pinned"] is True and pinned["pinned_at"] is not None

    assert error_code(_pin(world, admin, notices[3]["id"])) == "PIN_LIMIT"
    assert error_code(_pin(world, member, notices[0]["id"])) == "FORBIDDEN"
    unpinned = data(_pin(world, world.owner, notices[0]["id"]))
    assert unpinned["is_pinned"] is False and unpinned["pinned_at"] is None
    assert data(_pin(world, admin, notices[3]["id"]))["is_pinned"] is True
    response = admin.http.post(world.path(f"/notices/{notices[1]['id']}/pin"),
                               json={"pinned": True})
    assert error_code(response) == "VALIDATION_ERROR"

    found = events(server, world.study_id)
    assert [e.type for e in found] == ["notice:created"] * 4 + ["notice:updated"] * 5
    assert_consecutive(found)
    for event in found[4:]:
        assert set(event.payload) == {"study_id", "seq", "notice"}
    assert found[-1].payload["notice"]["id"] == notices[3]["id"]
    assert found[-1].payload["notice"]["is_pinned"] is True


def test_concurrent_pins_never_make_a_fourth(world: World) -> None:
    notices = [_notice(world) for _ in range(4)]
    for notice in notices[:2]:
        data(_pin(world, world.owner, notice["id"]))
    admin = world.member("ADMIN")
    results: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def pin(actor: ApiUser, notice_id: str) -> None:
        barrier.wait()
        results.append(_pin(world, actor, notice_id))

    threads = [threading.Thread(target=pin, args=(world.owner, notices[2]["id"])),
               threading.Thread(target=pin, args=(admin, notices[3]["id"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(r.status_code for r in results) == [200, 409]
    assert [error_code(r) for r in results if r.status_code == 409] == ["PIN_LIMIT"]
    pinned = data(world.owner.http.get(world.path("/notices"), params={"pinned": "true"}))
    assert len(pinned) == 3


# --- edit -------------------------------------------------------------------------------------


def test_author_or_admin_edits_and_the_pin_limit_applies(
        server: LiveServer, world: World) -> None:
    admin, member = world.member("ADMIN"), world.member()
    files = [server.call(make_file_row(world.study_id, member.id, name=f"{i}.pdf"))
             for i in range(3)]
    mine = _notice(world, admin, attachment_file_ids=files[:2])
    path = world.path(f"/notices/{mine['id']}")

    edited = data(admin.http.patch(path, json={
        "title": "수정된 제목", "content": "<h2>새 내용</h2><iframe>x</iframe>",
        "is_important": True, "attachment_file_ids": [files[2]]}))
    assert edited["title"] == "수정된 제목" and edited["content"] == "<h2>새 내용</h2>"
    assert edited["is_important"] is True
    assert [a["id"] for a in edited["attachments"]] == [files[2]]
    assert edited["updated_at"] >= mine["updated_at"]
    cleared = data(world.owner.http.patch(path, json={"attachment_file_ids": None}))
    assert cleared["attachments"] == []

    assert error_code(member.http.patch(path, json={"title": "남의 공지"})) == "FORBIDDEN"
    assert error_code(admin.http.patch(path, json={})) == "VALIDATION_ERROR"
    assert error_code(admin.http.patch(path, json={"views": 9})) == "VALIDATION_ERROR"
    assert error_code(admin.http.patch(path, json={"content": None})) == "VALIDATION_ERROR"

    for _ in range(3):
        _notice(world, is_pinned=True)
    assert error_code(admin.http.patch(path, json={"is_pinned": True})) == "PIN_LIMIT"
    assert data(admin.http.patch(path, json={"is_pinned": False}))["is_pinned"] is False

    found = events(server, world.study_id)
    assert_consecutive(found)
    updates = [e for e in found if e.type == "notice:updated"]
    assert len(updates) == 3
    assert updates[0].payload["notice"] == edited


def test_a_demoted_author_edits_but_cannot_pin(world: World) -> None:
    author = world.member()  # wrote it as ADMIN once; authorship is what counts now
    notice = _notice(world)
    world.server.call(_set_author(notice["id"], author.id))
    path = world.path(f"/notices/{notice['id']}")
    assert data(author.http.patch(path, json={"title": "작성자 수정"}))["title"] == "작성자 수정"
    assert error_code(author.http.patch(path, json={"is_pinned": True})) == "FORBIDDEN"
    assert author.http.delete(path).status_code == 200


@db_transaction
def _set_author(notice_id: str, user_id: str) -> None:
    Notice.update(author=user_id).where(Notice.id == notice_id).execute()


# --- delete -----------------------------------------------------------------------------------


def test_delete_removes_views_and_links_but_keeps_files(
        server: LiveServer, world: World) -> None:
    admin, member = world.member("ADMIN"), world.member()
    file_id = server.call(make_file_row(world.study_id, member.id))
    notice = _notice(world, world.owner, attachment_file_ids=[file_id])
    data(member.http.get(world.path(f"/notices/{notice['id']}")))
    path = world.path(f"/notices/{notice['id']}")

    assert error_code(member.http.delete(path)) == "FORBIDDEN"
    assert data(admin.http.delete(path)) is None
    assert error_code(admin.http.delete(path)) == "NOT_FOUND"
    assert server.call(notice_links(notice["id"])) == (0, 0, False)
    assert data(member.http.get(world.path("/files/storage")))["file_count"] == 1

    found = events(server, world.study_id)
    assert [e.type for e in found] == ["notice:created", "notice:deleted"]
    assert_consecutive(found)
    assert found[1].payload == {"study_id": world.study_id, "seq": 2,
                                "notice_id": notice["id"]}


# --- CLOSED -----------------------------------------------------------------------------------


def test_closed_study_is_read_only_except_deleting(world: World) -> None:
    member = world.member()
    notice = _notice(world)
    other = _notice(world)
    world.set_study(status="CLOSED")
    path = world.path(f"/notices/{notice['id']}")

    assert error_code(_create(world, world.owner)) == "STUDY_CLOSED"
    assert error_code(world.owner.http.patch(path, json={"title": "닫힌 뒤"})) == "STUDY_CLOSED"
    assert error_code(_pin(world, world.owner, notice["id"])) == "STUDY_CLOSED"
    assert len(data(member.http.get(world.path("/notices")))) == 2
    assert data(member.http.get(path))["views"] == 1
    assert world.owner.http.delete(path).status_code == 200
    assert error_code(member.http.delete(world.path(f"/notices/{other['id']}"))) == "FORBIDDEN"


def test_deleted_study_notices_are_not_found(world: World) -> None:
    notice = _notice(world)
    world.set_study(status="DELETED")
    assert error_code(world.owner.http.get(world.path("/notices"))) == "NOT_FOUND"
    assert error_code(world.owner.http.get(
        world.path(f"/notices/{notice['id']}"))) == "NOT_FOUND"
