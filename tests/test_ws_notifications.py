"""PROTOCOL §7 and COUP.md §8.2: notification pushes, read state over the WebSocket and REST,
and CHAT notifications (only for members not in the room, coalesced)."""

from __future__ import annotations

from tests.conftest import Api, LiveServer, User
from tests.wsclient import WsClient, member_of, notifications_of, say


def unread(user: User) -> int:
    return user.http.get("/api/notifications/count").json()["data"]["unread"]


def test_rest_write_notification_reaches_every_session(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, auto_approve=False)
    applicant = api.signup(name="지원자")
    with WsClient.open(server, owner.token) as a, WsClient.open(server, owner.token) as b:
        assert api.join(applicant, study["id"]).status_code == 201
        for ws in (a, b):
            pushed = ws.expect("notification:new")["notification"]
            assert pushed["type"] == "JOIN_REQUEST"
            assert pushed["study_id"] == study["id"]
            assert pushed["study_name"] == study["name"]
            assert pushed["study_emoji"] == study["emoji"]
            assert pushed["data"]["user_id"] == applicant.id
            assert pushed["is_read"] is False and pushed["created_at"].endswith("Z")
            assert set(pushed) == {"id", "type", "message", "study_id", "study_name",
                                   "study_emoji", "data", "is_read", "created_at"}
        rest = owner.http.get("/api/notifications").json()["data"][0]
        assert rest == pushed


def test_notification_read_replies_unread_and_tells_other_sessions(api: Api,
                                                                   server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, auto_approve=False)
    for _ in range(2):
        api.join(api.signup(), study["id"])
    ids = [n["id"] for n in owner.http.get("/api/notifications").json()["data"]]
    with WsClient.open(server, owner.token) as a, WsClient.open(server, owner.token) as b:
        assert a.ok("notification:read", {"notification_id": ids[0]}) == {"unread": 1}
        assert b.expect("notification:unread-count") == {"unread": 1}
        assert a.events("notification:unread-count", 0.2) == []  # not the sender's own
        assert a.ok("notification:read", {"notification_id": ids[0]}) == {"unread": 1}
        assert a.ok("notification:read", {"all": True}) == {"unread": 0}
        assert b.expect("notification:unread-count", unread=0) == {"unread": 0}
    assert unread(owner) == 0


def test_notification_read_of_unknown_or_foreign_id_is_not_found(api: Api,
                                                                 server: LiveServer) -> None:
    owner, other = api.signup(), api.signup()
    study = api.create_study(owner, auto_approve=False)
    api.join(api.signup(), study["id"])
    theirs = owner.http.get("/api/notifications").json()["data"][0]["id"]
    with WsClient.open(server, other.token) as ws:
        assert ws.fail("notification:read", {"notification_id": theirs})["code"] == "NOT_FOUND"
        assert ws.fail("notification:read", {"notification_id": "nope"})["code"] == "NOT_FOUND"
        assert ws.fail("notification:read", {})["code"] == "BAD_REQUEST"
        assert ws.fail("notification:read", {"all": "yes"})["code"] == "BAD_REQUEST"
    assert unread(owner) == 1


def test_rest_read_state_changes_push_unread_count(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, auto_approve=False)
    for _ in range(3):
        api.join(api.signup(), study["id"])
    ids = [n["id"] for n in owner.http.get("/api/notifications").json()["data"]]
    with WsClient.open(server, owner.token) as ws:
        assert owner.http.post(f"/api/notifications/{ids[0]}/read").status_code == 200
        assert ws.expect("notification:unread-count") == {"unread": 2}
        assert owner.http.delete(f"/api/notifications/{ids[1]}").status_code == 200
        assert ws.expect("notification:unread-count") == {"unread": 1}
        assert owner.http.post("/api/notifications/mark-all-read").status_code == 200
        assert ws.expect("notification:unread-count") == {"unread": 0}


def test_chat_notifies_only_members_not_in_the_room(api: Api, server: LiveServer) -> None:
    owner = api.signup(name="보낸이")
    study = api.create_study(owner)
    present, absent = member_of(api, study, "참석"), member_of(api, study, "부재")
    with WsClient.open(server, owner.token) as a, WsClient.open(server, present.token) as p, \
            WsClient.open(server, absent.token) as q:
        a.ok("study:join", {"study_id": study["id"]})
        p.ok("study:join", {"study_id": study["id"]})
        ack = say(a, study["id"], "안녕하세요 여러분")
        pushed = q.expect("notification:new")["notification"]
        assert pushed["type"] == "CHAT" and pushed["study_id"] == study["id"]
        assert pushed["data"] == {"count": 1, "last_message_id": ack["message"]["id"],
                                  "last_seq": ack["seq"], "sender_id": owner.id}
        assert "안녕하세요 여러분" in pushed["message"]
        assert p.events("notification:new", 0.3) == []
        assert a.events("notification:new", 0.1) == []
    assert notifications_of(server, present.id, "CHAT") == []
    assert notifications_of(server, owner.id, "CHAT") == []


def test_chat_notifications_are_coalesced(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    absent = member_of(api, study)
    with WsClient.open(server, owner.token) as a, WsClient.open(server, absent.token) as q:
        a.ok("study:join", {"study_id": study["id"]})
        q.drain(0.2)
        acks = [say(a, study["id"], f"메시지 {n}") for n in range(3)]
        pushes = [q.expect("notification:new")["notification"] for _ in range(3)]
        assert len({n["id"] for n in pushes}) == 1
        assert [n["data"]["count"] for n in pushes] == [1, 2, 3]
        assert pushes[-1]["data"]["last_seq"] == acks[-1]["seq"]
        assert study["name"] in pushes[-1]["message"] and "3" in pushes[-1]["message"]
    rows = notifications_of(server, absent.id, "CHAT")
    assert len(rows) == 1 and rows[0]["data"]["count"] == 3
    assert unread(absent) == 1


def test_chat_read_to_the_latest_message_marks_the_chat_notification_read(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as a:
        a.ok("study:join", {"study_id": study["id"]})
        acks = [say(a, study["id"], f"m{n}") for n in range(2)]
    assert unread(member) == 1
    with WsClient.open(server, member.token) as b, WsClient.open(server, member.token) as c:
        b.ok("study:join", {"study_id": study["id"]})
        b.ok("chat:read", {"study_id": study["id"], "seq": acks[0]["seq"]})
        assert c.events("notification:unread-count", 0.3) == []  # not the latest yet
        assert unread(member) == 1
        b.ok("chat:read", {"study_id": study["id"], "seq": acks[1]["seq"]})
        for ws in (b, c):
            assert ws.expect("notification:unread-count") == {"unread": 0}
    assert unread(member) == 0
    assert notifications_of(server, member.id, "CHAT")[0]["is_read"] is True


def test_rest_chat_read_marks_the_chat_notification_read(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    response = owner.http.post(f"/api/studies/{study['id']}/chat", json={"content": "읽어줘"})
    message = response.json()["data"]
    assert unread(member) == 1
    with WsClient.open(server, member.token) as ws:
        read = member.http.post(f"/api/studies/{study['id']}/chat/{message['id']}/read")
        assert read.json()["data"] == {"last_read_seq": message["seq"], "unread_messages": 0}
        assert ws.expect("notification:unread-count") == {"unread": 0}


def test_after_reading_a_new_message_starts_a_new_chat_notification(
        api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    first = owner.http.post(f"/api/studies/{study['id']}/chat", json={"content": "하나"})
    member.http.post(f"/api/studies/{study['id']}/chat/{first.json()['data']['id']}/read")
    owner.http.post(f"/api/studies/{study['id']}/chat", json={"content": "둘"})
    rows = notifications_of(server, member.id, "CHAT")
    assert [(r["is_read"], r["data"]["count"]) for r in rows] == [(True, 1), (False, 1)]
