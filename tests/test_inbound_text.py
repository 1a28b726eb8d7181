"""The one inbound text rule (coup/inbound.py) and the 5xx accounting, through the real server
(issue 10, defects 1, 4, 6 and 8): unpaired surrogates, NUL, deep nesting, frames during a
drain, and every INTERNAL answer counted."""

from __future__ import annotations

import json
import os
import secrets
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from coup.store.db import db_task
from coup.store.models import Report
from tests.cluster_support import NodeProcess, create_study, free_port, signup
from tests.conftest import (
    APP_ORIGIN,
    Api,
    LiveServer,
    clear_redis_prefix,
    create_pg_database,
    drop_pg_database,
    error_code,
    require_redis,
    server_environment,
)
from tests.wsclient import WsClient, member_of, messages_in_db, new_client_id, say

LONE = "\udfff"  # an unpaired (low) surrogate: JSON can spell it, UTF-8 cannot hold it


def post_raw(http: httpx.Client, method: str, path: str, body: Any) -> httpx.Response:
    """Send `body` as JSON with \\u escapes (httpx's own encoder cannot write a surrogate)."""
    return http.request(method, path, content=json.dumps(body),
                        headers={"Content-Type": "application/json"})


def nested(depth: int, leaf: Any = "x") -> Any:
    """A value of `depth` levels of arrays (depth 1 is `[leaf]`)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


def deep_text(depth: int) -> str:
    """`depth` levels of arrays as JSON text (beyond what json.dumps itself can write)."""
    return "[" * depth + '"x"' + "]" * depth


def joined(server: LiveServer, token: str, study_id: str) -> WsClient:
    ws = WsClient.open(server, token)
    ws.ok("study:join", {"study_id": study_id})
    return ws


def one_reply(ws: WsClient, ref: Any) -> dict[str, Any]:
    """The reply to `ref`, checking no second one follows."""
    reply = ws.reply(ref)
    assert ws.ok("ping")["server_time"] > 0
    assert [f for f in ws.drain(0.2) if f.get("ref") == ref] == []
    return reply


# --- defect 1: a lone surrogate in chat:message never reaches the room -------------------------


def test_chat_message_with_a_lone_surrogate_is_refused_before_the_room(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner.token, study["id"]) as ws:
        first = say(ws, study["id"], "앞 메시지")
        ws.send("chat:message", {"study_id": study["id"], "content": f"깨진{LONE}글자",
                                 "client_id": new_client_id()}, ref="bad")
        reply = one_reply(ws, "bad")
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
        # No seq was spent on it, and the room goes on committing.
        after = say(ws, study["id"], "뒤 메시지")
        assert after["seq"] == first["seq"] + 1
    assert [m["content"] for m in messages_in_db(server, study["id"])] == [
        "앞 메시지", "뒤 메시지"]


# --- defect 4: lone surrogates everywhere else --------------------------------------------------


@pytest.fixture()
def places(api: Api) -> dict[str, Any]:
    owner = api.signup()
    return {"owner": owner, "study": api.create_study(owner)}


REST_TEXT_FIELDS = {
    "chat": ("POST", "/api/studies/{study}/chat", lambda s: {"content": s,
                                                            "client_id": new_client_id()}),
    "bio": ("PATCH", "/api/users/me", lambda s: {"bio": s}),
    "notice": ("POST", "/api/studies/{study}/notices", lambda s: {"title": f"공지 {s}",
                                                                 "content": f"<p>{s}</p>"}),
    "study-description": ("PATCH", "/api/studies/{study}", lambda s: {"description": s * 10}),
    "personal-task": ("POST", "/api/tasks", lambda s: {"title": f"할 일 {s}"}),
    "group-name": ("POST", "/api/groups", lambda s: {"name": f"그룹 {s}"}),
}


@pytest.mark.parametrize("place", sorted(REST_TEXT_FIELDS))
def test_a_lone_surrogate_in_a_rest_body_is_a_400(places: dict[str, Any], place: str) -> None:
    method, path, body = REST_TEXT_FIELDS[place]
    path = path.format(study=places["study"]["id"])
    http = places["owner"].http
    response = post_raw(http, method, path, body(f"글자{LONE}"))
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"
    assert response.json()["error"]["message"]
    # The same request with ordinary text goes through: the refusal was the surrogate.
    assert post_raw(http, method, path, body("글자")).status_code in (200, 201)


def test_a_lone_surrogate_in_the_login_email_is_a_400(api: Api) -> None:
    response = post_raw(api.anonymous(), "POST", "/api/auth/login",
                        {"email": f"a{LONE}@example.com", "password": "Secret-pass-123"})
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"


def test_lone_surrogates_in_edit_and_call_frames_get_exactly_one_reply(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner.token, study["id"]) as a, \
            joined(server, member.token, study["id"]) as b:
        message = say(a, study["id"], "원본")["message"]
        a.ok("video:join-room", {"study_id": study["id"]})
        b.ok("video:join-room", {"study_id": study["id"]})
        frames = {
            "edit": ("chat:edit", {"study_id": study["id"], "message_id": message["id"],
                                   "content": f"수정{LONE}"}),
            "offer": ("video:offer", {"study_id": study["id"], "to": b.session_id,
                                      "sdp": {"type": "offer", "sdp": f"v=0{LONE}"}}),
            "call-chat": ("chat:video-message", {"study_id": study["id"],
                                                 "message": f"안녕{LONE}"}),
        }
        for ref, (event, data) in frames.items():
            a.send(event, data, ref=ref)
        for ref in frames:
            reply = a.reply(ref)
            assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
        assert [f for f in a.drain(0.3) if f.get("event") == "reply"] == []
        # Nothing was relayed or changed.
        assert not [f for f in b.drain(0.3) if f.get("event") in (
            "video:offer", "chat:video-message-received", "chat:message-updated")]
        assert a.ok("chat:edit", {"study_id": study["id"], "message_id": message["id"],
                                  "content": "수정"})["message"]["content"] == "수정"


def test_a_ref_holding_a_lone_surrogate_gets_the_error_push(api: Api,
                                                          server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(json.dumps({"event": "ping", "data": {}, "ref": f"r{LONE}"}))
        assert ws.expect("error")["code"] == "BAD_REQUEST"
        assert ws.ok("ping")["server_time"] > 0


# --- defect 6: deep nesting -------------------------------------------------------------------


def test_a_body_nested_1000_levels_is_a_400(api: Api) -> None:
    response = api.anonymous().post(
        "/api/auth/login", content='{"email": ' + deep_text(1000) + ', "password": "x"}',
        headers={"Content-Type": "application/json"})
    assert response.status_code == 400, response.text
    assert error_code(response) == "BAD_REQUEST"


def test_nesting_is_bounded_at_32_levels(api: Api) -> None:
    # Depth 32 in all (the body object is level 1) is parsed and reaches the field rules...
    within = post_raw(api.anonymous(), "POST", "/api/auth/login",
                      {"email": nested(31), "password": "x"})
    assert within.status_code == 400 and error_code(within) == "VALIDATION_ERROR", within.text
    # ...one level more is refused as malformed, naming the limit.
    beyond = post_raw(api.anonymous(), "POST", "/api/auth/login",
                      {"email": nested(32), "password": "x"})
    assert beyond.status_code == 400 and error_code(beyond) == "BAD_REQUEST", beyond.text
    assert "32" in beyond.json()["error"]["message"]


def test_deep_frames_are_refused_with_their_ref(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner.token, study["id"]) as a, \
            joined(server, member.token, study["id"]) as b:
        a.ok("video:join-room", {"study_id": study["id"]})
        b.ok("video:join-room", {"study_id": study["id"]})
        a.send_raw('{"event": "video:offer", "ref": "deep-offer", "data": {"study_id": "'
                   + study["id"] + '", "to": "' + b.session_id + '", "sdp": '
                   + deep_text(1000) + "}}")
        reply = one_reply(a, "deep-offer")
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
        # The frame is level 1 and data level 2: 30 levels inside data are the most allowed.
        assert a.ok("ping", {"pad": nested(30)})["server_time"] > 0
        assert a.fail("ping", {"pad": nested(31)})["code"] == "BAD_REQUEST"
        # Beyond what the parser reads at all (1,024 levels): the ref is still found at the
        # top level, so the frame still gets its one reply.
        a.send_raw('{"event": "ping", "ref": "deeper", "data": {"x": ' + deep_text(2000) + "}}")
        reply = one_reply(a, "deeper")
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply
        assert a.ok("ping")["server_time"] > 0


def test_a_deep_frame_before_authentication_is_answered_with_its_ref(server: LiveServer) -> None:
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send_raw('{"event": "auth", "ref": 8, "data": ' + deep_text(5000) + "}")
        reply = ws.reply(8, timeout=5)
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST", reply


def test_an_auth_frame_behind_a_refused_one_starts_no_session(
        api: Api, server: LiveServer, caplog: pytest.LogCaptureFixture) -> None:
    """The bad token closes the connection; the valid frame pipelined behind it is not read
    (it used to start a session on the closed socket and fail with an AttributeError)."""
    user = api.signup()
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        ws.send("auth", {"token": "not-a-token"}, ref=1)
        ws.send("auth", {"token": user.token}, ref=2)
        assert ws.reply(1, timeout=5)["error"]["code"] == "UNAUTHORIZED"
        assert ws.closed_with(timeout=5) == 4001
    time.sleep(0.3)  # the second frame, had it been read, is handled by now
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], caplog.text


# --- the class: NUL, names, numbers, query strings ------------------------------------------------


@db_task
def _evidence(report_id: str) -> Any:
    return Report.get_by_id(report_id).evidence


def test_nul_is_removed_from_text_that_has_no_field_rule(api: Api, server: LiveServer) -> None:
    # Report evidence is free-form JSON: no field rule cleans its strings (and PostgreSQL's
    # jsonb cannot hold \u0000 at all).
    alice, mallory = api.signup(), api.signup()
    response = alice.http.post("/api/reports", json={
        "target_type": "USER", "target_id": mallory.id, "type": "SPAM",
        "reason": "계속 광고 메시지를 보냅니다.", "evidence": {"note": "증거\x00메모",
                                                        "urls": ["https://example.com/\x00a"]}})
    assert response.status_code == 201, response.text
    assert server.call(_evidence(response.json()["data"]["id"])) == {
        "note": "증거메모", "urls": ["https://example.com/a"]}


def test_nul_in_a_name_and_infinite_numbers_are_refused(api: Api, server: LiveServer) -> None:
    user = api.signup()
    response = post_raw(user.http, "PATCH", "/api/users/me", {"bio\x00": "소개"})
    assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
    response = user.http.patch("/api/users/me", content=b'{"bio": 1e400}',
                               headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and error_code(response) == "BAD_REQUEST", response.text
    with WsClient.open(server, user.token) as ws:
        ws.send_raw('{"event": "ping", "ref": "nan", "data": {"x": NaN}}')
        assert one_reply(ws, "nan")["error"]["code"] == "BAD_REQUEST"
        ws.send_raw('{"event": "ping\\u0000", "ref": "nul-event", "data": {}}')
        assert one_reply(ws, "nul-event")["error"]["code"] == "BAD_REQUEST"


def test_query_strings_must_be_valid_utf8(api: Api) -> None:
    user = api.signup()
    for raw in ("%FF", "%ED%B3%BF"):  # not UTF-8; an encoded surrogate
        response = user.http.get(f"/api/users?q=a{raw}")
        assert response.status_code == 400, response.text
        assert error_code(response) == "BAD_REQUEST"


# --- 5xx accounting ---------------------------------------------------------------------------


def metric_value(server: LiveServer, name: str, **labels: str) -> float:
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name and all(f'{k}="{v}"' in head for k, v in labels.items()):
            total += float(value)
    return total


@pytest.mark.expects_5xx
def test_unexpected_errors_are_counted_and_logged(api: Api, server: LiveServer,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    from coup.store import chat as chat_store

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure")

    owner = api.signup()
    study = api.create_study(owner)
    route = "/api/studies/([A-Za-z0-9_-]{1,32})/chat/([A-Za-z0-9_-]{1,32})"
    with joined(server, owner.token, study["id"]) as ws:
        message = say(ws, study["id"], "원본")["message"]
        rest_before = metric_value(server, "coup_http_5xx_total", code="INTERNAL")
        ws_before = metric_value(server, "coup_ws_internal_replies_total")
        monkeypatch.setattr(chat_store, "edit_message", broken)
        response = owner.http.patch(f"/api/studies/{study['id']}/chat/{message['id']}",
                                    json={"content": "수정"})
        assert response.status_code == 500 and error_code(response) == "INTERNAL"
        assert ws.fail("chat:edit", {"study_id": study["id"], "message_id": message["id"],
                                     "content": "수정"})["code"] == "INTERNAL"
    assert metric_value(server, "coup_http_5xx_total", code="INTERNAL") == rest_before + 1
    assert metric_value(server, "coup_ws_internal_replies_total") == ws_before + 1
    assert metric_value(server, "coup_http_5xx_total", code="INTERNAL", route=route) >= 1
    tracebacks = [r for r in caplog.records if r.exc_info and "simulated" in str(r.exc_info[1])]
    assert len(tracebacks) == 2, [r.getMessage() for r in caplog.records]


# --- defect 8: frames during a drain --------------------------------------------------------


class NodeDatabase:
    """A node process of its own (a drain ends it) and a way to hold its database busy."""

    def __init__(self, backend: str, root: Path) -> None:
        self.backend = backend
        self.root = root
        self.pg = None
        self.prefix = ""
        extra: dict[str, str] = {}
        if backend == "postgres":
            self.pg = create_pg_database()
            self.url = self.pg.url
            self.prefix = f"coup-test-{secrets.token_hex(4)}:"
            extra = {"COUP_REDIS_URL": require_redis(), "COUP_REDIS_PREFIX": self.prefix}
        else:
            self.path = root / "coup.db"
            self.url = f"sqlite:///{self.path}"
        port = free_port()
        env = {**os.environ, **server_environment(self.url, root / "uploads", **extra),
               "COUP_PORT": str(port), "COUP_NODE_ID": "draining-node",
               # SIGTERM may be handled before the frames sent just ahead of it are read; the
               # delay before the sessions drain lets them (and the first probes) reach the
               # mailbox, which then holds the drain open.
               "COUP_DRAIN_DELAY_MS": "1000"}
        self.node = NodeProcess("draining-node", port, env, root / "node.log")

    def hold_notifications(self) -> Any:
        """Block every write of notifications until the returned connection is closed."""
        if self.pg is not None:
            import psycopg2

            conn = psycopg2.connect(self.url, connect_timeout=5)
            conn.cursor().execute("LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE")
            return conn
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=5)
        # The write lock: a transaction that starts with a write waits for it (busy_timeout);
        # WAL readers go on.
        conn.execute("BEGIN IMMEDIATE")
        return conn

    def message_count(self, study_id: str) -> int:
        if self.pg is not None:
            import psycopg2

            conn = psycopg2.connect(self.url, connect_timeout=5)
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT count(*) FROM messages WHERE study_id = %s", (study_id,))
                    return int(cur.fetchone()[0])
            finally:
                conn.close()
        with sqlite3.connect(self.path) as conn:
            return int(conn.execute("SELECT count(*) FROM messages WHERE study_id = ?",
                                    (study_id,)).fetchone()[0])

    def close(self) -> None:
        self.node.kill()
        if self.pg is not None:
            drop_pg_database(self.pg.name)
            clear_redis_prefix(self.prefix)


@pytest.fixture()
def own_node(backend: str, tmp_path: Path) -> Iterator[NodeDatabase]:
    node = NodeDatabase(backend, tmp_path)
    try:
        node.node.start()
        yield node
    finally:
        node.close()


@pytest.mark.slow
def test_frames_arriving_during_a_drain_get_a_retryable_reply(own_node: NodeDatabase) -> None:
    node = own_node.node
    owner = signup(node.base_url)
    study = create_study(node.base_url, owner)
    ws = WsClient.open(node, owner["token"])  # type: ignore[arg-type]
    try:
        ws.ok("study:join", {"study_id": study["id"]})
        lock = own_node.hold_notifications()
        try:
            # The session is now busy in the database, with a frame queued behind: the drain
            # waits for that mailbox (PROTOCOL §10), so the node stays in the drain meanwhile.
            ws.send("notification:read", {"all": True}, ref="read")
            ws.send("ping", {}, ref="queued")
            node.signal(signal.SIGTERM)
            # Probe until a frame is answered at once: it arrived after the drain began
            # (earlier probes were queued normally and are answered later).
            sent = ["read", "queued"]
            deadline = time.monotonic() + 8
            refused = None
            while refused is None and time.monotonic() < deadline:
                ref = f"probe-{len(sent)}"
                sent.append(ref)
                ws.send("ping", {}, ref=ref)
                try:
                    refused = ws.reply(ref, timeout=0.3)
                except TimeoutError:
                    continue
            assert refused is not None, "no frame was answered while the node drained"
            assert refused["ok"] is False and refused["error"]["code"] == "OVERLOADED", refused
            assert refused["error"]["retry_after_ms"] > 0
            for index in range(3):
                ws.send("chat:message", {"study_id": study["id"], "content": f"늦은 {index}",
                                         "client_id": new_client_id()}, ref=f"late-{index}")
            for index in range(3):
                late = ws.reply(f"late-{index}", timeout=5)
                assert late["ok"] is False and late["error"]["code"] == "OVERLOADED", late
                assert late["error"]["retry_after_ms"] > 0
        finally:
            lock.close()
        frames, code = ws.frames_until_close(timeout=30)
    finally:
        ws.close()
    assert code == 1001
    # Every other frame was admitted before the drain and answered once it went on.
    answered = [f["ref"] for f in frames if f.get("event") == "reply"]
    assert sorted(answered) == sorted(ref for ref in sent if ref != refused["ref"]), frames
    assert node.wait_exit(35) == 0
    assert own_node.message_count(study["id"]) == 0  # none of the late messages was committed
