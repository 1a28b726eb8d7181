"""The notification centre (COUP.md §7.14) through the real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from coup.store.db import db_task, db_transaction
from coup.store.fields import new_id, utcnow
from coup.store.models import Notification
from tests.conftest import Api, LiveServer, User, error_code

NOTIFICATION_KEYS = {"id", "type", "message", "study_id", "study_name", "study_emoji", "data",
                     "is_read", "created_at"}


# --- database helpers (run on the server's database workers through server.call) -------------


@db_transaction
def _notify(user_id: str, *, kind: str = "NOTICE", study_id: str | None = None,
            is_read: bool = False, created_at: datetime | None = None,
            message: str = "새 공지: 안내") -> str:
    moment = created_at or utcnow()
    return Notification.create(
        id=new_id(), user=user_id, type=kind, message=message, study_id=study_id,
        study_name="알고리즘 스터디" if study_id else None, study_emoji="📚" if study_id else None,
        data={"notice_id": "n1"}, is_read=is_read, read_at=moment if is_read else None,
        created_at=moment, updated_at=moment,
    ).id


@db_task
def _row(notification_id: str) -> dict[str, Any] | None:
    return Notification.select().where(Notification.id == notification_id).dicts().first()


def notify(server: LiveServer, user: User, count: int = 1, **fields: Any) -> list[str]:
    """`count` notifications for `user`, one second apart, the last one newest."""
    start = utcnow() - timedelta(minutes=10)
    return [server.call(_notify(user.id, created_at=start + timedelta(seconds=i), **fields))
            for i in range(count)]


def delete(http: httpx.Client, path: str, body: Any = None) -> httpx.Response:
    return http.request("DELETE", path, json=body)


def unread(user: User) -> int:
    response = user.http.get("/api/notifications/count")
    assert response.status_code == 200, response.text
    return response.json()["data"]["unread"]


@pytest.fixture()
def pushes(server: LiveServer) -> Iterator[list[tuple[str, int]]]:
    """Record what the node is asked to push as `notification:unread-count`."""
    calls: list[tuple[str, int]] = []
    realtime: Any = server.services.realtime

    def unread_count_changed(user_id: str, count: int, except_session: Any = None) -> None:
        calls.append((user_id, count))

    realtime.unread_count_changed = unread_count_changed
    try:
        yield calls
    finally:
        del realtime.unread_count_changed


# --- list and count ---------------------------------------------------------------------------


def test_list_shows_only_my_notifications_newest_first_in_pages(api: Api,
                                                                server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    first, second, third = notify(server, alice, 3)
    notify(server, bob)

    response = alice.http.get("/api/notifications", params={"limit": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert [n["id"] for n in body["data"]] == [third, second]
    assert body["pagination"] == {"page": 1, "limit": 2, "total": 3, "total_pages": 2,
                                  "has_next": True, "has_prev": False}
    assert set(body["data"][0]) == NOTIFICATION_KEYS
    assert body["data"][0]["created_at"].endswith("Z")

    second_page = alice.http.get("/api/notifications", params={"limit": 2, "page": 2}).json()
    assert [n["id"] for n in second_page["data"]] == [first]
    past_end = alice.http.get("/api/notifications", params={"page": 9}).json()
    assert past_end["data"] == [] and past_end["pagination"]["total"] == 3


def test_list_defaults_to_twenty_per_page(api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    notify(server, alice, 21)
    body = alice.http.get("/api/notifications").json()
    assert len(body["data"]) == 20
    assert body["pagination"]["limit"] == 20 and body["pagination"]["total"] == 21


def test_list_filters_by_read_state_type_and_study(api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    read_notice = server.call(_notify(alice.id, is_read=True, study_id="study-a"))
    unread_chat = server.call(_notify(alice.id, kind="CHAT", study_id="study-a"))
    unread_admin = server.call(_notify(alice.id, kind="ADMIN"))

    def ids(**params: str) -> set[str]:
        response = alice.http.get("/api/notifications", params=params)
        assert response.status_code == 200, response.text
        return {n["id"] for n in response.json()["data"]}

    assert ids(is_read="true") == {read_notice}
    assert ids(is_read="false") == {unread_chat, unread_admin}
    assert ids(type="chat") == {unread_chat}
    assert ids(type="Admin") == {unread_admin}
    assert ids(study_id="study-a") == {read_notice, unread_chat}
    assert ids(study_id="study-a", is_read="false", type="CHAT") == {unread_chat}
    assert ids(study_id="elsewhere") == set()
    assert ids(type="", is_read="") == {read_notice, unread_chat, unread_admin}


def test_list_rejects_invalid_filters_and_pages(api: Api) -> None:
    alice = api.signup(name="앨리스")
    response = alice.http.get("/api/notifications",
                              params={"type": "BOGUS", "is_read": "yes", "study_id": "a/b"})
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == {"type", "is_read", "study_id"}
    for params in ({"page": "0"}, {"limit": "0"}, {"limit": "101"}, {"page": "x"}):
        response = alice.http.get("/api/notifications", params=params)
        assert response.status_code == 400 and error_code(response) == "VALIDATION_ERROR"


def test_count_counts_only_my_unread_notifications(api: Api, server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    assert unread(alice) == 0
    notify(server, alice, 2)
    notify(server, alice, is_read=True)
    notify(server, bob, 4)
    assert unread(alice) == 2
    assert alice.http.get("/api/notifications/count").json() == {"success": True,
                                                                 "data": {"unread": 2}}


def test_anonymous_callers_are_unauthorized(api: Api) -> None:
    anonymous = api.anonymous()
    for method, path in (("GET", "/api/notifications"), ("GET", "/api/notifications/count"),
                         ("GET", "/api/notifications/abc"),
                         ("POST", "/api/notifications/abc/read"),
                         ("POST", "/api/notifications/mark-all-read")):
        response = anonymous.request(method, path)
        assert response.status_code == 401 and error_code(response) == "UNAUTHORIZED"


# --- one notification -------------------------------------------------------------------------


def test_detail_is_for_the_recipient_only(api: Api, server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    [mine] = notify(server, alice, study_id="study-a")

    response = alice.http.get(f"/api/notifications/{mine}")
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert set(data) == NOTIFICATION_KEYS
    assert data["id"] == mine and data["type"] == "NOTICE" and data["is_read"] is False
    assert data["study_name"] == "알고리즘 스터디" and data["data"] == {"notice_id": "n1"}

    # Someone else's notification looks exactly like a missing one: never FORBIDDEN.
    for http, path in ((bob.http, f"/api/notifications/{mine}"),
                       (alice.http, "/api/notifications/does-not-exist")):
        assert error_code(http.get(path)) == "NOT_FOUND"
        assert error_code(http.post(f"{path}/read")) == "NOT_FOUND"
        assert error_code(http.patch(f"{path}/read")) == "NOT_FOUND"
        assert error_code(delete(http, path)) == "NOT_FOUND"
    assert server.call(_row(mine))["is_read"] is False
    assert error_code(alice.http.get("/api/notifications/bad.id")) == "NOT_FOUND"


def test_mark_read_is_idempotent_and_keeps_the_first_read_at(api: Api,
                                                            server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    target, other = notify(server, alice, 2)

    response = alice.http.post(f"/api/notifications/{target}/read")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"unread": 1}
    row = server.call(_row(target))
    assert row["is_read"] is True and row["read_at"] is not None

    again = alice.http.patch(f"/api/notifications/{target}/read", json={})
    assert again.status_code == 200 and again.json()["data"] == {"unread": 1}
    assert server.call(_row(target))["read_at"] == row["read_at"]
    assert server.call(_row(other))["is_read"] is False
    assert alice.http.get(f"/api/notifications/{target}").json()["data"]["is_read"] is True


def test_mark_all_read_reports_only_what_it_marked(api: Api, server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    notify(server, alice, 3)
    [already] = notify(server, alice, is_read=True)
    notify(server, bob, 2)
    before = server.call(_row(already))["read_at"]

    response = alice.http.post("/api/notifications/mark-all-read")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"count": 3, "unread": 0}
    assert server.call(_row(already))["read_at"] == before

    again = alice.http.patch("/api/notifications/mark-all-read", json={})
    assert again.json()["data"] == {"count": 0, "unread": 0}
    assert unread(bob) == 2


def test_action_bodies_must_be_json_when_sent(api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    [target] = notify(server, alice)
    response = alice.http.post(f"/api/notifications/{target}/read", content=b"{oops",
                               headers={"Content-Type": "application/json"})
    assert error_code(response) == "BAD_REQUEST"
    assert server.call(_row(target))["is_read"] is False


def test_delete_removes_my_notification_and_returns_the_unread_count(
        api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    unread_one, read_one, kept = notify(server, alice, 3)
    alice.http.post(f"/api/notifications/{read_one}/read")

    response = delete(alice.http, f"/api/notifications/{unread_one}")
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"unread": 1}
    assert delete(alice.http, f"/api/notifications/{read_one}").json()["data"] == {"unread": 1}
    assert server.call(_row(unread_one)) is None
    assert error_code(alice.http.get(f"/api/notifications/{unread_one}")) == "NOT_FOUND"
    assert error_code(delete(alice.http, f"/api/notifications/{unread_one}")) == "NOT_FOUND"
    assert [n["id"] for n in alice.http.get("/api/notifications").json()["data"]] == [kept]


# --- bulk delete ------------------------------------------------------------------------------


def test_bulk_delete_deletes_mine_and_lists_the_rest(api: Api, server: LiveServer) -> None:
    alice, bob = api.signup(name="앨리스"), api.signup(name="바비")
    first, second, keep = notify(server, alice, 3)
    alice.http.post(f"/api/notifications/{second}/read")
    [bobs] = notify(server, bob)

    ids = [bobs, first, "missing-id", second]
    response = delete(alice.http, "/api/notifications/bulk", {"ids": ids})
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"deleted": 2, "not_found": [bobs, "missing-id"],
                                       "unread": 1}
    assert server.call(_row(first)) is None and server.call(_row(second)) is None
    assert server.call(_row(bobs)) is not None and server.call(_row(keep)) is not None
    assert unread(bob) == 1

    nothing = delete(alice.http, "/api/notifications/bulk", {"ids": ["missing-id"]})
    assert nothing.json()["data"] == {"deleted": 0, "not_found": ["missing-id"], "unread": 1}


def test_bulk_delete_accepts_a_hundred_ids(api: Api, server: LiveServer) -> None:
    alice = api.signup(name="앨리스")
    mine = notify(server, alice, 5)
    ids = mine + [f"missing-{i}" for i in range(95)]
    response = delete(alice.http, "/api/notifications/bulk", {"ids": ids})
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["deleted"] == 5 and len(data["not_found"]) == 95 and data["unread"] == 0


@pytest.mark.parametrize(("body", "fields"), [
    ({"ids": []}, {"ids"}),
    ({"ids": [f"id-{i}" for i in range(101)]}, {"ids"}),
    ({"ids": ["same", "other", "same"]}, {"ids[2]"}),
    ({"ids": ["ok", 7, "bad id", ""]}, {"ids[1]", "ids[2]", "ids[3]"}),
    ({"ids": "abc"}, {"ids"}),
    ({}, {"ids"}),
    ({"ids": ["ok"], "all": True}, {"all"}),
    ([], {"body"}),
])
def test_bulk_delete_rejects_invalid_id_lists(api: Api, server: LiveServer, body: Any,
                                              fields: set[str]) -> None:
    alice = api.signup(name="앨리스")
    [kept] = notify(server, alice)
    response = delete(alice.http, "/api/notifications/bulk", body)
    assert response.status_code == 400
    assert error_code(response) == "VALIDATION_ERROR"
    assert set(response.json()["error"]["fields"]) == fields
    assert server.call(_row(kept)) is not None


def test_bulk_delete_needs_a_json_body(api: Api) -> None:
    alice = api.signup(name="앨리스")
    assert error_code(alice.http.request("DELETE", "/api/notifications/bulk")) == "BAD_REQUEST"


def test_bulk_path_is_not_a_notification_id(api: Api) -> None:
    alice = api.signup(name="앨리스")
    response = alice.http.get("/api/notifications/bulk")
    assert response.status_code == 405 and error_code(response) == "METHOD_NOT_ALLOWED"


def test_browser_writes_need_the_xsrf_token(api: Api, server: LiveServer) -> None:
    browser = api.browser()
    email = "xsrf-notifications@example.com"
    signup = browser.post("/api/auth/signup", json={"email": email, "password": "Secret-pass-123",
                                                    "name": "브라우저"})
    assert signup.status_code == 201, signup.text
    user_id = signup.json()["data"]["user"]["id"]
    target = server.call(_notify(user_id))
    assert browser.post(f"/api/notifications/{target}/read").json()["data"] == {"unread": 0}
    browser.headers.pop("X-XSRFToken")
    response = browser.post("/api/notifications/mark-all-read")
    assert error_code(response) == "CSRF_FAILED"


# --- unread-count pushes ----------------------------------------------------------------------


def test_read_state_changes_push_the_unread_count(api: Api, server: LiveServer,
                                                  pushes: list[tuple[str, int]]) -> None:
    alice = api.signup(name="앨리스")
    one, two, three, four, five = notify(server, alice, 5)

    alice.http.post(f"/api/notifications/{one}/read")
    assert pushes == [(alice.id, 4)]
    alice.http.post(f"/api/notifications/{one}/read")  # already read: nothing moved
    delete(alice.http, f"/api/notifications/{one}")  # a read one: the count stays
    assert pushes == [(alice.id, 4)]

    delete(alice.http, f"/api/notifications/{two}")
    assert pushes[-1] == (alice.id, 3)
    delete(alice.http, "/api/notifications/bulk", {"ids": [three, "missing-id"]})
    assert pushes[-1] == (alice.id, 2)
    alice.http.post("/api/notifications/mark-all-read")
    assert pushes[-1] == (alice.id, 0)
    alice.http.post("/api/notifications/mark-all-read")
    delete(alice.http, "/api/notifications/bulk", {"ids": [four]})
    assert len(pushes) == 4
    assert server.call(_row(five))["is_read"] is True


def test_a_failing_push_does_not_fail_the_request(api: Api, server: LiveServer,
                                                  pushes: list[tuple[str, int]]) -> None:
    alice = api.signup(name="앨리스")
    [target] = notify(server, alice)

    def broken(user_id: str, count: int, except_session: Any = None) -> None:
        raise RuntimeError("realtime layer down")

    realtime: Any = server.services.realtime
    realtime.unread_count_changed = broken
    response = alice.http.post(f"/api/notifications/{target}/read")
    assert response.status_code == 200 and response.json()["data"] == {"unread": 0}
