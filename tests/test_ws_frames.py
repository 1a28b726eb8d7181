"""PROTOCOL §2: text frames, size limit, replies with refs, bad frames, every error code."""

from __future__ import annotations

import json

import pytest

from tests.conftest import APP_ORIGIN, Api, LiveServer
from tests.wsclient import (
    WsClient,
    new_client_id,
    restrict_user,
    say,
    set_study_status,
)


def test_binary_frame_closes_1003(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(b'{"event": "ping", "ref": 1}')
        assert ws.closed_with(timeout=5) == 1003


def frame_of_size(size: int) -> str:
    empty = json.dumps({"event": "ping", "data": {"pad": ""}, "ref": "big"})
    frame = json.dumps({"event": "ping", "data": {"pad": "x" * (size - len(empty))},
                        "ref": "big"})
    assert len(frame.encode()) == size
    return frame


def test_frame_over_64_kib_closes_1009(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(frame_of_size(65537))
        assert ws.closed_with(timeout=5) == 1009


def test_frame_of_exactly_64_kib_is_read(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(frame_of_size(65536))
        assert ws.reply("big")["ok"] is True


def test_malformed_json_without_ref_gets_error_push(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw("{not json")
        error = ws.expect("error")
        assert error["code"] == "BAD_REQUEST" and error["message"]
        ws.send_raw("[1, 2, 3]")
        assert ws.expect("error")["code"] == "BAD_REQUEST"
        ws.send_raw('"just a string"')
        assert ws.expect("error")["code"] == "BAD_REQUEST"
        assert ws.ok("ping")["server_time"] > 0


@pytest.mark.parametrize("frame", [
    {"event": "no:such-event", "data": {}},
    {"event": "", "data": {}},
    {"event": 5, "data": {}},
    {"data": {}},
    {"event": "ping", "data": [1, 2]},
    {"event": "ping", "data": "text"},
    {"event": "ping", "data": {}, "extra": 1},
    {"event": "study:join", "data": {"study_id": 12}},
    {"event": "study:join", "data": {"study_id": "x", "since": "3"}},
    {"event": "study:join", "data": {"study_id": "x", "since": -1}},
    {"event": "study:join", "data": {"study_id": "x", "since": True}},
    {"event": "chat:typing", "data": {"study_id": "x", "is_typing": "yes"}},
    {"event": "presence:status-change", "data": {"status": "sleeping"}},
    {"event": "notification:read", "data": {"notification_id": 3}},
], ids=lambda frame: json.dumps(frame)[:40])
@pytest.mark.parametrize("ref", [41, "r-41"])
def test_bad_frame_with_ref_gets_one_bad_request_reply(api: Api, server: LiveServer,
                                                       frame: dict, ref: object) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(json.dumps({**frame, "ref": ref}))
        reply = ws.reply(ref)
        assert reply["ok"] is False and reply["error"]["code"] == "BAD_REQUEST"
        assert reply["error"]["message"]
        assert ws.ok("ping")["server_time"] > 0
        assert [f for f in ws.drain(0.2) if f.get("ref") == ref] == []  # exactly once


@pytest.mark.parametrize("ref", [True, 1.5, {"a": 1}, [1], "r" * 65])
def test_unusable_ref_gets_error_push(api: Api, server: LiveServer, ref: object) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_raw(json.dumps({"event": "ping", "data": {}, "ref": ref}))
        assert ws.expect("error")["code"] == "BAD_REQUEST"
        assert ws.ok("ping")["server_time"] > 0


def test_bad_frame_without_ref_gets_error_push(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send("no:such-event", {})
        assert ws.expect("error")["code"] == "BAD_REQUEST"
        ws.send("study:join", {"study_id": 5})
        assert ws.expect("error")["code"] == "BAD_REQUEST"


def test_every_frame_with_a_ref_gets_exactly_one_reply(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        frames = [
            ("ping", {}),
            ("study:join", {"study_id": study["id"]}),
            ("study:join", {"study_id": "nope"}),
            ("chat:message", {"study_id": study["id"], "content": "a",
                              "client_id": new_client_id()}),
            ("chat:message", {"study_id": study["id"], "content": ""}),
            ("chat:edit", {"study_id": study["id"], "message_id": "missing", "content": "b"}),
            ("no:such", {}),
            ("video:offer", {"study_id": study["id"], "to": "x", "sdp": "v=0"}),
            ("chat:typing", {"study_id": study["id"], "is_typing": True}),
            ("study:leave", {"study_id": study["id"]}),
        ]
        for ref, (event, data) in enumerate(frames, start=100):
            ws.send(event, data, ref)
        replies = [ws.reply(ref) for ref in range(100, 100 + len(frames))]
        assert [r["ok"] for r in replies] == [True, True, False, True, False, False, False,
                                              False, True, True]
        late = [f for f in ws.drain(0.5) if f.get("event") == "reply"]
        assert late == []


def test_bad_frames_in_a_burst_close_1008(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        for _ in range(19):
            ws.send_raw("{bad")
        assert ws.ok("ping")["server_time"] > 0  # 19 bad frames: still open
        ws.send("no:such-event", {}, ref="twentieth")
        frames, code = ws.frames_until_close(timeout=5)
        assert code == 1008
        assert [f["error"]["code"] for f in frames if f.get("ref") == "twentieth"] == [
            "BAD_REQUEST"]


def test_the_twentieth_bad_frame_closes_1008(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        for _ in range(20):
            ws.send_raw("{bad")
        assert ws.closed_with(timeout=3) == 1008


def test_the_frame_that_closes_for_bad_frames_is_still_answered(api: Api,
                                                                server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_until_closed("no:such-event", {}, range(25))
        frames, code = ws.frames_until_close(timeout=5)
        seen = [f["ref"] for f in frames if f.get("event") == "reply"]
        assert code == 1008, (code, seen)
        # Every frame up to and including the one that tripped the limit is answered.
        assert seen == list(range(20)), seen


# --- every error code the protocol lists, through real frames -----------------------------


def test_error_codes_unauthorized_forbidden_not_found(api: Api, server: LiveServer) -> None:
    owner, stranger = api.signup(), api.signup()
    study = api.create_study(owner)
    private = api.create_study(owner, is_public=False)
    with WsClient.open(server, origin=APP_ORIGIN, expect_hello=False) as ws:
        assert ws.request("ping")["error"]["code"] == "UNAUTHORIZED"
    with WsClient.open(server, stranger.token) as ws:
        assert ws.fail("study:join", {"study_id": study["id"]})["code"] == "FORBIDDEN"
        assert ws.fail("study:join", {"study_id": private["id"]})["code"] == "NOT_FOUND"
        assert ws.fail("study:join", {"study_id": "missing-study"})["code"] == "NOT_FOUND"
        assert ws.fail("chat:message", {"study_id": study["id"], "content": "hi",
                                        "client_id": new_client_id()})["code"] == "FORBIDDEN"


def test_error_codes_conflict_rate_limited_restricted(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        for n in range(5):
            say(ws, study["id"], f"m{n}")
        limited = ws.fail("chat:message", {"study_id": study["id"], "content": "6",
                                           "client_id": new_client_id()})
        assert limited["code"] == "RATE_LIMITED" and limited["retry_after_ms"] > 0
    restricted_study = api.create_study(owner)
    restrict_user(server, owner.id, ["MESSAGE"])
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": restricted_study["id"]})
        assert ws.fail("chat:message", {"study_id": restricted_study["id"], "content": "x",
                                        "client_id": new_client_id()})["code"] == "RESTRICTED"
    closer = api.signup()
    closed = api.create_study(closer)
    set_study_status(server, closed["id"], "CLOSED")
    with WsClient.open(server, closer.token) as ws:
        ws.ok("study:join", {"study_id": closed["id"]})
        assert ws.fail("chat:message", {"study_id": closed["id"], "content": "x",
                                        "client_id": new_client_id()})["code"] == "CONFLICT"


@pytest.mark.expects_5xx
def test_error_code_internal_keeps_the_connection(api: Api, server: LiveServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from coup.store import chat as chat_store

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("simulated failure")

    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        ack = say(ws, study["id"], "원본")
        monkeypatch.setattr(chat_store, "edit_message", broken)
        error = ws.fail("chat:edit", {"study_id": study["id"],
                                      "message_id": ack["message"]["id"], "content": "x"})
        assert error["code"] == "INTERNAL"
        assert "simulated" not in error["message"]  # no internals leak
        assert ws.ok("ping")["server_time"] > 0
