"""The chat group commit: every pending message of every room on the node in one transaction.

Each RoomActor keeps at most one batch in flight; the node's ChatWriter collects the batches of
all rooms that arrive while a transaction runs and writes them together. One transaction costs
a fixed number of statements however many studies and messages it carries: lock the studies
(in id order), read the senders, the members and earlier copies of retried client ids, advance
every study's `last_seq` in one UPDATE, insert the messages and the events with one statement
each, and write the CHAT notifications of members who are not in their room.

This is the hot path of the server, so its statements are plain SQL strings with parameters
rather than Peewee query objects: building the SQL of a Peewee query costs more CPU than the
database spends running it (measured with `bench/`, scenario a).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from coup.errors import ApiError, NotFound, ValidationError
from coup.jsonutil import iso
from coup.store.bulk import in_list, insert_rows
from coup.store.chat import MessageDraft, WriteOutcome, chat_item, message_view, restriction_error
from coup.store.db import database, is_postgres
from coup.store.events import db_write, record_events_many, reserve_seqs_many
from coup.store.fields import new_id, utcnow
from coup.store.files import file_ref
from coup.store.notifications import notify_chat
from coup.store.views import user_summary

MESSAGE_COLUMNS = (("id", "text"), ("study_id", "text"), ("user_id", "text"),
                   ("client_id", "text"), ("seq", "bigint"), ("content", "text"),
                   ("file_id", "text"), ("created_at", "timestamp"), ("updated_at", "timestamp"))


@dataclass
class StudyBatch:
    """One room's pending messages and who is online in the room (no CHAT notification)."""

    study_id: str
    drafts: list[MessageDraft]
    online_user_ids: frozenset[str] = frozenset()
    outcomes: list[WriteOutcome | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _SameAs:
    """Placeholder for an in-batch retry until its first copy has an outcome."""

    first: int


@db_write
def write_message_batches(batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
    """Group commit across studies; one list of outcomes per batch, in draft order."""
    study_ids = sorted({b.study_id for b in batches})
    drafts = [d for b in batches for d in b.drafts]
    studies = _lock_studies(study_ids)
    users = _senders({d.user_id for d in drafts})
    members = _active_members(list(studies))
    existing = _earlier_copies([(b.study_id, d) for b in batches if b.study_id in studies
                                for d in b.drafts if d.user_id in users])
    files = _files({d.file_id for d in drafts if d.file_id}
                   | {m.file_id for m in existing.values() if m.file_id})
    now = utcnow()

    inserts: dict[str, list[tuple[StudyBatch, int, MessageDraft]]] = {}
    for batch in batches:
        batch.outcomes = [None] * len(batch.drafts)
        study = studies.get(batch.study_id)
        seen: dict[tuple[str, str], int] = {}
        for index, draft in enumerate(batch.drafts):
            key = (draft.user_id, draft.client_id)
            original = existing.get((batch.study_id, *key))
            error = _refusal(study, draft, users, members, files, now)
            if error is not None:
                batch.outcomes[index] = WriteOutcome(None, 0, False, error)
            elif original is not None:
                view = message_view(original, users[draft.user_id], files.get(original.file_id))
                batch.outcomes[index] = WriteOutcome(view, original.seq, False)
            elif key in seen:  # a retry inside the same batch: answered like its first copy
                batch.outcomes[index] = _SameAs(seen[key])  # type: ignore[assignment]
            else:
                seen[key] = index
                inserts.setdefault(batch.study_id, []).append((batch, index, draft))

    if inserts:
        _insert_new_messages(inserts, studies, users, members, files, batches, now)

    results = []
    for batch in batches:
        outcomes = batch.outcomes
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, _SameAs):
                outcomes[index] = outcomes[outcome.first]
        results.append([o for o in outcomes if o is not None])
    return results


def _insert_new_messages(inserts: dict[str, list[tuple[StudyBatch, int, MessageDraft]]],
                         studies: dict[str, Any], users: dict[str, Any],
                         members: dict[str, set[str]], files: dict[str, Any],
                         batches: list[StudyBatch], now: datetime) -> None:
    # Seqs first: each message row carries the seq of its own event.
    firsts = reserve_seqs_many({sid: len(rows) for sid, rows in inserts.items()})
    stamp = iso(now)
    message_rows: list[tuple[Any, ...]] = []
    online = {b.study_id: b.online_user_ids for b in batches}
    event_groups = []
    for study_id, rows in inserts.items():
        views = []
        for offset, (batch, index, draft) in enumerate(rows):
            seq = firsts[study_id] + offset
            message_id = new_id()
            message_rows.append((message_id, study_id, draft.user_id, draft.client_id, seq,
                                 draft.content, draft.file_id, now, now))
            view = {
                "id": message_id, "client_id": draft.client_id, "study_id": study_id,
                "seq": seq, "user": user_summary(users[draft.user_id]),
                "content": draft.content,
                "file": file_ref(files[draft.file_id]) if draft.file_id else None,
                "created_at": stamp, "updated_at": stamp, "edited": False,
            }
            views.append(view)
            batch.outcomes[index] = WriteOutcome(view, seq, True)
        event_groups.append((study_id, firsts[study_id],
                             [("chat:new-message", {"message": v}) for v in views]))
        recipients = members.get(study_id, set()) - online[study_id]
        if recipients:
            notify_chat(recipients, studies[study_id], [chat_item(v) for v in views])
    record_events_many(event_groups)
    insert_rows("messages", MESSAGE_COLUMNS, message_rows)


# --- the statements -----------------------------------------------------------------------------


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return database.execute_sql(sql, params).fetchall()


def _lock_studies(study_ids: list[str]) -> dict[str, Any]:
    lock = " FOR UPDATE" if is_postgres() else ""
    where, params = in_list("id", study_ids)
    found = _rows(f"SELECT id, name, emoji, status FROM studies WHERE {where} "
                  f"ORDER BY id{lock}", params)
    return {row[0]: SimpleNamespace(id=row[0], name=row[1], emoji=row[2], status=row[3])
            for row in found}


def _senders(user_ids: set[str]) -> dict[str, Any]:
    where, params = in_list("id", list(user_ids))
    found = _rows(f"SELECT id, name, avatar, status, restricted_actions, restricted_until "
                  f"FROM users WHERE {where}", params)
    return {row[0]: SimpleNamespace(
        id=row[0], name=row[1], avatar=row[2], status=row[3],
        restricted_actions=_as_list(row[4]), restricted_until=_as_datetime(row[5]))
        for row in found}


def _active_members(study_ids: list[str]) -> dict[str, set[str]]:
    members: dict[str, set[str]] = {}
    if not study_ids:
        return members
    where, params = in_list("study_id", study_ids)
    for study_id, user_id in _rows(
            f"SELECT study_id, user_id FROM study_members WHERE status = 'ACTIVE' AND {where}",
            params):
        members.setdefault(study_id, set()).add(user_id)
    return members


def _earlier_copies(drafts: list[tuple[str, MessageDraft]]) -> dict[tuple[str, str, str], Any]:
    """Messages already stored under a (study, sender, client id) of this batch (retries)."""
    if not drafts:
        return {}
    columns = ("SELECT id, study_id, user_id, client_id, seq, content, file_id, created_at, "
               "updated_at, edited_at FROM messages")
    if is_postgres():
        # Exact triples, each one probe of the unique (study_id, user_id, client_id) index:
        # LIMIT 1 keeps the lateral subquery from being flattened into a hash join, which
        # the planner picks on a small table and which scans every message.
        found = _rows(
            f"SELECT m.* FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(s, u, c) "
            f"CROSS JOIN LATERAL ({columns} WHERE study_id = k.s AND user_id = k.u "
            f"AND client_id = k.c LIMIT 1) AS m",
            [[study_id for study_id, _ in drafts], [d.user_id for _, d in drafts],
             [d.client_id for _, d in drafts]])
    else:
        studies, study_params = in_list("study_id", sorted({s for s, _ in drafts}))
        users, user_params = in_list("user_id", sorted({d.user_id for _, d in drafts}))
        clients, client_params = in_list("client_id", sorted({d.client_id for _, d in drafts}))
        found = _rows(f"{columns} WHERE {studies} AND {users} AND {clients}",
                      [*study_params, *user_params, *client_params])
    copies = {}
    for row in found:
        message = SimpleNamespace(
            id=row[0], study_id=row[1], user_id=row[2], client_id=row[3], seq=row[4],
            content=row[5], file_id=row[6], created_at=_as_datetime(row[7]),
            updated_at=_as_datetime(row[8]), edited_at=_as_datetime(row[9]))
        copies[(message.study_id, message.user_id, message.client_id)] = message
    return copies


def _files(file_ids: set[str]) -> dict[str, Any]:
    if not file_ids:
        return {}
    where, params = in_list("id", list(file_ids))
    found = _rows(f"SELECT id, study_id, name, type, size FROM files WHERE {where}", params)
    return {row[0]: SimpleNamespace(id=row[0], study_id=row[1], name=row[2], type=row[3],
                                    size=row[4]) for row in found}


def _refusal(study: Any, draft: MessageDraft, users: dict[str, Any],
             members: dict[str, set[str]], files: dict[str, Any],
             now: datetime) -> ApiError | None:
    if study is None or study.status == "DELETED":
        return NotFound()
    if study.status == "CLOSED":
        return ApiError("STUDY_CLOSED")
    user = users.get(draft.user_id)
    if user is None or draft.user_id not in members.get(study.id, ()):
        return ApiError("NOT_MEMBER")
    error = restriction_error(user, "MESSAGE", now)
    if error is not None:
        return error
    if draft.file_id and (draft.file_id not in files or files[draft.file_id].study_id != study.id):
        return ValidationError({"file_id": "is not a file of this study"})
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return json.loads(value) if isinstance(value, str) else list(value)


def _as_datetime(value: Any) -> datetime | None:
    # psycopg2 returns datetimes; SQLite returns the text Peewee stored.
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)

