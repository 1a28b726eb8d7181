"""ARCHITECTURE §6 invariants 1-4 and 7 on one node: acknowledged messages are durable and
delivered exactly once, seq is gap-free and ordered, client_id retries never duplicate, only
ACTIVE members receive events, and a busy room stays correct under concurrency and churn."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from coup.actors.messages import PostMessage
from coup.store.chat import MessageDraft
from tests.conftest import Api, LiveServer
from tests.wsclient import (
    WsClient,
    chat_limit,
    events_in_db,
    member_of,
    messages_in_db,
    new_client_id,
    say,
    set_study_status,
    study_head,
)


def durable_seqs(frames: list[dict[str, Any]], study_id: str) -> list[int]:
    return [f["data"]["seq"] for f in frames
            if isinstance(f.get("data"), dict) and f["data"].get("study_id") == study_id
            and "seq" in f["data"] and f.get("event") != "reply"]


def test_acked_messages_are_stored_and_delivered_once_in_seq_order(api: Api,
                                                                   server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    users = [owner] + [member_of(api, study) for _ in range(3)]
    sockets = [WsClient.open(server, u.token) for u in users]
    try:
        head = max(ws.ok("study:join", {"study_id": study["id"]})["seq"] for ws in sockets)
        for ws in sockets:
            ws.drain(0.1)
        acks: list[dict[str, Any]] = []
        lock = threading.Lock()

        def send(ws: WsClient) -> None:
            for n in range(4):
                ack = say(ws, study["id"], f"동시 {n}")
                with lock:
                    acks.append(ack)
                time.sleep(0.02)

        with ThreadPoolExecutor(len(sockets)) as pool:
            list(pool.map(send, sockets))
        expected = list(range(head + 1, head + 1 + len(acks)))
        assert sorted(a["seq"] for a in acks) == expected
        stored = {m["id"]: m["seq"] for m in messages_in_db(server, study["id"])}
        assert stored == {a["message"]["id"]: a["seq"] for a in acks}
        for ws in sockets:
            got = durable_seqs(ws.drain(0.1), study["id"])
            while len(got) < len(expected):
                got.append(ws.expect("chat:new-message", timeout=5)["seq"])
            assert got == expected
            assert ws.events("chat:new-message", 0.2) == []
    finally:
        for ws in sockets:
            ws.close()


def test_seq_is_gap_free_across_rest_and_websocket_writers(api: Api,
                                                           server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    with WsClient.open(server, owner.token) as ws:
        head = ws.ok("study:join", {"study_id": study["id"]})["seq"]

        def rest_writes() -> None:
            for n in range(3):
                owner.http.post(f"/api/studies/{study['id']}/chat", json={"content": f"r{n}"})
                owner.http.patch(f"/api/studies/{study['id']}",
                                 json={"description": f"설명 번호 {n} 입니다 ok"})

        with chat_limit(server, 1000):
            thread = threading.Thread(target=rest_writes)
            thread.start()
            for n in range(3):
                say(ws, study["id"], f"w{n}")
            member.http.patch(f"/api/studies/{study['id']}/members/{owner.id}/role",
                              json={"role": "MEMBER"})  # refused: no event
            thread.join(30)
        last = study_head(server, study["id"])
        assert last == head + 9
        seen = durable_seqs(ws.drain(0.5), study["id"])
        assert seen == list(range(head + 1, last + 1))
        assert [s for s, _ in events_in_db(server, study["id"]) if s > head] == seen


def test_concurrent_posts_to_several_studies_keep_each_seq_gap_free(
        api: Api, server: LiveServer) -> None:
    """One group commit may carry several studies' messages: each study keeps its own
    gap-free seq, events reach only their own room, and a refused study does not hold up
    the others."""
    owner = api.signup()
    studies = [api.create_study(owner) for _ in range(3)]
    closed = api.create_study(owner)
    members = [member_of(api, study) for study in studies]
    set_study_status(server, closed["id"], "CLOSED")
    watchers = [WsClient.open(server, m.token) for m in members]
    posters = [WsClient.open(server, owner.token) for _ in range(4)]
    try:
        heads = [w.ok("study:join", {"study_id": s["id"]})["seq"]
                 for w, s in zip(watchers, studies, strict=True)]
        for ws in posters:
            for study in [*studies, closed]:
                ws.ok("study:join", {"study_id": study["id"]})
            ws.drain(0.1)

        def post_all(ws: WsClient) -> list[tuple[str, dict[str, Any]]]:
            sent = []
            for n in range(3):
                for study in [*studies, closed]:
                    ref = ws.next_ref()
                    ws.send("chat:message", {"study_id": study["id"], "content": f"{n}",
                                             "client_id": new_client_id()}, ref)
                    sent.append((study["id"], ref))
                time.sleep(0.05)
            return [(study_id, ws.reply(ref)) for study_id, ref in sent]

        with chat_limit(server, 1000), ThreadPoolExecutor(len(posters)) as pool:
            results = [r for batch in pool.map(post_all, posters) for r in batch]
        for study_id, reply in results:
            if study_id == closed["id"]:
                assert reply["ok"] is False and reply["error"]["code"] == "CONFLICT"
            else:
                assert reply["ok"] is True, reply
        for watcher, study, head in zip(watchers, studies, heads, strict=True):
            acked = sorted(r["data"]["seq"] for sid, r in results
                           if sid == study["id"])
            assert acked == list(range(head + 1, head + 13))
            got = [e["seq"] for e in watcher.collect("chat:new-message", 12)]
            assert got == acked
            assert watcher.events("chat:new-message", 0.2) == []  # nothing from other rooms
            assert study_head(server, study["id"]) == head + 12
        assert messages_in_db(server, closed["id"]) == []
    finally:
        for ws in watchers + posters:
            ws.close()


def test_concurrent_retries_of_one_client_id_create_one_message(api: Api,
                                                                server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    client_id = new_client_id()
    sockets = [WsClient.open(server, owner.token) for _ in range(4)]
    try:
        for ws in sockets:
            ws.ok("study:join", {"study_id": study["id"]})
        for ws in sockets:  # all in flight at once: most land in one group commit
            ws.send("chat:message", {"study_id": study["id"], "content": "한 번",
                                     "client_id": client_id}, ref="same")

        def rest() -> Any:
            return owner.http.post(f"/api/studies/{study['id']}/chat",
                                   json={"content": "한 번", "client_id": client_id})

        with ThreadPoolExecutor(3) as pool:
            responses = list(pool.map(lambda _: rest(), range(3)))
        replies = [ws.reply("same") for ws in sockets]
        answers = [r["data"]["message"]["id"] for r in replies if r["ok"]]
        answers += [r.json()["data"]["id"] for r in responses if r.status_code < 300]
        # Replays are answered with the original and never refused by the rate limit.
        assert [r for r in replies if not r["ok"]] == []
        assert [r.status_code for r in responses].count(201) <= 1
        assert {r.status_code for r in responses} <= {200, 201}
        assert len(set(answers)) == 1 and len(answers) == 7
        assert len(messages_in_db(server, study["id"])) == 1
        for ws in sockets:
            assert len(ws.events("chat:new-message", 0.3)) == 1
    finally:
        for ws in sockets:
            ws.close()


def test_a_kicked_member_stops_receiving_within_one_second(api: Api,
                                                           server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    stop = threading.Event()
    with chat_limit(server, 1000), WsClient.open(server, owner.token) as a, \
            WsClient.open(server, member.token) as b:
        a.ok("study:join", {"study_id": study["id"]})
        b.ok("study:join", {"study_id": study["id"]})

        def chatter() -> None:
            while not stop.is_set():
                say(a, study["id"], "계속")
                time.sleep(0.03)

        thread = threading.Thread(target=chatter)
        thread.start()
        try:
            time.sleep(0.2)
            response = owner.http.request("DELETE", f"/api/studies/{study['id']}/members/"
                                          f"{member.id}")
            assert response.status_code == 200
            kicked_at = time.monotonic()
            b.expect("study:removed", timeout=1)
            assert time.monotonic() - kicked_at <= 1.0
            b.pushes.clear()  # what arrived before the removal
            time.sleep(0.3)
        finally:
            stop.set()
            thread.join(10)
        assert b.events("chat:new-message", 0.3) == []


def test_a_peer_closing_its_socket_does_not_cost_others_an_event(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from coup.store import notification_center

    async def slow_mark_all_read(user_id: str) -> Any:
        await asyncio.sleep(1.5)  # keeps the closing session's actor (and room seat) busy
        return notification_center.MarkedAll(0, 0)

    owner = api.signup()
    study = api.create_study(owner)
    member = member_of(api, study)
    leaver = WsClient.open(server, member.token)
    leaver.ok("study:join", {"study_id": study["id"]})  # first in the room's session order
    with WsClient.open(server, owner.token) as stayer:
        stayer.ok("study:join", {"study_id": study["id"]})
        monkeypatch.setattr(notification_center, "mark_all_read", slow_mark_all_read)
        leaver.send("notification:read", {"all": True}, ref=1)
        time.sleep(0.2)
        leaver.close()
        time.sleep(0.2)
        ack = say(stayer, study["id"], "남은 사람에게도 가야 한다")
        assert stayer.expect("chat:new-message", timeout=3)["seq"] == ack["seq"]


def test_a_post_queued_when_the_room_is_passivated_is_still_answered(
        api: Api, server: LiveServer) -> None:
    """A room the GC finds idle may already hold a message in its mailbox; that message
    must still be written or refused, never dropped without an answer."""
    owner = api.signup()
    study = api.create_study(owner)
    registry = server.services.realtime.registry

    async def post_while_passivating() -> tuple[Any, Any]:
        room = await registry.room_for(study["id"])
        await asyncio.sleep(0.2)  # started and idle
        answered: asyncio.Future[tuple[Any, Any]] = asyncio.get_running_loop().create_future()

        def answer(outcome: Any, error: BaseException | None) -> None:
            if not answered.done():
                answered.set_result((outcome, error))

        draft = MessageDraft(owner.id, "막 들어온 메시지", new_client_id(), None)
        room.tell(PostMessage(draft, answer, time.perf_counter()))
        # Only this room: other tests' idle rooms would give it time to drain its mailbox.
        everyone, registry.rooms = registry.rooms, {study["id"]: room}
        try:
            await registry.collect_garbage(idle_seconds=0)
        finally:
            everyone.update(registry.rooms)
            if not room.alive and everyone.get(study["id"]) is room:
                del everyone[study["id"]]
            registry.rooms = everyone
        try:
            return await asyncio.wait_for(answered, 5)
        except TimeoutError:
            return None, "never answered"

    _outcome, error = server.call(post_while_passivating())
    assert error != "never answered"


def test_chaos_many_clients_posting_while_others_reconnect(api: Api,
                                                           server: LiveServer) -> None:
    owner = api.signup()
    study = api.create_study(owner, max_members=20)
    users = [owner] + [member_of(api, study) for _ in range(9)]
    clients = [WsClient.open(server, users[n % 10].token) for n in range(50)]
    seen: list[list[int]] = [[] for _ in clients]
    acks: list[int] = []
    lock = threading.Lock()
    rng = random.Random(7)
    try:
        heads = {ws.ok("study:join", {"study_id": study["id"]})["seq"] for ws in clients}
        assert len(heads) == 1
        head = heads.pop()

        def run(index: int) -> None:
            ws = clients[index]
            churn = index % 5 == 0
            for n in range(8):
                ack = ws.ok("chat:message", {"study_id": study["id"], "content": f"{index}-{n}",
                                             "client_id": new_client_id()})
                with lock:
                    acks.append(ack["seq"])
                time.sleep(0.02 + rng.random() * 0.02)
                if churn and n in (2, 5):
                    seen[index].extend(durable_seqs(ws.drain(0.05), study["id"]))
                    ws.close()
                    time.sleep(rng.random() * 0.1)
                    ws = clients[index] = WsClient.open(server, users[index % 10].token)
                    since = seen[index][-1] if seen[index] else head
                    joined = ws.ok("study:join", {"study_id": study["id"], "since": since})
                    assert joined["recovered"] is True
                    seen[index].extend(e["data"]["seq"] for e in joined["missed"])
            seen[index].extend(durable_seqs(ws.drain(0.01), study["id"]))

        with chat_limit(server, 100_000), ThreadPoolExecutor(len(clients)) as pool:
            for future in [pool.submit(run, n) for n in range(len(clients))]:
                future.result(timeout=120)
        last = study_head(server, study["id"])
        expected = list(range(head + 1, last + 1))
        assert sorted(acks) == expected  # every seq is an acknowledged message: no gaps
        assert len(messages_in_db(server, study["id"])) == len(expected)
        for index, ws in enumerate(clients):
            deadline = time.monotonic() + 20
            while (not seen[index] or seen[index][-1] < last) and time.monotonic() < deadline:
                seen[index].append(ws.expect("chat:new-message", timeout=10)["seq"])
            assert seen[index] == expected, f"client {index}"
    finally:
        for ws in clients:
            ws.close()
