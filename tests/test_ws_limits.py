"""PROTOCOL §9: limits and flow control (rooms per session, sessions per user, chat rate,
signalling rate, frame rate, slow consumers, overload)."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest

from coup.actors import room as room_module
from coup.actors import session as session_module
from tests.conftest import Api, LiveServer
from tests.wsclient import (
    RawWs,
    WsClient,
    chat_limit,
    member_of,
    new_client_id,
    override_settings,
    say,
)


def test_rooms_per_session_limit_is_a_bad_request(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    studies = [api.create_study(owner) for _ in range(3)]
    with override_settings(server, ws_max_rooms_per_session=2), \
            WsClient.open(server, owner.token) as ws:
        assert ws.hello["limits"]["max_rooms"] == 2
        ws.ok("study:join", {"study_id": studies[0]["id"]})
        ws.ok("study:join", {"study_id": studies[1]["id"]})
        assert ws.fail("study:join", {"study_id": studies[2]["id"]})["code"] == "BAD_REQUEST"
        ws.ok("study:join", {"study_id": studies[1]["id"]})  # re-joining is not a new room
        ws.ok("study:leave", {"study_id": studies[0]["id"]})
        ws.ok("study:join", {"study_id": studies[2]["id"]})


def test_sessions_per_user_limit_closes_the_oldest(api: Api, server: LiveServer) -> None:
    user = api.signup()
    with override_settings(server, ws_max_sessions_per_user=2):
        first = WsClient.open(server, user.token)
        second = WsClient.open(server, user.token)
        third = WsClient.open(server, user.token)
        try:
            assert first.closed_with(timeout=5) == 1008
            assert second.ok("ping")["server_time"] > 0
            assert third.ok("ping")["server_time"] > 0
        finally:
            for ws in (first, second, third):
                ws.close()


def test_chat_rate_limit_recovers_after_the_window(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with chat_limit(server, 2, 1.0), WsClient.open(server, owner.token) as ws:
        ws.ok("study:join", {"study_id": study["id"]})
        say(ws, study["id"], "하나")
        say(ws, study["id"], "둘")
        error = ws.fail("chat:message", {"study_id": study["id"], "content": "셋",
                                         "client_id": new_client_id()})
        assert error["code"] == "RATE_LIMITED" and 0 < error["retry_after_ms"] <= 1000
        time.sleep(error["retry_after_ms"] / 1000 + 0.05)
        say(ws, study["id"], "셋")


def test_signalling_over_50_per_second_is_rate_limited(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        for ws in (a, b):
            ws.ok("study:join", {"study_id": study["id"]})
            ws.ok("video:join-room", {"study_id": study["id"]})
        for n in range(70):
            a.send("video:ice-candidate", {"study_id": study["id"], "to": b.session_id,
                                           "candidate": f"c{n}"}, ref=n)
        replies = [a.reply(n) for n in range(70)]
        limited = [r for r in replies if not r["ok"]]
        assert limited and all(r["error"]["code"] == "RATE_LIMITED" for r in limited)
        assert all(r["error"]["retry_after_ms"] > 0 for r in limited)
        assert sum(r["ok"] for r in replies) <= 2 * 50  # at most two windows' worth
        delivered = b.events("video:ice-candidate", 0.5)
        assert len(delivered) == sum(r["ok"] for r in replies)
        assert a.ok("ping")["server_time"] > 0  # the connection stays open


def test_more_than_100_frames_per_second_closes_4029(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        ws.send_until_closed("ping", {}, range(150))
        frames, code = ws.frames_until_close(timeout=5)
        assert code == 4029
        refs = [f["ref"] for f in frames if f.get("event") == "reply"]
        assert refs == sorted(set(refs)) and len(refs) <= 101


def test_the_frame_that_trips_4029_is_answered(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        for n in range(101):
            ws.send("ping", {}, ref=n)
        frames, code = ws.frames_until_close(timeout=5)
        assert code == 4029
        last = [f for f in frames if f.get("ref") == 100]
        assert len(last) == 1 and last[0]["ok"] is False


def test_a_slow_consumer_is_closed_1013_and_the_room_keeps_up(api: Api,
                                                              server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    watcher, sleeper = member_of(api, study), member_of(api, study)
    registry = server.services.realtime.registry
    with chat_limit(server, 100_000), \
            override_settings(server, ws_outbound_max_bytes=16_384, ws_outbound_max_frames=16), \
            WsClient.open(server, owner.token) as flooder, \
            WsClient.open(server, watcher.token) as observer:
        slow = RawWs(server, sleeper.token)
        try:
            slow.send_text(json.dumps({"event": "study:join", "ref": "j",
                                       "data": {"study_id": study["id"]}}))
            hello = next(json.loads(p) for op, p in slow.frames() if op == 0x1)
            for opcode, payload in slow.frames():
                if opcode == 0x1 and json.loads(payload).get("ref") == "j":
                    break
            slow_session = registry.sessions[hello["data"]["session_id"]]
            # Loopback send buffers autotune to megabytes; pin the server side of this one
            # connection small so the backlog reaches the outbound queue quickly.
            server_socket = slow_session.connection.ws_connection.stream.socket
            server_socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
            for ws in (flooder, observer):
                ws.ok("study:join", {"study_id": study["id"]})
            observer.drain(0.1)
            content = "느린 소비자 " * 250
            acks: list[int] = []
            while not slow_session.closing and len(acks) < 600:
                refs = [flooder.next_ref() for _ in range(40)]
                for ref in refs:
                    flooder.send("chat:message", {"study_id": study["id"], "content": content,
                                                  "client_id": new_client_id()}, ref)
                acks += [flooder.reply(ref)["data"]["seq"] for ref in refs]
                time.sleep(0.5)  # 80 frames per second: under the 100/s frame limit
            assert slow_session.closing, "the slow consumer was never shed"
            code, _ = slow.read_until_close(timeout=10)
            assert code == 1013
            seen = [e["seq"] for e in observer.collect("chat:new-message", len(acks))]
            assert seen == acks == list(range(acks[0], acks[0] + len(acks)))
        finally:
            slow.close()


def test_a_full_room_mailbox_answers_overloaded(api: Api, server: LiveServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from coup.store import realtime_queries

    monkeypatch.setattr(room_module.RoomActor, "mailbox_size", 1)
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    check = realtime_queries.check_room_access
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})

        async def slow_check(study_id: str, user_id: str) -> None:
            await asyncio.sleep(1.0)  # the room is busy with b's join meanwhile
            await check(study_id, user_id)

        monkeypatch.setattr(realtime_queries, "check_room_access", slow_check)
        b.send("study:join", {"study_id": study["id"]}, ref="busy")
        time.sleep(0.3)
        offer = {"study_id": study["id"], "to": "someone", "sdp": "v=0"}
        a.send("video:offer", offer, ref="queued")
        a.send("video:offer", offer, ref="shed")
        shed = a.reply("shed")
        assert shed["ok"] is False and shed["error"]["code"] == "OVERLOADED"
        assert shed["error"]["retry_after_ms"] > 0
        assert a.reply("queued")["error"]["code"] == "NOT_FOUND"  # handled once free
        assert b.reply("busy")["ok"] is True


def test_a_join_that_timed_out_is_answered_once_and_leaves_no_trace(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(room_module, "RECONNECT_GRACE_SECONDS", 0.1)
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        with WsClient.open(server, member.token) as b:
            monkeypatch.setattr(session_module, "ROOM_ASK_TIMEOUT_SECONDS", 0)
            b.send("study:join", {"study_id": study["id"]}, ref="slow")
            replies = [f for f in b.drain(1.0) if f.get("ref") == "slow"]
            monkeypatch.setattr(session_module, "ROOM_ASK_TIMEOUT_SECONDS", 10)
            assert replies and replies[0]["ok"] is False
            assert replies[0]["error"]["code"] == "OVERLOADED"
            assert replies[0]["error"]["retry_after_ms"] > 0
            duplicate_replies = len(replies) - 1
        # Whatever the room did with the abandoned join, the user must not stay online.
        offline = [e for e in a.events("user:offline", 1.0) if e["user_id"] == member.id]
        online = [e for e in a.events("user:online", 0.1) if e["user"]["id"] == member.id]
        assert duplicate_replies == 0 and (offline or not online)
