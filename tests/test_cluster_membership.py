"""Node membership (issue 6 item 2): when a node stops heartbeating, every survivor reports its
users offline and repairs the gaps it left; a node that was only paused comes back into routing
and presence on its own."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster_support import Cluster, start_cluster, study_with_members, wait_for
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow

# PROTOCOL §4 and §6: survivors repair gaps and report presence within 30 s.
CONVERGE_SECONDS = 30.0
# coup/bus/redis_streams.py NODE_TTL_SECONDS: a node silent this long is dead.
NODE_TTL_SECONDS = 10.0


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


def durable_seqs(frames: list[dict[str, Any]], study_id: str) -> list[int]:
    return [f["data"]["seq"] for f in frames
            if (f.get("data") or {}).get("study_id") == study_id
            and isinstance(f["data"].get("seq"), int)]


def read_until(ws: WsClient, done: Any, timeout: float, what: str) -> list[dict[str, Any]]:
    """Everything `ws` receives until `done(frames)` holds."""
    frames: list[dict[str, Any]] = []

    def progress() -> bool:
        frames.extend(ws.drain(0.2))
        return bool(done(frames))

    wait_for(progress, timeout, what, interval=0)
    return frames


def test_every_survivor_repairs_the_gap_a_dead_node_left(cluster: Cluster) -> None:
    """Node A committed events and died before publishing them. Nothing else happens in the
    study, so only the dead-node handling can deliver them: on B and on C."""
    a, b, c = cluster.add_nodes(["node-a", "node-b", "node-c"])
    study, users = study_with_members([a.base_url, b.base_url, c.base_url], 3)
    sid = study["id"]
    sockets = [WsClient.open(node, user["token"]) for node, user in zip((a, b, c), users,
                                                                         strict=True)]
    try:
        before = [ws.ok("study:join", {"study_id": sid})["seq"] for ws in sockets][-1]
        head = cluster.commit_unpublished_events(sid, 2)
        a.kill()
        killed_at = time.monotonic()
        for ws in sockets[1:]:
            deadline = killed_at + CONVERGE_SECONDS - time.monotonic()
            frames = read_until(
                ws, lambda fs: durable_seqs(fs, sid) and any(
                    f.get("event") == "user:offline" for f in fs), max(deadline, 1),
                f"the dead node's events and its user going offline on {ws.hello}")
            assert durable_seqs(frames, sid) == [before + 1, head]
            assert [f["data"]["user_id"] for f in frames if f["event"] == "user:offline"] \
                == [users[0]["id"]]
    finally:
        for ws in sockets:
            ws.close()


def test_a_paused_node_declared_dead_comes_back_into_routing_and_presence(
        cluster: Cluster) -> None:
    """SIGSTOP node A past its heartbeat TTL (a VM pause, a long stall): the survivor removes
    it. After SIGCONT its sockets are still open, so it must receive the room's traffic again
    and its user must be online again for the others."""
    a, b = cluster.add_nodes(["node-a", "node-b"])
    study, (on_a, on_b) = study_with_members([a.base_url, b.base_url], 2)
    sid = study["id"]
    with WsClient.open(a, on_a["token"]) as ws_a, WsClient.open(b, on_b["token"]) as ws_b:
        ws_a.ok("study:join", {"study_id": sid})
        ws_b.ok("study:join", {"study_id": sid})
        assert ws_a.expect("user:online", timeout=5)["user"]["id"] == on_b["id"]
        a.signal(signal.SIGSTOP)
        try:
            offline = ws_b.expect("user:offline", timeout=NODE_TTL_SECONDS + 10)
            assert offline["user_id"] == on_a["id"]
        finally:
            a.signal(signal.SIGCONT)
        resumed_at = time.monotonic()
        # Back in routing, once it has heartbeated again: a message written on node B reaches
        # the socket on node A.
        time.sleep(3)
        ack = ws_b.ok("chat:message", {"study_id": sid, "content": "돌아왔나요?",
                                       "client_id": str(uuid.uuid4())})
        frames = read_until(ws_a, lambda fs: ack["seq"] in durable_seqs(fs, sid), 5,
                            "node B's message on node A after the pause")
        assert durable_seqs(frames, sid)[-1] == ack["seq"]
        # Back in presence: the others are told, and a fresh join lists the user.
        frames = read_until(ws_b, lambda fs: any(f.get("event") == "user:online" for f in fs),
                            max(1, resumed_at + CONVERGE_SECONDS - time.monotonic()),
                            "the paused node's user to be online again")
        assert [f["data"]["user"]["id"] for f in frames if f["event"] == "user:online"] == \
            [on_a["id"]]
        with WsClient.open(b, on_b["token"]) as ws:
            online = {u["id"] for u in ws.ok("study:join", {"study_id": sid})["online"]}
            assert online == {on_a["id"], on_b["id"]}


def test_a_node_restarted_at_once_clears_the_presence_and_calls_of_its_previous_run(
        cluster: Cluster) -> None:
    """A crashed node restarted by systemd within seconds, under the same node id, heartbeats
    again before its old heartbeat expires: the users and call participants of its previous
    run must still go (offline, out of the call, the call's seat freed)."""
    a, b = cluster.add_nodes(["node-a", "node-b"], COUP_VIDEO_MAX_PARTICIPANTS="2")
    study, (ghost, watcher, newcomer) = study_with_members([a.base_url, b.base_url], 3)
    sid = study["id"]
    with WsClient.open(a, ghost["token"]) as ws_ghost, \
            WsClient.open(b, watcher["token"]) as ws_watcher:
        ws_ghost.ok("study:join", {"study_id": sid})
        ws_ghost.ok("video:join-room", {"study_id": sid})
        ws_watcher.ok("study:join", {"study_id": sid})
        joined = ws_watcher.ok("video:join-room", {"study_id": sid})
        assert [p["session_id"] for p in joined["participants"]] == [ws_ghost.session_id]
        a.kill()
        killed_at = time.monotonic()
        a.start()
        frames = read_until(
            ws_watcher, lambda fs: {"user:offline", "video:user-left"} <= {
                f.get("event") for f in fs}, CONVERGE_SECONDS,
            "the crashed run's user to go offline and leave the call")
        assert time.monotonic() - killed_at < CONVERGE_SECONDS
        assert [f["data"]["user_id"] for f in frames if f["event"] == "user:offline"] == \
            [ghost["id"]]
        assert [f["data"]["session_id"] for f in frames if f["event"] == "video:user-left"] \
            == [ws_ghost.session_id]
        with WsClient.open(a, newcomer["token"]) as ws:
            reply = ws.ok("study:join", {"study_id": sid})
            assert {u["id"] for u in reply["online"]} == {watcher["id"], newcomer["id"]}
            joined = ws.ok("video:join-room", {"study_id": sid})  # the ghost's seat is free
            assert [p["session_id"] for p in joined["participants"]] == \
                [ws_watcher.session_id]
