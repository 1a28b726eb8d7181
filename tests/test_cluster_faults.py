"""Faults under a continuous chat load, through HAProxy: a node killed, Redis lost and restarted,
a node drained by SIGTERM. Acknowledged messages are never lost, and every member ends up with
every durable event exactly once, in seq order, across its reconnections (PROTOCOL §4, §10;
ARCHITECTURE §6 items 1, 2, 6, 8)."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.cluster_support import (
    Cluster,
    HAProxy,
    bearer,
    ensure_haproxy,
    start_cluster,
    study_with_members,
    wait_for,
)
from tests.wsclient import WsClient

pytestmark = pytest.mark.slow

NODE_ENV = {"COUP_CHAT_RATE": "100000/10s"}
# PROTOCOL §6: the survivors report a dead node's users offline within this many seconds.
DEAD_NODE_OFFLINE_SECONDS = 30.0


@pytest.fixture(scope="session")
def haproxy_binary() -> str:
    return ensure_haproxy()


class Member:
    """One chat member in its own thread, connected through HAProxy: it sends messages one after
    another, records each ack and every durable event it receives (per connection), and on a
    lost connection reconnects through HAProxy, resumes with `since` and resends its
    unacknowledged message with the same client_id."""

    def __init__(self, user: dict[str, Any], study_id: str, proxy: HAProxy) -> None:
        self.user, self.study_id, self.proxy = user, study_id, proxy
        self.ws: WsClient | None = None
        self.sessions: list[list[int]] = []  # seqs received by each connection, in order
        self.nodes: list[str] = []  # the node of each connection
        self.close_codes: list[int | None] = []
        self.acked: dict[str, int] = {}  # client_id -> seq of every acknowledged message
        self.ack_times: list[float] = []
        self.pending: str | None = None  # sent, not acknowledged yet
        self.presence: list[tuple[float, str, str]] = []  # (when, event, user id)
        self.errors: list[str] = []
        self.start_seq = self.last_seq = 0

    def __repr__(self) -> str:
        return f"<Member {self.user['id']} nodes={self.nodes} closes={self.close_codes}>"

    @property
    def received(self) -> list[int]:
        return [seq for session in self.sessions for seq in session]

    def connect(self, since: int | None = None) -> None:
        ws = WsClient.open(self.proxy, self.user["token"])
        try:
            data: dict[str, Any] = {"study_id": self.study_id}
            if since is not None:
                data["since"] = since
            reply = ws.ok("study:join", data)
        except BaseException:
            ws.close()
            raise
        assert ws.hello is not None
        self.ws = ws
        self.nodes.append(ws.hello["node"])
        self.sessions.append([])
        if since is None:
            self.start_seq = self.last_seq = reply["seq"]
        elif not reply["recovered"]:
            self.errors.append(f"join since {since} was not recovered")
        for missed in reply["missed"]:
            self._record(missed["event"], missed["data"])
        self._take_pushes()

    def reconnect(self, timeout: float = 20) -> None:
        if self.ws is not None:
            self._take_pushes()
            self.ws.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect(since=self.last_seq)
                return
            except (OSError, TimeoutError, ConnectionClosed, InvalidHandshake, AssertionError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def run(self, stop: threading.Event, pause: float = 0.03) -> None:
        try:
            while not stop.is_set():
                self.send_one()
                time.sleep(pause)
        except Exception as exc:
            self.errors.append(f"load thread failed: {exc!r}")

    def send_one(self) -> None:
        assert self.ws is not None
        client_id = self.pending = self.pending or str(uuid.uuid4())
        try:
            reply = self.ws.request("chat:message", {
                "study_id": self.study_id, "content": f"부하 {client_id[:8]}",
                "client_id": client_id}, timeout=10)
        except (ConnectionClosed, OSError) as exc:
            self._lost(exc)
            return
        except TimeoutError:
            self.errors.append(f"no reply to chat:message within 10 s on {self.nodes[-1]}")
            self._lost(None)
            return
        self._take_pushes()
        if reply["ok"]:
            self.acked[client_id] = reply["data"]["seq"]
            self.ack_times.append(time.monotonic())
            self.pending = None
        elif reply["error"]["code"] in ("OVERLOADED", "RATE_LIMITED"):
            time.sleep(0.1)  # retried with the same client_id
        else:
            self.errors.append(f"chat:message refused: {reply['error']}")
            self.pending = None

    def catch_up(self, target_seq: int, timeout: float) -> None:
        """Read until every event up to `target_seq` has arrived (reconnecting if closed)."""
        deadline = time.monotonic() + timeout
        while self.last_seq < target_seq:
            assert time.monotonic() < deadline, \
                f"{self!r} stuck at seq {self.last_seq} of {target_seq}: {self.received}"
            assert self.ws is not None
            try:
                self._absorb(self.ws.drain(0.1))
            except (ConnectionClosed, OSError) as exc:
                self._lost(exc)

    def watch(self, duration: float) -> None:
        """Keep reading pushes (presence) for a while."""
        assert self.ws is not None
        try:
            self._absorb(self.ws.drain(duration))
        except (ConnectionClosed, OSError):
            self._take_pushes()

    def close(self) -> None:
        if self.ws is not None:
            self.ws.close()

    def _lost(self, exc: BaseException | None) -> None:
        closed = exc if isinstance(exc, ConnectionClosed) else None
        self.close_codes.append(closed.rcvd.code if closed is not None and closed.rcvd else None)
        self.reconnect()

    def _take_pushes(self) -> None:
        assert self.ws is not None
        frames = list(self.ws.pushes)
        self.ws.pushes.clear()
        self._absorb(frames)

    def _absorb(self, frames: list[dict[str, Any]]) -> None:
        now = time.monotonic()
        for frame in frames:
            event, data = frame.get("event"), frame.get("data") or {}
            if event == "user:online":
                self.presence.append((now, event, data["user"]["id"]))
            elif event == "user:offline":
                self.presence.append((now, event, data["user_id"]))
            if isinstance(event, str):
                self._record(event, data)

    def _record(self, event: str, data: dict[str, Any]) -> None:
        seq = data.get("seq")
        if data.get("study_id") != self.study_id or type(seq) is not int:
            return
        self.sessions[-1].append(seq)
        if seq == self.last_seq + 1:
            self.last_seq = seq


@contextlib.contextmanager
def chat_load(members: list[Member]) -> Iterator[threading.Event]:
    """Every member sends in its own thread until the block ends."""
    stop = threading.Event()
    threads = [threading.Thread(target=m.run, args=(stop,), daemon=True) for m in members]
    for thread in threads:
        thread.start()
    try:
        yield stop
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
        assert not any(thread.is_alive() for thread in threads), "a load thread hung"


@pytest.fixture()
def cluster(tmp_path: Path, haproxy_binary: str) -> Iterator[Cluster]:
    cluster = start_cluster(tmp_path)
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture()
def redis_cluster(tmp_path: Path, haproxy_binary: str) -> Iterator[Cluster]:
    """A cluster on a redis-server of its own, which the test may kill and restart."""
    cluster = start_cluster(tmp_path, own_redis=True)
    try:
        yield cluster
    finally:
        cluster.close()


def members_on_both_nodes(cluster: Cluster, proxy: HAProxy, count: int,
                          ) -> tuple[dict[str, Any], list[dict[str, Any]], list[Member]]:
    """A study whose first `count` members chat through HAProxy (landing on both nodes)."""
    study, users = study_with_members([node.base_url for node in cluster.nodes], count + 1)
    members = [Member(user, study["id"], proxy) for user in users[:count]]
    for member in members:
        member.connect()
    nodes = {member.nodes[0] for member in members}
    assert nodes == {node.name for node in cluster.nodes}, \
        f"least-connections balancing left a node without clients: {members}"
    return study, users, members


def study_head(cluster: Cluster, study_id: str) -> int:
    return cluster.query("SELECT last_seq FROM studies WHERE id = %s", study_id)[0][0]


def check_nothing_lost_or_repeated(cluster: Cluster, study_id: str, members: list[Member],
                                   extra_acked: dict[str, int] | None = None,
                                   timeout: float = 20) -> int:
    """Every ack is in the database with its seq; nothing was written that was not sent; and
    each member got every event after its first join exactly once, in order."""
    for member in members:
        assert not member.errors, (member, member.errors)
    acked = dict(extra_acked or {})
    for member in members:
        acked.update(member.acked)
    in_db = dict(cluster.query("SELECT client_id, seq FROM messages WHERE study_id = %s",
                               study_id))
    lost = {cid: seq for cid, seq in acked.items() if in_db.get(cid) != seq}
    assert not lost, f"acknowledged but not in the database as acknowledged: {lost}"
    unsent = set(in_db) - set(acked) - {m.pending for m in members if m.pending}
    assert not unsent, f"messages in the database that no client sent: {unsent}"
    head = study_head(cluster, study_id)
    for member in members:
        member.catch_up(head, timeout)
        assert member.received == list(range(member.start_seq + 1, head + 1)), \
            (member, member.sessions)
    return head


def test_sigkill_of_a_node_under_load_loses_no_acknowledged_message(cluster: Cluster) -> None:
    a, b = cluster.add_nodes(["node-a", "node-b"], **NODE_ENV)
    proxy = cluster.add_haproxy()
    study, users, members = members_on_both_nodes(cluster, proxy, 6)
    # A member connected straight to node A, who will not come back: the others must see it
    # go offline once the survivors notice that node A is dead.
    ghost = WsClient.open(a, users[-1]["token"])
    ghost.ok("study:join", {"study_id": study["id"]})
    try:
        with chat_load(members):
            time.sleep(1.5)
            killed_at = time.monotonic()
            a.kill()
            time.sleep(3.0)
        assert all(m.ack_times and m.ack_times[-1] > killed_at for m in members), \
            "some member made no progress after the kill"
        moved = [m for m in members if m.nodes[0] == "node-a"]
        assert moved and all(m.nodes[1:] == ["node-b"] for m in moved), members
        assert all(m.nodes == ["node-b"] for m in members if m not in moved), members
        check_nothing_lost_or_repeated(cluster, study["id"], members)
        # The dead node's user who did not reconnect goes offline for everyone within 30 s;
        # those who reconnected within the grace period never went offline.
        ghost_id = users[-1]["id"]
        for member in members:
            wait_for(lambda m=member: (m.watch(0.2) or
                                       any(u == ghost_id for _, e, u in m.presence
                                           if e == "user:offline")),
                     max(1.0, killed_at + DEAD_NODE_OFFLINE_SECONDS - time.monotonic()),
                     f"user:offline of the dead node's user on {member!r}")
            offline = [(t, u) for t, e, u in member.presence if e == "user:offline"]
            assert [u for _, u in offline] == [ghost_id], member.presence
            assert offline[0][0] - killed_at < DEAD_NODE_OFFLINE_SECONDS
            assert not [u for t, e, u in member.presence if e == "user:online" and t > killed_at]
        assert proxy.server_status("node-a") == "DOWN"
        assert b.ready_status() == 200
    finally:
        ghost.close()
        for member in members:
            member.close()


def test_redis_restart_under_load_loses_nothing_and_repairs_gaps(redis_cluster: Cluster) -> None:
    cluster = redis_cluster
    assert cluster.redis is not None
    a, b = cluster.add_nodes(["node-a", "node-b"], **NODE_ENV)
    proxy = cluster.add_haproxy()
    study, users, members = members_on_both_nodes(cluster, proxy, 4)
    rest_acked: dict[str, int] = {}
    try:
        with chat_load(members):
            time.sleep(1.0)
            cluster.redis.kill()
            outage_started = time.monotonic()
            wait_for(lambda: a.ready_status() == b.ready_status() == 503, 10,
                     "both nodes to report the Redis outage on /ready")
            # REST writes still commit through the load balancer while every node is unready.
            client_id = str(uuid.uuid4())
            response = httpx.post(f"{proxy.base_url}/api/studies/{study['id']}/chat",
                                  headers=bearer(users[0]["token"]), timeout=10,
                                  json={"content": "레디스 없이", "client_id": client_id})
            assert response.status_code == 201, response.text
            rest_acked[client_id] = response.json()["data"]["seq"]
            time.sleep(1.5)
            outage_acks = sum(1 for m in members for t in m.ack_times if t > outage_started)
            cluster.redis.start()
            restarted = time.monotonic()
            wait_for(lambda: a.ready_status() == b.ready_status() == 200, 15,
                     "both nodes to be ready again after Redis returned")
            time.sleep(1.5)
        assert outage_acks > 0, "no chat message was acknowledged during the outage"
        assert all(m.ack_times[-1] > restarted for m in members)
        assert all(len(m.nodes) == 1 for m in members), "a connection dropped with Redis"
        check_nothing_lost_or_repeated(cluster, study["id"], members, rest_acked)
        # Presence was re-registered in the new Redis: a fresh join sees everyone online.
        with WsClient.open(a, users[-1]["token"]) as ws:
            reply = ws.ok("study:join", {"study_id": study["id"]})
            online = {user["id"] for user in reply["online"]}
            assert {m.user["id"] for m in members} <= online
    finally:
        for member in members:
            member.close()


def test_sigterm_moves_clients_to_the_other_node_without_loss_or_duplicates(
        cluster: Cluster) -> None:
    a, _b = cluster.add_nodes(["node-a", "node-b"], **NODE_ENV)
    proxy = cluster.add_haproxy()
    study, users, members = members_on_both_nodes(cluster, proxy, 6)
    try:
        with chat_load(members):
            time.sleep(1.5)
            drained_at = time.monotonic()
            a.signal(signal.SIGTERM)  # drain
            assert a.wait_exit(35) == 0
            time.sleep(2.0)
        moved = [m for m in members if m.nodes[0] == "node-a"]
        assert moved and all(m.close_codes == [1001] for m in moved), members
        assert all(m.nodes[1:] == ["node-b"] for m in moved), members
        assert all(m.close_codes == [] for m in members if m not in moved), members
        head = check_nothing_lost_or_repeated(cluster, study["id"], members)
        # PROTOCOL §6: users back within the grace period produce no offline/online pair for
        # the members who stayed connected.
        moved_ids = {m.user["id"] for m in moved}
        for member in members:
            if member in moved:
                continue
            member.watch(0.5)
            flips = [(round(t - drained_at, 2), e, u) for t, e, u in member.presence
                     if t > drained_at and u in moved_ids]
            assert not flips, (member, flips)
        # The drained node starts again and serves the room with the others.
        a.start()
        wait_for(lambda: proxy.server_status("node-a") == "UP", 10, "node A back in HAProxy")
        with WsClient.open(a, users[-1]["token"]) as ws:
            assert ws.ok("study:join", {"study_id": study["id"], "since": head})["missed"] == []
            ack = ws.ok("chat:message", {"study_id": study["id"], "content": "다시 왔어요",
                                         "client_id": str(uuid.uuid4())})
            assert ack["seq"] == head + 1
            for member in members:
                member.catch_up(head + 1, 10)
                assert member.received[-1] == head + 1
    finally:
        for member in members:
            member.close()


def test_requests_through_haproxy_keep_succeeding_while_a_node_drains(
        cluster: Cluster) -> None:
    """SIGTERM: the node stops accepting at once and HAProxy sends everything to the other."""
    a, _b = cluster.add_nodes(["node-a", "node-b"], COUP_DRAIN_DELAY_MS="1500", **NODE_ENV)
    proxy = cluster.add_haproxy()
    a.signal(signal.SIGTERM)
    answered_by = set()
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        response = httpx.get(f"{proxy.base_url}/ready", timeout=5)
        assert response.status_code == 200, response.text
        answered_by.add(response.json()["node"])
    assert answered_by == {"node-b"}
    assert proxy.server_status("node-a") == "DOWN"
    assert a.wait_exit(35) == 0
