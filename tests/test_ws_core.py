"""Realtime core through real sockets: hello, join, chat with acks and seq, recovery."""

from __future__ import annotations

import uuid

from tests.conftest import Api, LiveServer
from tests.wsclient import WsClient


def test_hello_after_bearer_upgrade(api: Api, server: LiveServer) -> None:
    user = api.signup(name="웹소켓")
    with WsClient.open(server, user.token) as ws:
        hello = ws.hello
        assert hello["user"] == {"id": user.id, "name": "웹소켓", "avatar": None}
        assert hello["node"] == "test-node"
        assert hello["heartbeat_ms"] == 25000
        assert hello["limits"]["max_frame_bytes"] == 65536
        assert hello["unread_notifications"] == 0
        assert ws.ok("ping")["server_time"] > 0


def test_chat_message_acked_after_commit_and_delivered_to_room(api: Api,
                                                               server: LiveServer) -> None:
    owner, member = api.signup(), api.signup()
    study = api.create_study(owner)
    assert api.join(member, study["id"]).status_code == 201
    with WsClient.open(server, owner.token) as a, WsClient.open(server, member.token) as b:
        joined = a.ok("study:join", {"study_id": study["id"]})
        assert joined["recovered"] is True and joined["missed"] == []
        b.ok("study:join", {"study_id": study["id"]})
        client_id = str(uuid.uuid4())
        ack = a.ok("chat:message", {"study_id": study["id"], "content": "안녕하세요; DROP TABLE",
                                    "client_id": client_id})
        assert ack["seq"] == joined["seq"] + 1
        assert ack["message"]["content"] == "안녕하세요; DROP TABLE"
        event = b.expect("chat:new-message")
        assert event["seq"] == ack["seq"] and event["message"]["client_id"] == client_id
        again = a.ok("chat:message", {"study_id": study["id"], "content": "다른 내용",
                                      "client_id": client_id})
        assert again["message"]["id"] == ack["message"]["id"]


def test_join_with_since_recovers_missed_events(api: Api, server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    with WsClient.open(server, owner.token) as ws:
        start = ws.ok("study:join", {"study_id": study["id"]})["seq"]
        for n in range(3):
            ws.ok("chat:message", {"study_id": study["id"], "content": f"m{n}",
                                   "client_id": str(uuid.uuid4())})
    with WsClient.open(server, owner.token) as ws:
        joined = ws.ok("study:join", {"study_id": study["id"], "since": start})
        assert joined["recovered"] is True
        assert [e["data"]["seq"] for e in joined["missed"]] == [start + 1, start + 2, start + 3]
