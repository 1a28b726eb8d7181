"""PROTOCOL §8: video call signalling (join, cap, relays, peer state, screen share, leave,
in-call chat)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.conftest import Api, LiveServer, User
from tests.wsclient import WsClient, member_of, override_settings, restrict_user


@pytest.fixture()
def room(api: Api, server: LiveServer) -> Iterator[tuple[dict, list[WsClient], list[User]]]:
    """A study with three members, each with one socket joined to the room."""
    owner = api.signup(name="방장")
    study = api.create_study(owner)
    users = [owner, member_of(api, study, "둘째"), member_of(api, study, "셋째")]
    with ExitStack() as stack:
        sockets = [stack.enter_context(WsClient.open(server, u.token)) for u in users]
        for ws in sockets:
            ws.ok("study:join", {"study_id": study["id"]})
        for ws in sockets:
            ws.drain(0.1)
        yield study, sockets, users


def test_join_room_lists_participants_and_ice_servers(room, server: LiveServer) -> None:
    study, (a, b, c), (ua, ub, _) = room
    first = a.ok("video:join-room", {"study_id": study["id"]})
    assert first["participants"] == []
    assert {"urls": list(server.settings.stun_urls)} in first["ice_servers"]
    second = b.ok("video:join-room", {"study_id": study["id"]})
    assert second["participants"] == [{"session_id": a.session_id, "user": {
        "id": ua.id, "name": "방장", "avatar": None}, "audio": True, "video": True,
        "screen": False}]
    assert a.expect("video:user-joined") == {"study_id": study["id"],
                                             "session_id": b.session_id,
                                             "user": {"id": ub.id, "name": "둘째", "avatar": None}}
    assert c.events("video:user-joined", 0.3) == []  # only the call hears about the call
    call = c.ok("study:join", {"study_id": study["id"]})["call"]
    assert {p["session_id"] for p in call["participants"]} == {a.session_id, b.session_id}


def test_turn_credentials_follow_the_coturn_rest_scheme(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    with override_settings(server, turn_secret="s3cret", turn_urls=("turn:turn.test:3478",)):
        study = api.create_study(owner)
        with WsClient.open(server, owner.token) as ws:
            ws.ok("study:join", {"study_id": study["id"]})
            servers = ws.ok("video:join-room", {"study_id": study["id"]})["ice_servers"]
    turn = next(s for s in servers if "username" in s)
    assert turn["urls"] == ["turn:turn.test:3478"]
    expiry, user_id = turn["username"].split(":")
    assert user_id == owner.id
    assert abs(int(expiry) - (time.time() + 3600)) < 60
    digest = hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()


def test_call_full_at_the_configured_cap(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    with override_settings(server, video_max_participants=2):
        study = api.create_study(owner)
        users = [owner, member_of(api, study), member_of(api, study)]
        with ExitStack() as stack:
            sockets = [stack.enter_context(WsClient.open(server, u.token)) for u in users]
            for ws in sockets:
                ws.ok("study:join", {"study_id": study["id"]})
            sockets[0].ok("video:join-room", {"study_id": study["id"]})
            sockets[1].ok("video:join-room", {"study_id": study["id"]})
            assert sockets[2].fail("video:join-room",
                                   {"study_id": study["id"]})["code"] == "CALL_FULL"
            sockets[1].ok("video:leave-room", {"study_id": study["id"]})
            sockets[2].ok("video:join-room", {"study_id": study["id"]})


def test_offer_answer_and_candidates_reach_the_target_in_order(room) -> None:
    study, (a, b, c), (ua, _ub, _) = room
    for ws in (a, b, c):
        ws.ok("video:join-room", {"study_id": study["id"]})
    a.ok("video:offer", {"study_id": study["id"], "to": b.session_id, "sdp": "v=0 offer"})
    offer = b.expect("video:offer")
    assert offer == {"study_id": study["id"], "from": a.session_id,
                     "user": {"id": ua.id, "name": "방장", "avatar": None}, "sdp": "v=0 offer"}
    b.ok("video:answer", {"study_id": study["id"], "to": a.session_id,
                          "sdp": {"type": "answer", "sdp": "v=0"}})
    assert a.expect("video:answer")["sdp"] == {"type": "answer", "sdp": "v=0"}
    for n in range(20):
        a.send("video:ice-candidate", {"study_id": study["id"], "to": b.session_id,
                                       "candidate": {"candidate": f"c{n}", "sdpMid": "0"}})
    a.send("video:ice-candidate", {"study_id": study["id"], "to": b.session_id,
                                   "candidate": None})
    received = b.collect("video:ice-candidate", 21)
    assert [r["candidate"] and r["candidate"]["candidate"] for r in received] == \
        [f"c{n}" for n in range(20)] + [None]
    assert c.events("video:ice-candidate", 0.3) == [] and c.events("video:offer", 0.1) == []


def test_relay_to_a_session_not_in_the_call_is_not_found(room) -> None:
    study, (a, b, c), _ = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    assert a.fail("video:offer", {"study_id": study["id"], "to": c.session_id,
                                  "sdp": "v=0"})["code"] == "NOT_FOUND"
    assert a.fail("video:offer", {"study_id": study["id"], "to": "nobody",
                                  "sdp": "v=0"})["code"] == "NOT_FOUND"
    assert c.fail("video:offer", {"study_id": study["id"], "to": a.session_id,
                                  "sdp": "v=0"})["code"] == "NOT_FOUND"  # c is not in it
    assert a.fail("video:offer", {"study_id": study["id"], "to": b.session_id,
                                  "sdp": 5})["code"] == "BAD_REQUEST"


def test_toggles_send_peer_state_to_the_others(room) -> None:
    study, (a, b, _), _ = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    a.drain(0.1)
    a.ok("video:toggle-audio", {"study_id": study["id"], "muted": True})
    a.ok("video:toggle-video", {"study_id": study["id"], "off": True})
    a.ok("video:speaking", {"study_id": study["id"], "speaking": True})
    a.ok("video:screen-share", {"study_id": study["id"], "sharing": True})
    states = b.collect("video:peer-state", 4)
    base = {"study_id": study["id"], "session_id": a.session_id}
    assert states == [
        {**base, "audio": False, "video": True, "screen": False, "speaking": False},
        {**base, "audio": False, "video": False, "screen": False, "speaking": False},
        {**base, "audio": False, "video": False, "screen": False, "speaking": True},
        {**base, "audio": False, "video": False, "screen": True, "speaking": True},
    ]
    assert a.events("video:peer-state", 0.2) == []
    assert a.fail("video:toggle-audio", {"study_id": study["id"],
                                         "muted": "yes"})["code"] == "BAD_REQUEST"


def test_only_one_screen_sharer_at_a_time(room) -> None:
    study, (a, b, _), _ = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    a.ok("video:screen-share", {"study_id": study["id"], "sharing": True})
    a.ok("video:screen-share", {"study_id": study["id"], "sharing": True})  # still a's
    assert b.fail("video:screen-share", {"study_id": study["id"],
                                         "sharing": True})["code"] == "CONFLICT"
    a.ok("video:screen-share", {"study_id": study["id"], "sharing": False})
    b.ok("video:screen-share", {"study_id": study["id"], "sharing": True})


def test_the_sharer_leaving_frees_the_screen(room) -> None:
    study, (a, b, _), _ = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    a.ok("video:screen-share", {"study_id": study["id"], "sharing": True})
    a.ok("video:leave-room", {"study_id": study["id"]})
    b.ok("video:screen-share", {"study_id": study["id"], "sharing": True})


def test_leave_close_and_study_leave_send_user_left(room, server: LiveServer) -> None:
    study, (a, b, c), (_ua, _ub, uc) = room
    for ws in (a, b, c):
        ws.ok("video:join-room", {"study_id": study["id"]})
    a.drain(0.1)
    c.ok("video:leave-room", {"study_id": study["id"]})
    assert a.expect("video:user-left") == {"study_id": study["id"],
                                           "session_id": c.session_id, "user_id": uc.id}
    c.ok("video:leave-room", {"study_id": study["id"]})  # leaving twice is harmless
    c.ok("video:join-room", {"study_id": study["id"]})
    a.expect("video:user-joined")
    c.ok("study:leave", {"study_id": study["id"]})  # leaving the room leaves the call
    assert a.expect("video:user-left")["session_id"] == c.session_id
    b_session = b.session_id
    b.close()
    assert a.expect("video:user-left", timeout=5)["session_id"] == b_session
    assert a.ok("study:join", {"study_id": study["id"]})["call"]["participants"][0][
        "session_id"] == a.session_id


def test_kick_removes_the_member_from_the_call(room) -> None:
    study, (a, b, _), (ua, ub, _) = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    ua.http.request("DELETE", f"/api/studies/{study['id']}/members/{ub.id}")
    left = a.expect("video:user-left", timeout=1)
    assert left == {"study_id": study["id"], "session_id": b.session_id, "user_id": ub.id}


def test_study_deletion_ends_the_call(room) -> None:
    study, (a, b, _), (ua, _, _) = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    assert ua.http.delete(f"/api/studies/{study['id']}").status_code == 200
    assert b.expect("study:removed", timeout=1)["reason"] == "deleted"
    assert a.expect("study:removed", timeout=1)["reason"] == "deleted"


def test_video_chat_reaches_the_call_only(room, server: LiveServer) -> None:
    study, (a, b, c), (ua, _, _uc) = room
    a.ok("video:join-room", {"study_id": study["id"]})
    b.ok("video:join-room", {"study_id": study["id"]})
    before = int(time.time() * 1000)
    assert a.ok("chat:video-message", {"study_id": study["id"], "message": "  들리나요?  "}) == {}
    for ws in (a, b):
        got = ws.expect("chat:video-message-received")
        assert got["message"] == "들리나요?" and got["study_id"] == study["id"]
        assert got["user"] == {"id": ua.id, "name": "방장", "avatar": None}
        assert got["id"] and before - 1000 <= got["timestamp"] <= before + 10_000
    assert c.events("chat:video-message-received", 0.3) == []
    assert c.fail("chat:video-message", {"study_id": study["id"],
                                         "message": "밖에서"})["code"] == "NOT_FOUND"
    assert a.fail("chat:video-message", {"study_id": study["id"],
                                         "message": "x" * 501})["code"] == "BAD_REQUEST"
    restrict_user(server, ua.id, ["MESSAGE"])
    assert a.fail("chat:video-message", {"study_id": study["id"],
                                         "message": "제한됨"})["code"] == "RESTRICTED"


def test_video_commands_need_the_room(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        assert ws.fail("video:join-room", {"study_id": study["id"]})["code"] == "FORBIDDEN"
        assert ws.fail("video:offer", {"study_id": study["id"], "to": "x",
                                       "sdp": "v=0"})["code"] == "FORBIDDEN"
