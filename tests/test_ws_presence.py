"""PROTOCOL §6: presence in study rooms (online/offline, several devices, reconnect grace,
status changes)."""

from __future__ import annotations

import pytest

from coup.actors import room as room_module
from tests.conftest import Api, LiveServer
from tests.wsclient import WsClient, member_of


@pytest.fixture()
def short_grace(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(room_module, "RECONNECT_GRACE_SECONDS", 0.2)
    return 0.2


def online_ids(ws: WsClient, study_id: str) -> set[str]:
    return {u["id"] for u in ws.ok("study:join", {"study_id": study_id})["online"]}


def test_online_and_offline_are_pushed_to_the_others(api: Api, server: LiveServer,
                                                     short_grace: float) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study, "접속자")
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        with WsClient.open(server, member.token) as b:
            b.ok("study:join", {"study_id": study["id"]})
            assert a.expect("user:online") == {"study_id": study["id"], "user": {
                "id": member.id, "name": "접속자", "avatar": None}}
            assert b.events("user:online", 0.2) == []  # not about oneself
        assert a.expect("user:offline", timeout=5) == {"study_id": study["id"],
                                                       "user_id": member.id}
        assert online_ids(a, study["id"]) == {owner.id}


def test_a_user_with_two_devices_goes_offline_when_both_leave(api: Api, server: LiveServer,
                                                              short_grace: float) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        phone = WsClient.open(server, member.token)
        web = WsClient.open(server, member.token)
        phone.ok("study:join", {"study_id": study["id"]})
        web.ok("study:join", {"study_id": study["id"]})
        assert len(a.events("user:online", 0.3)) == 1
        phone.close()
        assert a.events("user:offline", 4 * short_grace) == []
        assert member.id in online_ids(web, study["id"])
        web.ok("study:leave", {"study_id": study["id"]})
        assert a.expect("user:offline", timeout=5)["user_id"] == member.id
        web.close()


def test_reconnecting_within_the_grace_produces_no_offline_online_pair(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        with WsClient.open(server, member.token) as b:
            b.ok("study:join", {"study_id": study["id"]})
        a.expect("user:online")
        with WsClient.open(server, member.token) as b:  # back well within 10 s
            assert member.id in {u["id"] for u in
                                 b.ok("study:join", {"study_id": study["id"]})["online"]}
            events = [f["event"] for f in a.drain(0.5)]
            assert "user:offline" not in events and "user:online" not in events


def test_offline_fires_after_the_grace_when_not_back(api: Api, server: LiveServer,
                                                     short_grace: float) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        with WsClient.open(server, member.token) as b:
            b.ok("study:join", {"study_id": study["id"]})
        a.expect("user:offline", timeout=5)
        with WsClient.open(server, member.token) as b:
            b.ok("study:join", {"study_id": study["id"]})
            assert a.expect("user:online")["user"]["id"] == member.id


def test_kicked_member_goes_offline_at_once(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": study["id"]})
        owner.http.request("DELETE", f"/api/studies/{study['id']}/members/{member.id}")
        assert a.expect("user:offline", timeout=1)["user_id"] == member.id


def test_joining_twice_from_one_session_counts_once(api: Api, server: LiveServer,
                                                    short_grace: float) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        head = b.ok("study:join", {"study_id": study["id"]})["seq"]
        b.ok("study:join", {"study_id": study["id"], "since": head})  # gap recovery
        b.ok("study:leave", {"study_id": study["id"]})
        assert a.expect("user:offline", timeout=3)["user_id"] == member.id


def test_status_change_reaches_every_room_of_the_user(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    first, second = api.create_study(owner), api.create_study(owner)
    member = member_of(api, first)
    assert api.join(member, second["id"]).status_code == 201
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        for study in (first, second):
            a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": first["id"]})
        a.drain(0.2)
        assert a.ok("presence:status-change", {"status": "busy"}) == {}
        changes = [f["data"] for f in b.drain(0.4)
                   if f["event"] == "presence:user-status-changed"]
        assert changes == [{"user_id": owner.id, "status": "busy"}]
        mine = [f["data"] for f in a.drain(0.2)
                if f["event"] == "presence:user-status-changed"]
        assert {"user_id": owner.id, "status": "busy"} in mine
        assert a.fail("presence:status-change", {"status": "invisible"})["code"] == \
            "BAD_REQUEST"


def test_status_change_outside_any_room_is_accepted(api: Api, server: LiveServer) -> None:
    with WsClient.open(server, api.signup().token) as ws:
        assert ws.ok("presence:status-change", {"status": "away"}) == {}
