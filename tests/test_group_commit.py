"""The chat group commit (coup/store/chat_batch.py) called directly, on both backends: seqs and
rows across studies, and a transaction that fails half-way leaves nothing behind and no open
transaction on the worker's connection (on PostgreSQL it sends BEGIN and COMMIT itself)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from coup.store import chat_batch
from coup.store.chat import MessageDraft
from coup.store.chat_batch import StudyBatch, write_message_batches
from tests.conftest import Api, LiveServer, User
from tests.wsclient import events_in_db, messages_in_db, study_head


def draft(user: User, content: str) -> MessageDraft:
    return MessageDraft(user.id, content, str(uuid.uuid4()), None)


def studies_of(api: Api, count: int) -> list[tuple[User, dict[str, Any]]]:
    owners = [api.signup() for _ in range(count)]
    return [(owner, api.create_study(owner)) for owner in owners]


def test_one_transaction_gives_each_study_its_next_seqs(api: Api, server: LiveServer) -> None:
    (a_owner, a), (b_owner, b) = studies_of(api, 2)
    heads = {a["id"]: study_head(server, a["id"]), b["id"]: study_head(server, b["id"])}
    outcomes = server.call(write_message_batches([
        StudyBatch(a["id"], [draft(a_owner, "하나"), draft(a_owner, "둘")],
                   frozenset({a_owner.id})),
        StudyBatch(b["id"], [draft(b_owner, "셋")], frozenset({b_owner.id})),
    ]))
    assert [[o.seq for o in batch] for batch in outcomes] == [
        [heads[a["id"]] + 1, heads[a["id"]] + 2], [heads[b["id"]] + 1]]
    assert all(o.created and o.error is None for batch in outcomes for o in batch)
    assert study_head(server, a["id"]) == heads[a["id"]] + 2
    assert [m["content"] for m in messages_in_db(server, a["id"])] == ["하나", "둘"]
    assert events_in_db(server, b["id"])[-1] == (heads[b["id"]] + 1, "chat:new-message")


def test_a_failed_write_leaves_no_rows_and_no_open_transaction(
        api: Api, server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    (owner, study), = studies_of(api, 1)
    head = study_head(server, study["id"])

    def broken_events_sql(events: Any) -> tuple[str, list[Any]]:
        return "INSERT INTO no_such_table VALUES (1)", []

    monkeypatch.setattr(chat_batch, "event_rows_sql", broken_events_sql)
    with pytest.raises(Exception, match="no_such_table"):
        server.call(write_message_batches([
            StudyBatch(study["id"], [draft(owner, "사라질 메시지")], frozenset({owner.id}))]))
    monkeypatch.undo()

    assert study_head(server, study["id"]) == head
    assert messages_in_db(server, study["id"]) == []
    # The failed transaction was ended: the worker connections commit what comes next (an
    # aborted transaction left open would refuse every statement on its connection).
    for index in range(1, 17):
        outcome, = server.call(write_message_batches([
            StudyBatch(study["id"], [draft(owner, f"다음 {index}")], frozenset({owner.id}))]))
        assert outcome[0].seq == head + index and outcome[0].created
    assert len(messages_in_db(server, study["id"])) == 16
