"""PROTOCOL §5: chat over the WebSocket (ack after commit, idempotency, content rules, rate
limit, edit, delete, read cursors, typing, closed studies and restrictions)."""

from __future__ import annotations

import pytest

from coup.actors import room as room_module
from tests.conftest import Api, LiveServer, User
from tests.wsclient import (
    WsClient,
    create_file,
    member_of,
    messages_in_db,
    new_client_id,
    passivate_room,
    restrict_user,
    say,
    set_study_status,
    study_head,
)


def joined(server: LiveServer, user: User, study_id: str) -> WsClient:
    ws = WsClient.open(server, user.token)
    ws.ok("study:join", {"study_id": study_id})
    return ws


def test_ack_comes_after_commit_with_message_and_seq(api: Api, server: LiveServer) -> None:
    owner = api.signup(name="작성자")
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        head = study_head(server, study["id"])
        client_id = new_client_id()
        ack = say(a, study["id"], "첫 메시지", client_id)
        assert ack["seq"] == head + 1
        message = ack["message"]
        assert message["seq"] == ack["seq"] and message["client_id"] == client_id
        assert message["study_id"] == study["id"] and message["edited"] is False
        assert message["user"] == {"id": owner.id, "name": "작성자", "avatar": None}
        assert message["file"] is None and message["content"] == "첫 메시지"
        stored = messages_in_db(server, study["id"])
        assert [(m["id"], m["seq"]) for m in stored] == [(message["id"], ack["seq"])]
        for ws in (a, b):  # the sender's session too
            event = ws.expect("chat:new-message")
            assert event == {"study_id": study["id"], "seq": ack["seq"], "message": message}


def test_resending_a_client_id_returns_the_original(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        client_id = new_client_id()
        first = say(a, study["id"], "원래 내용", client_id)
        again = say(a, study["id"], "다른 내용", client_id)
        assert again == first
        response = owner.http.post(f"/api/studies/{study['id']}/chat",
                                   json={"content": "REST 재시도", "client_id": client_id})
        assert response.status_code == 200
        assert response.json()["data"] == first["message"]
        assert len(messages_in_db(server, study["id"])) == 1
        assert [e["seq"] for e in b.events("chat:new-message", 0.4)] == [first["seq"]]


def test_rest_replay_of_a_websocket_message_answers_200(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        client_id = new_client_id()
        first = say(ws, study["id"], "원래 내용", client_id)
        response = owner.http.post(f"/api/studies/{study['id']}/chat",
                                   json={"content": "REST 재시도", "client_id": client_id})
        assert response.status_code == 200
        assert response.json()["data"] == first["message"]


def test_client_id_retry_after_the_room_restarted(api: Api, server: LiveServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(room_module, "RECONNECT_GRACE_SECONDS", 0.05)
    owner = api.signup()
    study = api.create_study(owner)
    client_id = new_client_id()
    with joined(server, owner, study["id"]) as ws:
        first = say(ws, study["id"], "한 번만", client_id)
    passivate_room(server, study["id"])
    with joined(server, owner, study["id"]) as ws:
        assert say(ws, study["id"], "두 번째", client_id) == first
        assert ws.events("chat:new-message", 0.3) == []
    assert len(messages_in_db(server, study["id"])) == 1


def test_a_client_id_is_per_user(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    client_id = new_client_id()
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        first = say(a, study["id"], "내 것", client_id)
        second = say(b, study["id"], "네 것", client_id)
        assert second["message"]["id"] != first["message"]["id"]
        assert second["seq"] == first["seq"] + 1


@pytest.mark.parametrize(("sent", "stored"), [
    ("  앞뒤 공백  ", "앞뒤 공백"),
    ("줄\n바꿈\t탭", "줄\n바꿈\t탭"),
    ("제어\x00문자\x07\x1b 제거", "제어문자 제거"),
    ("'; DROP TABLE messages; -- ...", "'; DROP TABLE messages; -- ..."),
    ("e\u0301", "\u00e9"),
    ("가" * 2000, "가" * 2000),
])
def test_content_is_cleaned_and_kept_as_written(api: Api, server: LiveServer, sent: str,
                                                stored: str) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        assert say(ws, study["id"], sent)["message"]["content"] == stored


@pytest.mark.parametrize("data", [
    {"content": ""},
    {"content": "   \n\t "},
    {"content": "\x00\x01"},
    {"content": "가" * 2001},
    {"content": 5},
    {"content": "ok", "client_id": "short"},
    {"content": "ok", "client_id": "has spaces in it"},
    {"content": "ok", "client_id": None},
    {"content": "ok", "file_id": 3},
], ids=["empty", "blank", "controls-only", "too-long", "not-text", "short-id", "bad-id",
        "no-id", "file-id-type"])
def test_invalid_messages_are_bad_requests(api: Api, server: LiveServer, data: dict) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        frame = {"study_id": study["id"], "client_id": new_client_id(), **data}
        if frame["client_id"] is None:
            del frame["client_id"]
        assert ws.fail("chat:message", frame)["code"] == "BAD_REQUEST"
    assert messages_in_db(server, study["id"]) == []


def test_a_file_alone_is_a_message(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study, other = api.create_study(owner), api.create_study(owner)
    file_id = create_file(server, study["id"], owner.id, "정리.txt")
    foreign = create_file(server, other["id"], owner.id)
    with joined(server, owner, study["id"]) as ws:
        ack = ws.ok("chat:message", {"study_id": study["id"], "file_id": file_id,
                                     "client_id": new_client_id()})
        assert ack["message"]["content"] == ""
        assert ack["message"]["file"]["id"] == file_id
        assert ack["message"]["file"]["name"] == "정리.txt"
        assert ws.fail("chat:message", {"study_id": study["id"], "file_id": foreign,
                                        "client_id": new_client_id()})["code"] == "BAD_REQUEST"


def test_rate_limit_is_shared_between_rest_and_websocket(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study, elsewhere = api.create_study(owner), api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        for n in range(3):
            response = owner.http.post(f"/api/studies/{study['id']}/chat",
                                       json={"content": f"rest {n}"})
            assert response.status_code == 201
        say(ws, study["id"], "ws 1")
        say(ws, study["id"], "ws 2")
        error = ws.fail("chat:message", {"study_id": study["id"], "content": "여섯 번째",
                                         "client_id": new_client_id()})
        assert error["code"] == "RATE_LIMITED"
        assert 0 < error["retry_after_ms"] <= 10_000
        response = owner.http.post(f"/api/studies/{study['id']}/chat", json={"content": "x"})
        assert response.status_code == 429
        ws.ok("study:join", {"study_id": elsewhere["id"]})
        say(ws, elsewhere["id"], "다른 스터디는 따로 센다")
    assert len(messages_in_db(server, study["id"])) == 5


def test_a_replay_does_not_count_toward_the_rate_limit(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        acks = [say(ws, study["id"], f"m{n}") for n in range(5)]
        replay = say(ws, study["id"], "재시도", acks[0]["message"]["client_id"])
        assert replay == acks[0]


def test_a_retry_in_flight_is_not_rate_limited(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        for n in range(4):
            say(ws, study["id"], f"m{n}")
        frame = {"study_id": study["id"], "content": "다섯 번째", "client_id": new_client_id()}
        ws.send("chat:message", frame, ref="first")
        ws.send("chat:message", frame, ref="retry")  # before the first is committed
        first, retry = ws.reply("first"), ws.reply("retry")
        assert first["ok"] is True and retry["ok"] is True, retry
        assert retry["data"] == first["data"]


def test_a_replay_after_room_restart_is_not_rate_limited(api: Api, server: LiveServer,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    monkeypatch.setattr(room_module, "RECONNECT_GRACE_SECONDS", 0.05)
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        acks = [say(ws, study["id"], f"m{n}") for n in range(5)]
    passivate_room(server, study["id"])
    response = owner.http.post(f"/api/studies/{study['id']}/chat", json={
        "content": "m0", "client_id": acks[0]["message"]["client_id"]})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["id"] == acks[0]["message"]["id"]


def test_edit_by_the_author_only(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        ack = say(b, study["id"], "고치기 전")
        message_id = ack["message"]["id"]
        assert a.fail("chat:edit", {"study_id": study["id"], "message_id": message_id,
                                    "content": "남의 글"})["code"] == "FORBIDDEN"
        edited = b.ok("chat:edit", {"study_id": study["id"], "message_id": message_id,
                                    "content": "  고친 뒤  "})["message"]
        assert edited["content"] == "고친 뒤" and edited["edited"] is True
        assert edited["seq"] == ack["seq"]  # the message keeps its own seq
        for ws in (a, b):
            event = ws.expect("chat:message-updated")
            assert event["seq"] == ack["seq"] + 1 and event["message"] == edited
        assert b.fail("chat:edit", {"study_id": study["id"], "message_id": message_id,
                                    "content": ""})["code"] == "BAD_REQUEST"
        assert b.fail("chat:edit", {"study_id": study["id"], "message_id": "missing",
                                    "content": "x"})["code"] == "NOT_FOUND"


def test_delete_by_the_author_or_a_study_admin(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member, other = member_of(api, study), member_of(api, study)
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b, \
            joined(server, other, study["id"]) as c:
        mine = say(b, study["id"], "내가 지울 글")["message"]["id"]
        moderated = say(b, study["id"], "방장이 지울 글")["message"]["id"]
        assert c.fail("chat:delete", {"study_id": study["id"],
                                      "message_id": mine})["code"] == "FORBIDDEN"
        assert b.ok("chat:delete", {"study_id": study["id"], "message_id": mine}) == {}
        assert a.ok("chat:delete", {"study_id": study["id"], "message_id": moderated}) == {}
        deleted = [e["message_id"] for e in c.events("chat:message-deleted", 0.4)]
        assert deleted == [mine, moderated]
        assert b.fail("chat:delete", {"study_id": study["id"],
                                      "message_id": mine})["code"] == "NOT_FOUND"
        assert b.fail("chat:edit", {"study_id": study["id"], "message_id": mine,
                                    "content": "x"})["code"] == "NOT_FOUND"


def test_chat_read_moves_forward_only_and_clamps(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    cursors = f"/api/studies/{study['id']}/chat/read-cursors"
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        acks = [say(a, study["id"], f"m{n}") for n in range(3)]
        a.drain(0.2)
        b.drain(0.2)
        assert b.ok("chat:read", {"study_id": study["id"], "seq": acks[1]["seq"]}) == {}
        for ws in (a, b):
            assert ws.expect("chat:message-read") == {
                "study_id": study["id"], "user_id": member.id, "seq": acks[1]["seq"]}
        assert b.ok("chat:read", {"study_id": study["id"], "seq": acks[0]["seq"]}) == {}
        assert a.events("chat:message-read", 0.3) == []  # backwards: nothing moved
        assert b.ok("chat:read", {"study_id": study["id"], "seq": 10**9}) == {}
        assert a.expect("chat:message-read")["seq"] == acks[-1]["seq"]  # clamped to last_seq
        rows = {c["user_id"]: c["last_read_seq"] for c in
                member.http.get(cursors).json()["data"]}
        assert rows[member.id] == acks[-1]["seq"]
        assert b.fail("chat:read", {"study_id": study["id"], "seq": -1})["code"] == \
            "BAD_REQUEST"


def test_typing_goes_to_others_only_and_is_throttled(api: Api, server: LiveServer) -> None:
    owner = api.signup(name="타자")
    study = api.create_study(owner)
    member = member_of(api, study)
    with joined(server, owner, study["id"]) as a, joined(server, member, study["id"]) as b:
        a.drain(0.2)
        b.drain(0.2)
        for _ in range(3):
            assert a.ok("chat:typing", {"study_id": study["id"], "is_typing": True}) == {}
        assert a.ok("chat:typing", {"study_id": study["id"], "is_typing": False}) == {}
        typing = b.events("chat:user-typing", 0.4)
        user = {"id": owner.id, "name": "타자", "avatar": None}
        assert typing == [{"study_id": study["id"], "user": user, "is_typing": True},
                          {"study_id": study["id"], "user": user, "is_typing": False}]
        assert a.events("chat:user-typing", 0.1) == []
        assert a.fail("chat:typing", {"study_id": "not-joined",
                                      "is_typing": True})["code"] == "FORBIDDEN"


def test_closed_study_refuses_send_and_edit_but_not_delete_or_read(api: Api,
                                                                   server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        ack = say(ws, study["id"], "닫히기 전")
        set_study_status(server, study["id"], "CLOSED")
        message_id = ack["message"]["id"]
        assert ws.fail("chat:message", {"study_id": study["id"], "content": "x",
                                        "client_id": new_client_id()})["code"] == "CONFLICT"
        assert ws.fail("chat:edit", {"study_id": study["id"], "message_id": message_id,
                                     "content": "x"})["code"] == "CONFLICT"
        assert ws.ok("chat:read", {"study_id": study["id"], "seq": ack["seq"]}) == {}
        assert ws.ok("chat:delete", {"study_id": study["id"], "message_id": message_id}) == {}


def test_message_restriction_refuses_send_and_edit(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with joined(server, owner, study["id"]) as ws:
        ack = say(ws, study["id"], "제한 전")
        restrict_user(server, owner.id, ["MESSAGE"])
        assert ws.fail("chat:message", {"study_id": study["id"], "content": "x",
                                        "client_id": new_client_id()})["code"] == "RESTRICTED"
        assert ws.fail("chat:edit", {"study_id": study["id"], "message_id": ack["message"]["id"],
                                     "content": "x"})["code"] == "RESTRICTED"
        assert ws.ok("chat:delete", {"study_id": study["id"],
                                     "message_id": ack["message"]["id"]}) == {}


def test_expired_restriction_no_longer_applies(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    restrict_user(server, owner.id, ["MESSAGE"], minutes=-1)
    with joined(server, owner, study["id"]) as ws:
        say(ws, study["id"], "제한이 끝났다")
