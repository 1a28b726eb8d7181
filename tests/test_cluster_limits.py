"""Per-user limits count a user's activity on every node (issue 6 item 3, PROTOCOL §9): behind a
load balancer without stickiness, a user's requests land anywhere."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.cluster_support import (
    Cluster,
    NodeProcess,
    bearer,
    login,
    signup,
    start_cluster,
    study_with_members,
)
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow

MAX_SESSIONS = 3
CHAT_RATE = 4  # messages per 10 s per user per study
UPLOADS = 3  # per 10 min per user
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 4 + b"%%EOF\n"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeProcess]]:
    cluster: Cluster = start_cluster(tmp_path_factory.mktemp("cluster-limits"))
    try:
        yield cluster.add_nodes(["node-a", "node-b", "node-c"],
                                COUP_WS_MAX_SESSIONS_PER_USER=str(MAX_SESSIONS),
                                COUP_CHAT_RATE=f"{CHAT_RATE}/10s",
                                COUP_UPLOAD_RATE=f"{UPLOADS}/600s")
    finally:
        cluster.close()


def test_chat_rate_limit_counts_messages_sent_through_every_node(
        nodes: list[NodeProcess]) -> None:
    a, b, c = nodes
    study, (user,) = study_with_members([a.base_url], 1)
    sid = study["id"]
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(WsClient.open(node, login(node.base_url, user["email"])))
                   for node in (a, b)]
        for ws in sockets:
            ws.ok("study:join", {"study_id": sid})
        replies = [sockets[n % 2].request("chat:message", {
            "study_id": sid, "content": f"메시지 {n}", "client_id": str(uuid.uuid4())})
            for n in range(CHAT_RATE)]
        assert all(reply["ok"] for reply in replies), replies
        # The budget is spent; REST on a third node shares it.
        response = httpx.post(f"{c.base_url}/api/studies/{sid}/chat", timeout=10,
                              headers=bearer(user["token"]), json={"content": "하나 더"})
        assert response.status_code == 429, response.text
        error = sockets[1].fail("chat:message", {"study_id": sid, "content": "또",
                                                 "client_id": str(uuid.uuid4())})
        assert error["code"] == "RATE_LIMITED" and error["retry_after_ms"] > 0


def test_sessions_per_user_limit_counts_sessions_on_every_node(
        nodes: list[NodeProcess]) -> None:
    """PROTOCOL §9: over the limit, the user's oldest connection is closed with 1008, whichever
    node it is on."""
    a, b, c = nodes
    user = signup(a.base_url)
    oldest = WsClient.open(a, user["token"])
    with oldest, contextlib.ExitStack() as stack:
        newer = [stack.enter_context(WsClient.open(node, login(node.base_url, user["email"])))
                 for node in (b, c, b)]
        assert oldest.closed_with(timeout=3) == 1008
        for ws in newer:
            assert "server_time" in ws.ok("ping")


def test_upload_rate_limit_counts_uploads_through_every_node(nodes: list[NodeProcess]) -> None:
    """COUP.md §1 item 14: file uploads are limited per user, wherever they land."""
    study, (user,) = study_with_members([nodes[0].base_url], 1)
    statuses = []
    for n in range(UPLOADS + 1):
        node = nodes[n % len(nodes)]
        response = httpx.post(f"{node.base_url}/api/studies/{study['id']}/files", timeout=30,
                              headers=bearer(user["token"]),
                              files={"file": (f"notes-{n}.pdf", PDF, "application/pdf")})
        statuses.append(response.status_code)
    assert statuses == [201] * UPLOADS + [429]


def test_wrong_password_guesses_are_limited_per_user_across_nodes(
        nodes: list[NodeProcess]) -> None:
    """The per-user limit on current-password guesses (COUP.md §1 item 14) cannot be
    multiplied by sending each guess to another node."""
    a, b, c = nodes
    user = signup(a.base_url)
    statuses = []
    for n in range(8):
        node = (a, b, c)[n % 3]
        response = httpx.patch(f"{node.base_url}/api/users/me/password", timeout=10,
                               headers=bearer(user["token"]),
                               json={"current_password": f"wrong-guess-{n}",
                                     "new_password": "Another-pass-456"})
        statuses.append(response.status_code)
    assert statuses.count(429) >= 3, statuses
