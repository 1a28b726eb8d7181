"""Two real nodes on PostgreSQL + Redis: chat, presence, notifications and kicks across nodes."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster_support import Cluster, bearer, signup, start_cluster
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow


class Node:
    """What WsClient needs of a server: its base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url


@pytest.fixture()
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path)
    try:
        cluster.add_node("node-a")
        cluster.add_node("node-b")
        yield cluster
    finally:
        cluster.close()


def test_chat_presence_notification_and_kick_across_nodes(cluster: Cluster) -> None:
    a, b = (Node(n.base_url) for n in cluster.nodes)
    owner, member = signup(a.base_url), signup(b.base_url)
    study = httpx.post(f"{a.base_url}/api/studies", headers=bearer(owner["token"]), json={
        "name": "클러스터 스터디", "emoji": "📚", "description": "노드 사이 테스트 스터디입니다.",
        "category": "개발", "auto_approve": False}).json()["data"]
    with WsClient.open(a, owner["token"]) as ws_a:
        ws_a.ok("study:join", {"study_id": study["id"]})
        # A join request made through node B's REST reaches the owner's socket on node A.
        assert httpx.post(f"{b.base_url}/api/studies/{study['id']}/join",
                          headers=bearer(member["token"]), json={}).status_code == 201
        note = ws_a.expect("notification:new")["notification"]
        assert note["type"] == "JOIN_REQUEST"
        httpx.post(f"{a.base_url}/api/studies/{study['id']}/join-requests/{member['id']}/approve",
                   headers=bearer(owner["token"]), json={})
        joined_event = ws_a.expect("study:member-joined")
        with WsClient.open(b, member["token"]) as ws_b:
            reply = ws_b.ok("study:join", {"study_id": study["id"]})
            assert {u["id"] for u in reply["online"]} == {owner["id"], member["id"]}
            assert ws_a.expect("user:online")["user"]["id"] == member["id"]
            ack = ws_b.ok("chat:message", {"study_id": study["id"], "content": "from b",
                                           "client_id": str(uuid.uuid4())})
            seen_a = ws_a.expect("chat:new-message")
            assert seen_a["seq"] == ack["seq"] == joined_event["seq"] + 1
            ack2 = ws_a.ok("chat:message", {"study_id": study["id"], "content": "from a",
                                            "client_id": str(uuid.uuid4())})
            assert ws_b.expect("chat:new-message")["seq"] == ack["seq"]  # its own, first
            assert ws_b.expect("chat:new-message")["seq"] == ack2["seq"]
            started = time.monotonic()
            httpx.request("DELETE", f"{a.base_url}/api/studies/{study['id']}/members/"
                          f"{member['id']}", headers=bearer(owner["token"]), json={})
            removed = ws_b.expect("study:removed", timeout=5)
            assert removed["reason"] == "kicked"
            assert time.monotonic() - started < 1.0
