"""The group commit never fails a message that is not itself at fault (issue 10, defect 1,
second wall), on both backends: a message that fails inside the database is isolated and only
its sender gets an error; the other studies' and the same study's messages are written with
consecutive seqs; a failure of the database itself still fails everyone, retryably, without
endless retries."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import peewee
import pytest

from coup.actors import chat_writer
from coup.actors.chat_writer import ChatWriter
from coup.errors import ApiError, Overloaded
from coup.store import chat_batch
from coup.store.chat import MessageDraft, WriteOutcome
from coup.store.chat_batch import StudyBatch
from coup.store.db import current_runner, database, db_task, db_transaction, is_postgres
from tests.conftest import Api, LiveServer, User
from tests.wsclient import WsClient, events_in_db, member_of, messages_in_db, study_head

# Content the test trigger makes the database refuse (validation accepts it: it is plain text).
REFUSED_CONTENT = "coup-test: refused by the database"


def draft(user: User, content: str) -> MessageDraft:
    return MessageDraft(user.id, content, str(uuid.uuid4()), None)


def write_concurrently(server: LiveServer, batches: list[StudyBatch]) -> list[Any]:
    """Hand every batch to one new ChatWriter at once (one group commit, as rooms do); each
    batch's outcomes, or the exception it got."""
    writer = ChatWriter()

    async def write_all() -> list[Any]:
        return await asyncio.gather(*(writer.write(b) for b in batches),
                                    return_exceptions=True)

    return server.call(write_all())


def assert_log_is_whole(server: LiveServer, study_id: str) -> None:
    """last_seq counts the stored events, which are seqs 1..last_seq (no gap)."""
    head = study_head(server, study_id)
    assert [seq for seq, _ in events_in_db(server, study_id)] == list(range(1, head + 1))


def written(outcomes: list[WriteOutcome]) -> list[int]:
    assert all(o.created and o.error is None for o in outcomes), outcomes
    return [o.seq for o in outcomes]


# --- straight to the store path (what a room hands the node's writer) ---------------------------


def test_an_unencodable_message_fails_alone_and_the_others_are_written(
        api: Api, server: LiveServer) -> None:
    owners = [api.signup() for _ in range(3)]
    studies = [api.create_study(owner) for owner in owners]
    heads = [study_head(server, s["id"]) for s in studies]
    middle = [draft(owners[1], "앞"), draft(owners[1], "\udfff"), draft(owners[1], "뒤 1"),
              draft(owners[1], "뒤 2")]
    batches = [StudyBatch(studies[0]["id"], [draft(owners[0], "하나"), draft(owners[0], "둘")],
                          frozenset({owners[0].id})),
               StudyBatch(studies[1]["id"], middle, frozenset({owners[1].id})),
               StudyBatch(studies[2]["id"], [draft(owners[2], "셋")], frozenset({owners[2].id}))]

    first, second, third = write_concurrently(server, batches)

    assert written(first) == [heads[0] + 1, heads[0] + 2]
    assert written(third) == [heads[2] + 1]
    bad = second[1]
    assert bad.error is not None and bad.error.code == "INTERNAL" and bad.message is None
    # The same study's other messages keep their order and take consecutive seqs.
    assert written([second[0], second[2], second[3]]) == [heads[1] + 1, heads[1] + 2,
                                                          heads[1] + 3]
    assert [m["content"] for m in messages_in_db(server, studies[1]["id"])] == [
        "앞", "뒤 1", "뒤 2"]
    for study in studies:
        assert_log_is_whole(server, study["id"])


def write_failing_with(server: LiveServer, monkeypatch: pytest.MonkeyPatch,
                       batches: list[StudyBatch], failure: Exception) -> tuple[list[Any], int]:
    """write_concurrently while every transaction raises `failure`; the answers and how many
    transactions were tried."""
    calls = []

    async def failing(parts: list[StudyBatch]) -> Any:
        calls.append(parts)
        raise failure

    monkeypatch.setattr(chat_writer, "write_message_batches", failing)
    return write_concurrently(server, batches), len(calls)


def test_a_database_failure_fails_everyone_retryably_without_retries(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    owners = [api.signup() for _ in range(2)]
    studies = [api.create_study(owner) for owner in owners]
    batches = [StudyBatch(s["id"], [draft(o, "a"), draft(o, "b")], frozenset({o.id}))
               for o, s in zip(owners, studies, strict=True)]
    for failure in (Overloaded(message="database unavailable; retry later"),
                    peewee.OperationalError("database is locked")):
        answers, calls = write_failing_with(server, monkeypatch, batches, failure)
        assert calls == 1, "a failure of the database itself is not split"
        assert all(isinstance(a, ApiError) and a.code == "OVERLOADED" for a in answers), answers
    for study in studies:
        assert messages_in_db(server, study["id"]) == []


def test_a_failure_of_every_transaction_is_split_a_bounded_number_of_times(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    owners = [api.signup() for _ in range(3)]
    studies = [api.create_study(owner) for owner in owners]
    heads = [study_head(server, s["id"]) for s in studies]
    batches = [StudyBatch(s["id"], [draft(o, f"메시지 {i}") for i in range(40)],
                          frozenset({o.id})) for o, s in zip(owners, studies, strict=True)]
    attempts = []
    real_write = chat_writer.write_message_batches

    async def counted(parts: list[StudyBatch]) -> Any:
        attempts.append(sum(len(b.drafts) for b in parts))
        return await real_write(parts)

    def broken_events_sql(events: Any) -> tuple[str, list[Any]]:
        # Inside the transaction (on PostgreSQL after its BEGIN), as a driver error would be.
        raise ValueError("every group commit fails here")

    monkeypatch.setattr(chat_writer, "write_message_batches", counted)
    monkeypatch.setattr(chat_batch, "event_rows_sql", broken_events_sql)
    answers = write_concurrently(server, batches)
    monkeypatch.undo()

    assert len(attempts) <= 1 + 2 * chat_writer.MAX_ISOLATION_SPLITS
    codes = {o.error.code for outcomes in answers for o in outcomes if o.error is not None}
    assert sum(len(outcomes) for outcomes in answers) == 120
    assert all(o.error is not None for outcomes in answers for o in outcomes)
    # The messages that failed alone are INTERNAL; those never tried alone may be retried.
    assert codes == {"INTERNAL", "OVERLOADED"}
    for study, head in zip(studies, heads, strict=True):
        assert study_head(server, study["id"]) == head
        assert messages_in_db(server, study["id"]) == []
    # The connections still commit afterwards.
    outcomes, = write_concurrently(server, [batches[0]])
    assert written(outcomes) == list(range(heads[0] + 1, heads[0] + 41))


# --- through real sockets: a message the database refuses, among many ------------------------


@db_transaction
def _install_refusing_trigger() -> None:
    if is_postgres():
        database.execute_sql(
            "CREATE OR REPLACE FUNCTION coup_test_refuse() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN IF NEW.content = '{REFUSED_CONTENT}' THEN "
            "RAISE EXCEPTION 'refused by a test trigger'; END IF; RETURN NEW; END $$")
        database.execute_sql("CREATE TRIGGER coup_test_refuse BEFORE INSERT ON messages "
                             "FOR EACH ROW EXECUTE FUNCTION coup_test_refuse()")
    else:
        database.execute_sql(
            "CREATE TRIGGER coup_test_refuse BEFORE INSERT ON messages "
            f"WHEN NEW.content = '{REFUSED_CONTENT}' "
            "BEGIN SELECT RAISE(ABORT, 'refused by a test trigger'); END")


@db_transaction
def _drop_refusing_trigger() -> None:
    if is_postgres():
        database.execute_sql("DROP TRIGGER IF EXISTS coup_test_refuse ON messages")
        database.execute_sql("DROP FUNCTION IF EXISTS coup_test_refuse()")
    else:
        database.execute_sql("DROP TRIGGER IF EXISTS coup_test_refuse")


@pytest.fixture()
def refusing_trigger(server: LiveServer) -> Iterator[None]:
    server.call(_install_refusing_trigger())
    try:
        yield
    finally:
        server.call(_drop_refusing_trigger())


@contextlib.contextmanager
def database_held(server: LiveServer) -> Iterator[None]:
    """Every database worker waits until the block ends, so chat batches pile up in the node's
    ChatWriter and go out together."""
    release = threading.Event()
    holding = threading.Semaphore(0)

    @db_task
    def hold() -> None:
        holding.release()
        release.wait(30)

    workers = current_runner().workers
    held = [asyncio.run_coroutine_threadsafe(hold(), server.loop) for _ in range(workers)]
    try:
        for _ in range(workers):
            assert holding.acquire(timeout=10)
        yield
    finally:
        release.set()
        for future in held:
            future.result(10)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.mark.expects_5xx  # the refused message's own INTERNAL answer
def test_a_message_the_database_refuses_fails_only_its_sender(
        api: Api, server: LiveServer, refusing_trigger: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # All the rooms' batches go into one transaction, not into a second one beside it.
    monkeypatch.setattr(chat_writer, "SECOND_COMMIT_BACKLOG", 10**9)
    writer = server.services.realtime.registry.chat_writer
    rooms: list[tuple[dict[str, Any], list[WsClient]]] = []
    for _ in range(5):
        owner = api.signup()
        study = api.create_study(owner)
        users = [owner, *(member_of(api, study) for _ in range(2))]
        sockets = [WsClient.open(server, user.token) for user in users]
        for ws in sockets:
            ws.ok("study:join", {"study_id": study["id"]})
        rooms.append((study, sockets))
    primer_owner = api.signup()
    primer = api.create_study(primer_owner)
    primer_ws = WsClient.open(server, primer_owner.token)
    primer_ws.ok("study:join", {"study_id": primer["id"]})
    heads = {study["id"]: study_head(server, study["id"]) for study, _ in rooms}
    sender = rooms[2][1][1]  # a member (not the owner) of the third study
    sent: dict[str, list[tuple[WsClient, int, str]]] = {}  # study id -> (socket, ref, client id)
    try:
        with database_held(server):
            # The primer's commit waits for the database; every room's batch queues behind it.
            primer_ws.send("chat:message", {"study_id": primer["id"], "content": "먼저",
                                            "client_id": str(uuid.uuid4())}, ref=1)
            wait_for(lambda: writer.busy and writer.waiting_batches == 0, "primer taken")
            for round_ in range(2):
                for study, sockets in rooms:
                    for ws in sockets:
                        content = REFUSED_CONTENT if (ws is sender and round_ == 0) \
                            else f"{study['name']} {round_}"
                        client_id, ref = str(uuid.uuid4()), ws.next_ref()
                        ws.send("chat:message", {"study_id": study["id"], "content": content,
                                                 "client_id": client_id}, ref=ref)
                        if content != REFUSED_CONTENT:
                            sent.setdefault(study["id"], []).append((ws, ref, client_id))
                        else:
                            refused_ref = ref
            wait_for(lambda: writer.waiting_batches == len(rooms), "every room's batch waits")
        assert primer_ws.reply(1)["ok"] is True

        refused = sender.reply(refused_ref)
        assert refused["ok"] is False and refused["error"]["code"] == "INTERNAL", refused
        for study, sockets in rooms:
            acks = {client_id: ws.reply(ref) for ws, ref, client_id in sent[study["id"]]}
            assert all(a["ok"] for a in acks.values()), [a for a in acks.values()
                                                         if not a["ok"]]
            seqs = sorted(a["data"]["seq"] for a in acks.values())
            head = heads[study["id"]]
            assert seqs == list(range(head + 1, head + 1 + len(acks)))
            # Every member got every acked message, in seq order with no gap.
            for ws in sockets:
                delivered = ws.collect("chat:new-message", len(acks))
                assert [d["seq"] for d in delivered] == seqs
                assert {d["message"]["client_id"] for d in delivered} == set(acks)
            stored = messages_in_db(server, study["id"])
            assert {m["client_id"] for m in stored} == set(acks)
            assert REFUSED_CONTENT not in {m["content"] for m in stored}
            assert_log_is_whole(server, study["id"])
            assert study_head(server, study["id"]) == head + len(acks)
    finally:
        for _, sockets in rooms:
            for ws in sockets:
                ws.close()
        primer_ws.close()
