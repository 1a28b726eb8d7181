"""PROTOCOL §1: the three ways to authenticate, refusals before the upgrade, hello."""

from __future__ import annotations

import pytest

from tests.conftest import APP_ORIGIN, Api, LiveServer
from tests.wsclient import (
    WsClient,
    expire_sessions,
    override_settings,
    refused_status,
    set_user_status,
)


def login_cookie(api: Api, email: str, password: str) -> str:
    http = api.browser()
    response = http.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    cookie = http.cookies.get("coup_session")
    assert cookie
    return cookie


def test_hello_carries_session_user_node_limits_and_unread(api: Api,
                                                          server: LiveServer) -> None:
    user = api.signup(name="인사")
    with WsClient.open(server, user.token) as ws, WsClient.open(server, user.token) as other:
        hello = ws.hello
        assert isinstance(hello["session_id"], str) and hello["session_id"]
        assert hello["session_id"] != other.hello["session_id"]
        assert hello["user"] == {"id": user.id, "name": "인사", "avatar": None}
        assert hello["node"] == server.settings.node_id
        assert hello["heartbeat_ms"] == 25000
        assert hello["limits"]["max_frame_bytes"] == 65536
        assert hello["unread_notifications"] == 0


def test_hello_unread_notifications_equals_rest_count(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, auto_approve=False)
    for _ in range(2):
        assert api.join(api.signup(), study["id"]).status_code == 201  # JOIN_REQUEST each
    count = owner.http.get("/api/notifications/count").json()["data"]["unread"]
    assert count == 2
    with WsClient.open(server, owner.token) as ws:
        assert ws.hello["unread_notifications"] == count


def test_cookie_from_login_with_allowed_origin_authenticates(api: Api,
                                                             server: LiveServer) -> None:
    user = api.signup(name="브라우저")
    cookie = login_cookie(api, user.email, user.password)
    with WsClient.browser(server, cookie) as ws:
        assert ws.hello["user"]["id"] == user.id
        assert ws.ok("ping")["server_time"] > 0


def test_allowed_origin_with_trailing_slash_is_accepted(api: Api, server: LiveServer) -> None:
    user = api.signup()
    with WsClient.open(server, origin=APP_ORIGIN + "/", cookie=user.token) as ws:
        assert ws.hello["user"]["id"] == user.id


def test_bearer_without_origin_authenticates(api: Api, server: LiveServer) -> None:
    user = api.signup()
    with WsClient.open(server, user.token) as ws:
        assert ws.hello["user"]["id"] == user.id


def test_auth_frame_authenticates_and_is_answered(api: Api, server: LiveServer) -> None:
    user = api.signup()
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send("auth", {"token": user.token}, ref="a1")
        hello = ws.expect("hello")
        assert hello["user"]["id"] == user.id
        assert ws.reply("a1")["ok"] is True
        assert ws.ok("ping")["server_time"] > 0
        again = ws.request("auth", {"token": user.token})
        assert again["ok"] is False and again["error"]["code"] == "BAD_REQUEST"


def test_frame_before_auth_is_refused_with_unauthorized(api: Api, server: LiveServer) -> None:
    user = api.signup()
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        reply = ws.request("ping")
        assert reply["ok"] is False and reply["error"]["code"] == "UNAUTHORIZED"
        ws.send("auth", {"token": user.token})
        assert ws.expect("hello")["user"]["id"] == user.id


def test_no_auth_frame_in_time_closes_4001(api: Api, server: LiveServer) -> None:
    with override_settings(server, ws_auth_timeout_seconds=0.5), \
            WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        assert ws.closed_with(timeout=5) == 4001


def test_auth_frame_with_bad_token_closes_4001(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send("auth", {"token": "not-a-real-token"})
        assert ws.closed_with(timeout=5) == 4001


def test_auth_frame_with_bad_token_and_ref_is_answered_before_4001(server: LiveServer) -> None:
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send("auth", {"token": "not-a-real-token"}, ref=7)
        reply = ws.reply(7, timeout=5)
        assert reply["ok"] is False and reply["error"]["code"] == "UNAUTHORIZED"
        assert ws.closed_with(timeout=5) == 4001


def test_auth_frame_with_revoked_token_closes_4001(api: Api, server: LiveServer) -> None:
    user = api.signup()
    assert user.http.post("/api/auth/logout").status_code == 200
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send("auth", {"token": user.token})
        assert ws.closed_with(timeout=5) == 4001


def test_invalid_bearer_is_refused_with_401(server: LiveServer) -> None:
    status, body = refused_status(server, "garbage-token")
    assert status == 401 and body["error"]["code"] == "UNAUTHORIZED"


def test_invalid_cookie_is_refused_with_401(server: LiveServer) -> None:
    status, _ = refused_status(server, origin=APP_ORIGIN, cookie="garbage-token")
    assert status == 401


def test_revoked_token_is_refused_with_401(api: Api, server: LiveServer) -> None:
    user = api.signup()
    assert user.http.post("/api/auth/logout").status_code == 200
    assert refused_status(server, user.token)[0] == 401
    assert refused_status(server, origin=APP_ORIGIN, cookie=user.token)[0] == 401


def test_expired_token_is_refused_with_401(api: Api, server: LiveServer) -> None:
    user = api.signup()
    expire_sessions(server, user.id)
    assert refused_status(server, user.token)[0] == 401
    assert refused_status(server, origin=APP_ORIGIN, cookie=user.token)[0] == 401


@pytest.mark.parametrize("status", ["SUSPENDED", "DELETED"])
def test_suspended_or_deleted_account_is_refused_with_403(api: Api, server: LiveServer,
                                                          status: str) -> None:
    user = api.signup()
    set_user_status(server, user.id, status)
    code, body = refused_status(server, user.token)
    assert code == 403
    assert body["error"]["code"] == f"ACCOUNT_{status}"


def test_disallowed_origin_is_refused_with_403(api: Api, server: LiveServer) -> None:
    user = api.signup()
    assert refused_status(server, origin="http://evil.test", cookie=user.token)[0] == 403
    assert refused_status(server, user.token, origin="http://evil.test")[0] == 403


def test_the_servers_own_origin_is_accepted_without_being_listed(api: Api,
                                                                server: LiveServer) -> None:
    """The web app served by `coup serve` opens /ws from whatever address the person typed."""
    user = api.signup()
    own = server.base_url.rstrip("/")
    with WsClient.open(server, origin=own, cookie=user.token) as ws:
        assert ws.hello["user"]["id"] == user.id
    host = own.removeprefix("http://")
    assert refused_status(server, origin=f"http://evil.test.{host}", cookie=user.token)[0] == 403


def test_no_origin_and_no_bearer_is_refused_with_403(api: Api, server: LiveServer) -> None:
    user = api.signup()
    assert refused_status(server, cookie=user.token)[0] == 403
    assert refused_status(server)[0] == 403


def test_allowed_origin_without_credentials_waits_for_auth_frame(api: Api,
                                                                 server: LiveServer) -> None:
    user = api.signup()
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        assert ws.drain(0.3) == []  # nothing before authentication
        ws.send("auth", {"token": user.token})
        assert ws.expect("hello")["user"]["id"] == user.id


def test_ping_event_answers_with_server_time(api: Api, server: LiveServer) -> None:
    import time

    user = api.signup()
    with WsClient.open(server, user.token) as ws:
        before = int(time.time() * 1000)
        server_time = ws.ok("ping")["server_time"]
        after = int(time.time() * 1000)
        assert before - 1000 <= server_time <= after + 1000


# --- revocation closes the sockets of the revoked login session (COUP.md §5.1) ----------------


def login_token(api: Api, email: str, password: str) -> str:
    response = api.anonymous().post("/api/auth/login", json={"email": email,
                                                             "password": password})
    assert response.status_code == 200, response.text
    return response.json()["data"]["token"]


def assert_closed_1008_within_one_second(ws: WsClient, revoked_at: float) -> None:
    import time

    assert ws.closed_with(timeout=2) == 1008
    assert time.monotonic() - revoked_at <= 1.0


def test_logout_closes_that_sessions_sockets_with_1008(api: Api, server: LiveServer) -> None:
    import time

    user = api.signup()
    other_token = login_token(api, user.email, user.password)
    with WsClient.open(server, user.token) as mine, WsClient.open(server, other_token) as other:
        assert user.http.post("/api/auth/logout").status_code == 200
        assert_closed_1008_within_one_second(mine, time.monotonic())
        assert other.ok("ping")["server_time"] > 0  # another login session is untouched


def test_cookie_logout_closes_the_browser_socket(api: Api, server: LiveServer) -> None:
    import time

    user = api.signup()
    http = api.browser()
    assert http.post("/api/auth/login", json={"email": user.email,
                                              "password": user.password}).status_code == 200
    with WsClient.browser(server, http.cookies.get("coup_session")) as ws:
        assert http.post("/api/auth/logout").status_code == 200
        assert_closed_1008_within_one_second(ws, time.monotonic())


def test_revoking_another_session_closes_its_sockets(api: Api, server: LiveServer) -> None:
    import time

    user = api.signup()
    other_token = login_token(api, user.email, user.password)
    sessions = user.http.get("/api/auth/sessions").json()["data"]
    other_id = next(s["id"] for s in sessions if not s["current"])
    with WsClient.open(server, user.token) as mine, \
            WsClient.open(server, other_token) as other1, \
            WsClient.open(server, other_token) as other2:
        assert user.http.delete(f"/api/auth/sessions/{other_id}").status_code == 200
        revoked_at = time.monotonic()
        assert_closed_1008_within_one_second(other1, revoked_at)
        assert_closed_1008_within_one_second(other2, revoked_at)
        assert mine.ok("ping")["server_time"] > 0


def test_password_change_closes_the_other_sessions_sockets(api: Api,
                                                           server: LiveServer) -> None:
    import time

    user = api.signup()
    other_token = login_token(api, user.email, user.password)
    with WsClient.open(server, user.token) as mine, WsClient.open(server, other_token) as other:
        response = user.http.patch("/api/users/me/password", json={
            "current_password": user.password, "new_password": "Another-pass-456"})
        assert response.status_code == 200, response.text
        assert_closed_1008_within_one_second(other, time.monotonic())
        assert mine.ok("ping")["server_time"] > 0


def test_hello_comes_before_any_push(api: Api, server: LiveServer,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A notification created while the hello is being prepared must not overtake it."""
    import asyncio
    import threading

    from coup.actors import realtime as realtime_module

    real_unread_count = realtime_module.unread_count

    async def slow_unread_count(user_id: str) -> int:
        await asyncio.sleep(1.0)
        return await real_unread_count(user_id)

    owner = api.signup()
    study = api.create_study(owner, auto_approve=False)
    monkeypatch.setattr(realtime_module, "unread_count", slow_unread_count)
    opened: list[WsClient] = []
    thread = threading.Thread(target=lambda: opened.append(WsClient.open(server, owner.token)))
    thread.start()
    import time

    time.sleep(0.4)  # the connection is registered and preparing its hello
    assert api.join(api.signup(), study["id"]).status_code == 201  # JOIN_REQUEST to owner
    thread.join(10)
    with opened[0] as ws:
        early = [f["event"] for f in ws.pushes]
        assert early == [], f"pushed before hello: {early}"
        assert ws.expect("notification:new")["notification"]["type"] == "JOIN_REQUEST"


def test_account_deletion_closes_sockets_and_leaves_rooms(api: Api, server: LiveServer) -> None:
    import time

    owner, member = api.signup(), api.signup()
    study = api.create_study(owner)
    assert api.join(member, study["id"]).status_code == 201
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": study["id"]})
        response = member.http.request("DELETE", "/api/users/me", json={
            "confirmation": member.email, "password": member.password})
        assert response.status_code == 200, response.text
        assert_closed_1008_within_one_second(b, time.monotonic())
        left = a.expect("study:member-left")
        assert left["user_id"] == member.id and left["reason"] == "left"
        assert a.expect("user:offline", timeout=1)["user_id"] == member.id
