"""Three real nodes on PostgreSQL + Redis, with clients on different nodes: chat order, presence,
notifications, signalling, kicks, revocations and the call cap hold cluster-wide."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster_support import (
    Cluster,
    NodeProcess,
    bearer,
    create_study,
    login,
    signup,
    start_cluster,
    study_with_members,
)
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow

# PROTOCOL §6: an offline push waits out the reconnect grace (RECONNECT_GRACE_SECONDS).
GRACE_SECONDS = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path_factory.mktemp("cluster-nodes"))
    try:
        cluster.add_nodes(["node-a", "node-b", "node-c"], COUP_VIDEO_MAX_PARTICIPANTS="2",
                          COUP_CHAT_RATE="1000/10s")
        yield cluster
    finally:
        cluster.close()


@pytest.fixture()
def nodes(cluster: Cluster) -> tuple[NodeProcess, NodeProcess, NodeProcess]:
    a, b, c = cluster.nodes
    return a, b, c


@contextlib.contextmanager
def in_room(node: NodeProcess, token: str, study_id: str) -> Iterator[tuple[WsClient,
                                                                            dict[str, Any]]]:
    """A socket on `node` joined to the study's room, with its join reply."""
    ws = WsClient.open(node, token)
    try:
        assert ws.hello is not None and ws.hello["node"] == node.name
        yield ws, ws.ok("study:join", {"study_id": study_id})
    finally:
        ws.close()


def online_ids(reply: dict[str, Any]) -> set[str]:
    return {user["id"] for user in reply["online"]}


def say(ws: WsClient, study_id: str, content: str) -> dict[str, Any]:
    return ws.ok("chat:message", {"study_id": study_id, "content": content,
                                  "client_id": str(uuid.uuid4())})


def test_chat_reaches_every_node_in_seq_order_both_ways(nodes: tuple[NodeProcess, ...]) -> None:
    study, users = study_with_members([n.base_url for n in nodes], 3)
    per_sender = 12
    with contextlib.ExitStack() as stack:
        rooms = [stack.enter_context(in_room(node, user["token"], study["id"]))
                 for node, user in zip(nodes, users, strict=True)]
        start_seq = max(reply["seq"] for _, reply in rooms)
        acks: dict[int, list[dict[str, Any]]] = {}

        def send_all(index: int) -> None:
            ws = rooms[index][0]
            acks[index] = [say(ws, study["id"], f"노드 {index} 메시지 {n}")
                           for n in range(per_sender)]

        threads = [threading.Thread(target=send_all, args=(i,)) for i in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert sorted(acks) == [0, 1, 2], "a sender did not finish"
        acked = {ack["seq"]: ack["message"]["id"] for sent in acks.values() for ack in sent}
        assert sorted(acked) == list(range(start_seq + 1, start_seq + 1 + 3 * per_sender))
        for ws, _reply in rooms:
            received = ws.collect("chat:new-message", 3 * per_sender, timeout=10)
            assert [m["seq"] for m in received] == sorted(acked)
            assert all(acked[m["seq"]] == m["message"]["id"] for m in received)
            # Nothing twice: the next push is not another copy.
            assert not [f for f in ws.drain(0.3) if f.get("event") == "chat:new-message"]


def test_presence_lists_and_pushes_span_nodes_with_devices_on_two_nodes(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, c = nodes
    study, (x, y, z) = study_with_members([n.base_url for n in nodes], 3)
    sid = study["id"]
    with in_room(a, x["token"], sid) as (ws_x, reply_x):
        assert online_ids(reply_x) == {x["id"]}
        ws_y1, reply_y1 = WsClient.open(b, y["token"]), None
        ws_y2 = WsClient.open(c, login(c.base_url, y["email"]))
        try:
            reply_y1 = ws_y1.ok("study:join", {"study_id": sid})
            assert online_ids(reply_y1) == {x["id"], y["id"]}
            assert ws_x.expect("user:online", timeout=5)["user"]["id"] == y["id"]
            # Y's second device, on a third node: already online, so nobody is told again.
            assert online_ids(ws_y2.ok("study:join", {"study_id": sid})) == {x["id"], y["id"]}
            with in_room(c, z["token"], sid) as (_ws_z, reply_z):
                assert online_ids(reply_z) == {x["id"], y["id"], z["id"]}
                assert ws_x.expect("user:online", timeout=5)["user"]["id"] == z["id"]
                assert ws_y1.expect("user:online", timeout=5)["user"]["id"] == z["id"]
                assert [u["user"]["id"] for u in ws_x.events("user:online", 0.5)] == []
                # Y leaves device 1, then device 2 three seconds later: Y stays online until
                # the last device's grace period ends, and goes offline exactly once.
                closed_first = time.monotonic()
                ws_y1.close()
                time.sleep(3)
                closed_last = time.monotonic()
                ws_y2.close()
                offline = ws_x.expect("user:offline", timeout=GRACE_SECONDS + 8)
                went_offline = time.monotonic()
                assert offline["user_id"] == y["id"]
                assert went_offline - closed_last >= GRACE_SECONDS - 1.0, \
                    "offline pushed while the other device was still joined"
                assert went_offline - closed_first >= GRACE_SECONDS + 2.0
                assert not ws_x.events("user:offline", 1.0)
                with in_room(b, login(b.base_url, x["email"]), sid) as (_ws, reply):
                    assert online_ids(reply) == {x["id"], z["id"]}
        finally:
            ws_y1.close()
            ws_y2.close()


def test_notifications_written_through_one_node_reach_sockets_on_others(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, c = nodes
    owner, member = signup(a.base_url), signup(b.base_url)
    study = create_study(a.base_url, owner, auto_approve=False)
    with WsClient.open(a, owner["token"]) as ws_owner, \
            WsClient.open(b, member["token"]) as ws_b, \
            WsClient.open(c, login(c.base_url, member["email"])) as ws_c:
        # Written through node C's REST, pushed to the owner's socket on node A.
        response = httpx.post(f"{c.base_url}/api/studies/{study['id']}/join",
                              headers=bearer(member["token"]), json={}, timeout=30)
        assert response.status_code == 201, response.text
        assert ws_owner.expect("notification:new", timeout=5)["notification"]["type"] == \
            "JOIN_REQUEST"
        # Written through node A's REST, pushed to both of the member's devices (B and C).
        response = httpx.post(
            f"{a.base_url}/api/studies/{study['id']}/join-requests/{member['id']}/approve",
            headers=bearer(owner["token"]), json={}, timeout=30)
        assert response.status_code == 200, response.text
        on_b = ws_b.expect("notification:new", timeout=5)["notification"]
        on_c = ws_c.expect("notification:new", timeout=5)["notification"]
        assert on_b == on_c and on_b["type"] == "JOIN_APPROVED"
        assert on_b["study_id"] == study["id"]
        # Reading it on node B updates the unread count on node C.
        assert ws_b.ok("notification:read", {"notification_id": on_b["id"]})["unread"] == 0
        assert ws_c.expect("notification:unread-count", timeout=5) == {"unread": 0}
        assert not ws_b.events("notification:unread-count", 0.3)


def test_video_signalling_is_relayed_across_nodes_in_order(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, _c = nodes
    study, (p, q) = study_with_members([a.base_url, b.base_url], 2)
    sid = study["id"]
    with in_room(a, p["token"], sid) as (ws_p, _), in_room(b, q["token"], sid) as (ws_q, _):
        assert ws_p.ok("video:join-room", {"study_id": sid})["participants"] == []
        joined = ws_q.ok("video:join-room", {"study_id": sid})
        assert [x["session_id"] for x in joined["participants"]] == [ws_p.session_id]
        assert ws_p.expect("video:user-joined", timeout=5)["session_id"] == ws_q.session_id
        # The newcomer offers to the participant on the other node; the answer comes back.
        ws_q.ok("video:offer", {"study_id": sid, "to": ws_p.session_id, "sdp": "v=0 offer"})
        offer = ws_p.expect("video:offer", timeout=5)
        assert (offer["from"], offer["sdp"]) == (ws_q.session_id, "v=0 offer")
        assert offer["user"]["id"] == q["id"]
        ws_p.ok("video:answer", {"study_id": sid, "to": ws_q.session_id, "sdp": "v=0 answer"})
        assert ws_q.expect("video:answer", timeout=5)["sdp"] == "v=0 answer"
        # A burst of candidates (then end-of-candidates) arrives complete and in order.
        refs = []
        for n in range(30):
            refs.append(ws_q.next_ref())
            ws_q.send("video:ice-candidate", {"study_id": sid, "to": ws_p.session_id,
                                              "candidate": {"candidate": f"c{n}"}}, refs[-1])
        refs.append(ws_q.next_ref())
        ws_q.send("video:ice-candidate", {"study_id": sid, "to": ws_p.session_id,
                                          "candidate": None}, refs[-1])
        assert all(ws_q.reply(ref)["ok"] for ref in refs)
        candidates = [c["candidate"] for c in ws_p.collect("video:ice-candidate", 31, 10)]
        assert candidates == [{"candidate": f"c{n}"} for n in range(30)] + [None]
        ws_p.ok("video:toggle-audio", {"study_id": sid, "muted": True})
        state = ws_q.expect("video:peer-state", timeout=5)
        assert (state["session_id"], state["audio"]) == (ws_p.session_id, False)
        ws_q.ok("video:leave-room", {"study_id": sid})
        assert ws_p.expect("video:user-left", timeout=5)["session_id"] == ws_q.session_id
        error = ws_p.fail("video:offer", {"study_id": sid, "to": ws_q.session_id, "sdp": "x"})
        assert error["code"] == "NOT_FOUND"


def test_kick_on_one_node_removes_the_users_sockets_on_others_within_a_second(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, c = nodes
    study, (owner, member) = study_with_members([a.base_url, b.base_url], 2)
    sid = study["id"]
    with in_room(a, owner["token"], sid) as (ws_owner, _), \
            in_room(b, member["token"], sid) as (ws_b, _), \
            in_room(c, login(c.base_url, member["email"]), sid) as (ws_c, _):
        started = time.monotonic()
        response = httpx.delete(f"{a.base_url}/api/studies/{sid}/members/{member['id']}",
                                headers=bearer(owner["token"]), timeout=5)
        assert response.status_code == 200, response.text
        for ws in (ws_b, ws_c):
            assert ws.expect("study:removed", timeout=2)["reason"] == "kicked"
            assert time.monotonic() - started < 1.0
        say(ws_owner, sid, "강퇴 이후의 메시지")
        for ws in (ws_b, ws_c):
            assert not [f for f in ws.drain(0.5) if f.get("event") == "chat:new-message"]
            assert ws.fail("chat:message", {"study_id": sid, "content": "나가기 싫어요",
                                            "client_id": str(uuid.uuid4())})["code"] in (
                "FORBIDDEN", "NOT_MEMBER")


def test_logout_on_one_node_closes_that_sessions_sockets_on_others_with_1008(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, c = nodes
    user = signup(a.base_url)
    other_token = login(b.base_url, user["email"])
    with WsClient.open(b, user["token"]) as ws_b, WsClient.open(c, user["token"]) as ws_c, \
            WsClient.open(b, other_token) as ws_other:
        started = time.monotonic()
        response = httpx.post(f"{a.base_url}/api/auth/logout", headers=bearer(user["token"]),
                              json={}, timeout=5)
        assert response.status_code == 200, response.text
        for ws in (ws_b, ws_c):
            assert ws.closed_with(timeout=2) == 1008
            assert time.monotonic() - started < 1.0
        # The user's other login session (another device) is untouched.
        assert "server_time" in ws_other.ok("ping")


def test_call_cap_holds_under_concurrent_joins_on_two_nodes(
        nodes: tuple[NodeProcess, ...]) -> None:
    a, b, _c = nodes
    study, users = study_with_members([a.base_url, b.base_url], 6)
    sid = study["id"]
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(in_room((a, b)[i % 2], user["token"], sid))[0]
                   for i, user in enumerate(users)]
        barrier = threading.Barrier(len(sockets))
        outcomes: dict[int, dict[str, Any]] = {}

        def join_call(index: int) -> None:
            barrier.wait(10)
            outcomes[index] = sockets[index].request("video:join-room", {"study_id": sid})

        threads = [threading.Thread(target=join_call, args=(i,)) for i in range(len(sockets))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert len(outcomes) == len(sockets)
        joined = [i for i, reply in outcomes.items() if reply["ok"]]
        refused = [reply["error"]["code"] for reply in outcomes.values() if not reply["ok"]]
        assert len(joined) == 2, outcomes
        assert refused == ["CALL_FULL"] * 4
        with in_room(a, login(a.base_url, users[0]["email"]), sid) as (_ws, reply):
            assert {p["session_id"] for p in reply["call"]["participants"]} == \
                {sockets[i].session_id for i in joined}


def test_a_user_who_joins_on_another_node_sees_the_room_seq(
        nodes: tuple[NodeProcess, ...]) -> None:
    """Every node reports the same latest seq, and recovery with `since` works on any node."""
    a, b, c = nodes
    study, (owner, member) = study_with_members([a.base_url, b.base_url], 2)
    sid = study["id"]
    with in_room(a, owner["token"], sid) as (ws_a, first):
        acks = [say(ws_a, sid, f"이전 메시지 {n}") for n in range(5)]
        for node in (b, c):
            with in_room(node, member["token"], sid) as (_ws, reply):
                assert reply["seq"] == acks[-1]["seq"]
            ws = WsClient.open(node, member["token"])
            with ws:
                reply = ws.ok("study:join", {"study_id": sid, "since": first["seq"]})
                assert reply["recovered"] is True
                assert [m["data"]["seq"] for m in reply["missed"]] == [x["seq"] for x in acks]


def test_resuming_on_a_node_whose_room_lags_behind_delivers_nothing_twice(
        cluster: Cluster, nodes: tuple[NodeProcess, ...]) -> None:
    """Failover: a client saw events on a node that died before publishing them, and resumes
    on a node whose room has not seen them yet. They reach the others (gap repair), but not
    this session a second time (ARCHITECTURE §6 item 1)."""
    _a, b, _c = nodes
    study, (owner, member) = study_with_members([b.base_url], 2)
    sid = study["id"]
    with in_room(b, owner["token"], sid) as (ws_owner, reply):
        before = reply["seq"]
        head = cluster.commit_unpublished_events(sid, 3)
        assert head == before + 3
        with WsClient.open(b, member["token"]) as ws_member:
            resumed = ws_member.ok("study:join", {"study_id": sid, "since": head})
            assert resumed["missed"] == [] and resumed["recovered"] is True
            ack = say(ws_owner, sid, "장애 조치 이후")
            assert ack["seq"] == head + 1
            owner_seqs = [f["data"]["seq"] for f in ws_owner.drain(1.5)
                          if (f.get("data") or {}).get("seq")]
            assert owner_seqs == [before + 1, before + 2, before + 3, head + 1]
            member_seqs = [f["data"]["seq"] for f in ws_member.drain(0.5)
                           if (f.get("data") or {}).get("seq")]
            assert member_seqs == [head + 1]



def test_metrics_show_every_nodes_bus_healthy_and_reading(
        nodes: tuple[NodeProcess, ...]) -> None:
    """The dashboard's bus panels (deploy/grafana-dashboard.json) read these gauges."""
    for node in nodes:
        text = httpx.get(f"{node.base_url}/metrics", timeout=5).text
        values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
                  if line.startswith(("coup_bus_healthy ", "coup_bus_reader_lag_seconds "))}
        assert values["coup_bus_healthy"] == 1.0, (node.name, values)
        assert values["coup_bus_reader_lag_seconds"] < 5.0, (node.name, values)
