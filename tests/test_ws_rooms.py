"""PROTOCOL §4: joining and leaving study rooms, recovery with `since`, durable events from
REST writes, and removal (kick, leave, deletion)."""

from __future__ import annotations

import time

import pytest

from coup.actors import room as room_module
from tests.conftest import Api, LiveServer
from tests.wsclient import (
    WsClient,
    insert_events,
    member_of,
    passivate_room,
    say,
    study_head,
)


def test_join_reply_has_seq_online_call_missed_recovered(api: Api, server: LiveServer) -> None:
    owner = api.signup(name="방장")
    study = api.create_study(owner)
    member = member_of(api, study)
    head = study_head(server, study["id"])
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        joined = a.ok("study:join", {"study_id": study["id"]})
        assert joined["study_id"] == study["id"]
        assert joined["seq"] == head
        assert joined["online"] == [{"id": owner.id, "name": "방장", "avatar": None}]
        assert joined["call"] is None
        assert joined["missed"] == [] and joined["recovered"] is True
        pushed = a.expect("study:online-users")
        assert pushed == {"study_id": study["id"], "users": joined["online"]}
        second = b.ok("study:join", {"study_id": study["id"]})
        assert {u["id"] for u in second["online"]} == {owner.id, member.id}


def test_only_active_members_may_join(api: Api, server: LiveServer) -> None:
    owner, stranger, applicant = api.signup(), api.signup(), api.signup()
    public = api.create_study(owner)
    private = api.create_study(owner, is_public=False)
    gated = api.create_study(owner, auto_approve=False)
    assert api.join(applicant, gated["id"]).json()["data"]["member"]["status"] == "PENDING"
    leaver = member_of(api, public)
    assert leaver.http.post(f"/api/studies/{public['id']}/leave").status_code == 200
    with WsClient.open(server, stranger.token) as ws:
        assert ws.fail("study:join", {"study_id": public["id"]})["code"] == "FORBIDDEN"
        assert ws.fail("study:join", {"study_id": private["id"]})["code"] == "NOT_FOUND"
        assert ws.fail("study:join", {"study_id": "no-such-study"})["code"] == "NOT_FOUND"
    with WsClient.open(server, applicant.token) as ws:
        assert ws.fail("study:join", {"study_id": gated["id"]})["code"] == "FORBIDDEN"
    with WsClient.open(server, leaver.token) as ws:
        assert ws.fail("study:join", {"study_id": public["id"]})["code"] == "FORBIDDEN"
    assert owner.http.delete(f"/api/studies/{public['id']}").status_code == 200
    with WsClient.open(server, owner.token) as ws:
        assert ws.fail("study:join", {"study_id": public["id"]})["code"] == "NOT_FOUND"


def test_join_with_since_recovers_from_memory(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        with WsClient.open(server, member.token) as b:
            since = b.ok("study:join", {"study_id": study["id"]})["seq"]
        acks = [say(a, study["id"], f"놓친 메시지 {n}") for n in range(3)]
        with WsClient.open(server, member.token) as b:
            joined = b.ok("study:join", {"study_id": study["id"], "since": since})
            assert joined["recovered"] is True
            assert [e["event"] for e in joined["missed"]] == ["chat:new-message"] * 3
            assert [e["data"]["seq"] for e in joined["missed"]] == [x["seq"] for x in acks]
            assert joined["missed"][0]["data"]["message"] == acks[0]["message"]
            assert joined["missed"][0]["data"]["study_id"] == study["id"]
            assert joined["seq"] == acks[-1]["seq"]
            assert b.events("chat:new-message") == []  # nothing twice


def test_join_with_since_recovers_from_the_database(api: Api, server: LiveServer,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(room_module, "RECONNECT_GRACE_SECONDS", 0.05)
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        since = ws.ok("study:join", {"study_id": study["id"]})["seq"]
        acks = [say(ws, study["id"], f"m{n}") for n in range(3)]
    member = member_of(api, study)  # one more durable event, written with no room listening
    passivate_room(server, study["id"])
    with WsClient.open(server, owner.token) as ws:
        joined = ws.ok("study:join", {"study_id": study["id"], "since": since})
        assert joined["recovered"] is True
        seqs = [e["data"]["seq"] for e in joined["missed"]]
        assert seqs == list(range(since + 1, joined["seq"] + 1))
        assert seqs[:3] == [a["seq"] for a in acks]
        assert joined["missed"][-1]["event"] == "study:member-joined"
        assert joined["missed"][-1]["data"]["member"]["user"]["id"] == member.id


def test_more_than_1000_missed_events_is_not_recovered(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    start = study_head(server, study["id"])
    insert_events(server, study["id"], 1001)
    with WsClient.open(server, owner.token) as ws:
        joined = ws.ok("study:join", {"study_id": study["id"], "since": start})
        assert joined["recovered"] is False and joined["missed"] == []
        assert joined["seq"] == start + 1001


def test_exactly_1000_missed_events_are_recovered_in_order(api: Api,
                                                           server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    start = study_head(server, study["id"])
    insert_events(server, study["id"], 1000)
    with WsClient.open(server, owner.token) as ws:
        joined = ws.ok("study:join", {"study_id": study["id"], "since": start})
        assert joined["recovered"] is True
        assert [e["data"]["seq"] for e in joined["missed"]] == list(range(start + 1,
                                                                         start + 1001))


def test_since_at_or_after_the_head_misses_nothing(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        head = ws.ok("study:join", {"study_id": study["id"]})["seq"]
    for since in (head, head + 50):
        with WsClient.open(server, owner.token) as ws:
            joined = ws.ok("study:join", {"study_id": study["id"], "since": since})
            assert joined["missed"] == [] and joined["recovered"] is True


def test_study_leave_stops_events_and_chat(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": study["id"]})
        assert b.ok("study:leave", {"study_id": study["id"]}) == {}
        say(a, study["id"], "떠난 뒤의 메시지")
        assert b.events("chat:new-message", 0.3) == []
        assert b.fail("chat:message", {"study_id": study["id"], "content": "x",
                                       "client_id": "abcdefgh-1"})["code"] == "FORBIDDEN"
        assert b.ok("study:leave", {"study_id": study["id"]}) == {}  # not joined: still {}


def test_rest_writes_reach_joined_sessions_in_seq_order(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        head = a.ok("study:join", {"study_id": study["id"]})["seq"]
        b.ok("study:join", {"study_id": study["id"]})
        newcomer = member_of(api, study, "새멤버")
        response = owner.http.patch(f"/api/studies/{study['id']}/members/{member.id}/role",
                                    json={"role": "ADMIN"})
        assert response.status_code == 200, response.text
        response = owner.http.patch(f"/api/studies/{study['id']}",
                                    json={"description": "설명을 새로 바꾸었습니다."})
        assert response.status_code == 200, response.text
        for ws in (a, b):
            frames = [f for f in ws.drain(0.5) if "seq" in (f.get("data") or {})]
            assert [f["event"] for f in frames] == [
                "study:member-joined", "study:member-updated", "study:updated"]
            assert [f["data"]["seq"] for f in frames] == [head + 1, head + 2, head + 3]
            assert all(f["data"]["study_id"] == study["id"] for f in frames)
            assert frames[0]["data"]["member"]["user"]["id"] == newcomer.id
            assert frames[1]["data"]["member"]["role"] == "ADMIN"
            assert frames[2]["data"]["study"]["description"] == "설명을 새로 바꾸었습니다."


def test_kicked_member_gets_study_removed_then_nothing(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": study["id"]})
        b.drain(0.2)
        response = owner.http.request("DELETE", f"/api/studies/{study['id']}/members/"
                                      f"{member.id}", json={"reason": "규칙 위반"})
        assert response.status_code == 200, response.text
        kicked_at = time.monotonic()
        removed = b.expect("study:removed", timeout=1)
        assert time.monotonic() - kicked_at <= 1.0
        assert removed == {"study_id": study["id"], "reason": "kicked"}
        left = a.expect("study:member-left")
        assert left["user_id"] == member.id and left["reason"] == "kicked"
        say(a, study["id"], "강퇴 후")
        after = [f["event"] for f in b.drain(0.5)]
        assert "chat:new-message" not in after
        assert "study:removed" not in after
        assert b.fail("chat:message", {"study_id": study["id"], "content": "x",
                                       "client_id": "abcdefgh-2"})["code"] == "FORBIDDEN"
        assert b.fail("study:join", {"study_id": study["id"]})["code"] == "FORBIDDEN"


def test_leaving_the_study_removes_every_session_of_the_user(api: Api,
                                                             server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b1, \
            WsClient.open(server, member.token) as b2:
        for ws in (a, b1, b2):
            ws.ok("study:join", {"study_id": study["id"]})
        assert member.http.post(f"/api/studies/{study['id']}/leave").status_code == 200
        for ws in (b1, b2):
            assert ws.expect("study:removed", timeout=1) == {"study_id": study["id"],
                                                             "reason": "left"}
        left = a.expect("study:member-left")
        assert left == {"study_id": study["id"], "seq": left["seq"], "user_id": member.id,
                        "reason": "left"}


def test_deleting_the_study_removes_everyone(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        head = a.ok("study:join", {"study_id": study["id"]})["seq"]
        b.ok("study:join", {"study_id": study["id"]})
        assert owner.http.delete(f"/api/studies/{study['id']}").status_code == 200
        for ws in (a, b):
            assert ws.expect("study:deleted") == {"study_id": study["id"], "seq": head + 1}
            assert ws.expect("study:removed", timeout=1) == {"study_id": study["id"],
                                                             "reason": "deleted"}


def test_removal_from_one_room_keeps_the_others(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    first, second = api.create_study(owner), api.create_study(owner)
    member = member_of(api, first)
    assert api.join(member, second["id"]).status_code == 201
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        for study in (first, second):
            a.ok("study:join", {"study_id": study["id"]})
            b.ok("study:join", {"study_id": study["id"]})
        owner.http.request("DELETE", f"/api/studies/{first['id']}/members/{member.id}")
        b.expect("study:removed", study_id=first["id"])
        ack = say(a, second["id"], "다른 방은 그대로")
        assert b.expect("chat:new-message", study_id=second["id"])["seq"] == ack["seq"]
