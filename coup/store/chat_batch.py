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

On PostgreSQL the transaction takes five round trips (`_PostgresTransaction`): BEGIN with the
study locks (which also give each study's current `last_seq`), the senders, the members and
the earlier copies, then the `last_seq` UPDATE, both INSERTs and COMMIT sent together. Under
load a round trip costs this process about a millisecond, and a group commit's fixed cost is
what a message waits for (bench scenario d). SQLite runs the same steps as separate statements
inside one Peewee transaction (`_SqliteTransaction`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from coup.errors import ApiError, NotFound, ValidationError
from coup.jsonutil import iso
from coup.store.bulk import in_list, insert_rows_sql
from coup.store.chat import MessageDraft, WriteOutcome, chat_item, message_view, restriction_error
from coup.store.db import database, is_postgres
from coup.store.events import (
    committed_events,
    db_write_own_transaction,
    event_rows_sql,
    reserve_seqs_many,
)
from coup.store.fields import new_id, utcnow
from coup.store.files import file_ref
from coup.store.notifications import notify_chat
from coup.store.views import user_summary

log = logging.getLogger(__name__)

# The columns of a stored message that a retry's answer needs.
COPY_COLUMNS = ("id, study_id, user_id, client_id, seq, content, file_id, created_at, "
                "updated_at, edited_at")
MESSAGE_COLUMNS = (("id", "text"), ("study_id", "text"), ("user_id", "text"),
                   ("client_id", "text"), ("seq", "bigint"), ("content", "text"),
                   ("file_id", "text"), ("created_at", "timestamp"), ("updated_at", "timestamp"))


@dataclass
class StudyBatch:
    """One room's pending messages and who is online in the room (no CHAT notification)."""

    study_id: str
    drafts: list[MessageDraft]
    online_user_ids: frozenset[str] = frozenset()
    # None until decided; _SameAs for an in-batch retry until its first copy is written.
    outcomes: list[WriteOutcome | _SameAs | None] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _SameAs:
    """Placeholder for an in-batch retry until its first copy has an outcome."""

    first: int


@db_write_own_transaction
def write_message_batches(batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
    """Group commit across studies; one list of outcomes per batch, in draft order."""
    if is_postgres():
        return _PostgresTransaction().run(batches)
    with database.atomic():
        return _SqliteTransaction().run(batches)


class _GroupCommit:
    """The steps of one group commit; subclasses say how each reaches the database."""

    def run(self, batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
        study_ids = sorted({b.study_id for b in batches})
        drafts = [d for b in batches for d in b.drafts]
        studies = self.lock_studies(study_ids)
        users, members, existing = self.read_context(batches, studies, drafts)
        files = _files({d.file_id for d in drafts if d.file_id}
                       | {m.file_id for m in existing.values() if m.file_id})
        inserts = _decide(batches, studies, users, members, existing, files, utcnow())
        if inserts:
            self.insert_new_messages(inserts, studies, users, members, files, batches)
        else:
            self.finish_without_inserts()
        return _outcomes(batches)

    def insert_new_messages(self, inserts: dict[str, list[tuple[StudyBatch, int, MessageDraft]]],
                            studies: dict[str, Any], users: dict[str, Any],
                            members: dict[str, set[str]], files: dict[str, Any],
                            batches: list[StudyBatch]) -> None:
        now = utcnow()
        # Seqs first: each message row carries the seq of its own event.
        firsts = self.reserve_seqs(studies, {sid: len(rows) for sid, rows in inserts.items()})
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
        self.write_rows(firsts, inserts, committed_events(event_groups), message_rows)

    def lock_studies(self, study_ids: list[str]) -> dict[str, Any]:
        raise NotImplementedError

    def read_context(self, batches: list[StudyBatch], studies: dict[str, Any],
                     drafts: list[MessageDraft]) -> tuple[dict[str, Any], dict[str, set[str]],
                                                          dict[tuple[str, str, str], Any]]:
        """Senders, members and earlier copies, read after the locks: a membership change of
        these studies has committed before."""
        users = _senders({d.user_id for d in drafts})
        members = _active_members(list(studies))
        existing = _earlier_copies([(b.study_id, d) for b in batches if b.study_id in studies
                                    for d in b.drafts if d.user_id in users])
        return users, members, existing

    def reserve_seqs(self, studies: dict[str, Any], counts: dict[str, int]) -> dict[str, int]:
        raise NotImplementedError

    def write_rows(self, firsts: dict[str, int], inserts: dict[str, list[Any]],
                   events: list[Any], message_rows: list[tuple[Any, ...]]) -> None:
        raise NotImplementedError

    def finish_without_inserts(self) -> None:
        """Nothing to write (every draft refused or a retry): end the transaction."""


class _SqliteTransaction(_GroupCommit):
    """One statement per step, inside the caller's Peewee transaction."""

    def lock_studies(self, study_ids: list[str]) -> dict[str, Any]:
        return _lock_studies(study_ids)

    def reserve_seqs(self, studies: dict[str, Any], counts: dict[str, int]) -> dict[str, int]:
        return reserve_seqs_many(counts)

    def write_rows(self, firsts: dict[str, int], inserts: dict[str, list[Any]],
                   events: list[Any], message_rows: list[tuple[Any, ...]]) -> None:
        database.execute_sql(*event_rows_sql(events))
        database.execute_sql(*insert_rows_sql("messages", MESSAGE_COLUMNS, message_rows))


class _PostgresTransaction(_GroupCommit):
    """BEGIN with the locks, three reads, then the writes with COMMIT: five round trips."""

    def run(self, batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
        self.committed = False
        try:
            return super().run(batches)
        finally:
            if not self.committed:
                _rollback_quietly()

    def lock_studies(self, study_ids: list[str]) -> dict[str, Any]:
        found = _rows("BEGIN; SELECT id, name, emoji, status, last_seq FROM studies "
                      "WHERE id = ANY(%s) ORDER BY id FOR UPDATE", [study_ids])
        return {row[0]: SimpleNamespace(id=row[0], name=row[1], emoji=row[2], status=row[3],
                                        last_seq=row[4]) for row in found}

    def reserve_seqs(self, studies: dict[str, Any], counts: dict[str, int]) -> dict[str, int]:
        # The studies are locked: their last_seq cannot move until this transaction ends.
        return {study_id: studies[study_id].last_seq + 1 for study_id in counts}

    def write_rows(self, firsts: dict[str, int], inserts: dict[str, list[Any]],
                   events: list[Any], message_rows: list[tuple[Any, ...]]) -> None:
        heads = {sid: firsts[sid] + len(rows) - 1 for sid, rows in inserts.items()}
        statements = [("UPDATE studies SET last_seq = v.n "
                       "FROM unnest(%s::text[], %s::bigint[]) AS v(id, n) "
                       "WHERE studies.id = v.id", [list(heads), list(heads.values())]),
                      event_rows_sql(events),
                      insert_rows_sql("messages", MESSAGE_COLUMNS, message_rows)]
        database.execute_sql("; ".join(sql for sql, _ in statements) + "; COMMIT",
                             [value for _, params in statements for value in params])
        self.committed = True

    def finish_without_inserts(self) -> None:
        database.execute_sql("COMMIT")
        self.committed = True


def _rollback_quietly() -> None:
    """End a failed group commit's transaction (the connection may already be gone)."""
    try:
        if not database.is_closed():
            database.execute_sql("ROLLBACK")
    except Exception:
        log.warning("ROLLBACK after a failed group commit failed", exc_info=True)


def _decide(batches: list[StudyBatch], studies: dict[str, Any], users: dict[str, Any],
            members: dict[str, set[str]], existing: dict[tuple[str, str, str], Any],
            files: dict[str, Any], now: datetime
            ) -> dict[str, list[tuple[StudyBatch, int, MessageDraft]]]:
    """Each draft's fate: refused, a retry answered with its original, or a new message (the
    returned inserts, by study)."""
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
                batch.outcomes[index] = _SameAs(seen[key])
            else:
                seen[key] = index
                inserts.setdefault(batch.study_id, []).append((batch, index, draft))

    return inserts


def _outcomes(batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
    results = []
    for batch in batches:
        outcomes = batch.outcomes
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, _SameAs):
                outcomes[index] = outcomes[outcome.first]
        # No _SameAs is left: each was replaced by its first copy's outcome above.
        results.append([o for o in outcomes if isinstance(o, WriteOutcome)])
    return results


# --- the reads ----------------------------------------------------------------------------------


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    return database.execute_sql(sql, params).fetchall()


def _lock_studies(study_ids: list[str]) -> dict[str, Any]:
    # SQLite only: its one writer thread already serialises writes (no FOR UPDATE there).
    where, params = in_list("id", study_ids)
    found = _rows(f"SELECT id, name, emoji, status FROM studies WHERE {where} ORDER BY id",
                  params)
    return {row[0]: SimpleNamespace(id=row[0], name=row[1], emoji=row[2], status=row[3])
            for row in found}


def _senders(user_ids: set[str]) -> dict[str, Any]:
    where, params = in_list("id", list(user_ids))
    found = _rows(f"SELECT id, name, avatar, status, restricted_actions, restricted_until "
                  f"FROM users WHERE {where}", params)
    return {row[0]: _sender(row) for row in found}


def _sender(row: Sequence[Any]) -> SimpleNamespace:
    return SimpleNamespace(id=row[0], name=row[1], avatar=row[2], status=row[3],
                           restricted_actions=_as_list(row[4]),
                           restricted_until=_as_datetime(row[5]))


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
    if is_postgres():
        # Exact triples, each one probe of the unique (study_id, user_id, client_id) index:
        # LIMIT 1 keeps the lateral subquery from being flattened into a hash join, which
        # the planner picks on a small table and which scans every message.
        found = _rows(
            f"SELECT m.* FROM unnest(%s::text[], %s::text[], %s::text[]) AS k(s, u, c) "
            f"CROSS JOIN LATERAL (SELECT {COPY_COLUMNS} FROM messages WHERE study_id = k.s "
            f"AND user_id = k.u AND client_id = k.c LIMIT 1) AS m",
            [[study_id for study_id, _ in drafts], [d.user_id for _, d in drafts],
             [d.client_id for _, d in drafts]])
    else:
        studies, study_params = in_list("study_id", sorted({s for s, _ in drafts}))
        users, user_params = in_list("user_id", sorted({d.user_id for _, d in drafts}))
        clients, client_params = in_list("client_id",
                                         sorted({d.client_id for _, d in drafts}))
        found = _rows(f"SELECT {COPY_COLUMNS} FROM messages WHERE {studies} AND {users} "
                      f"AND {clients}", [*study_params, *user_params, *client_params])
    copies = {}
    for row in found:
        message = _copy(row)
        copies[(message.study_id, message.user_id, message.client_id)] = message
    return copies


def _copy(row: Sequence[Any]) -> SimpleNamespace:
    """A stored message, from COPY_COLUMNS (as a row, or as a JSON array on PostgreSQL)."""
    return SimpleNamespace(
        id=row[0], study_id=row[1], user_id=row[2], client_id=row[3], seq=row[4],
        content=row[5], file_id=row[6], created_at=_as_datetime(row[7]),
        updated_at=_as_datetime(row[8]), edited_at=_as_datetime(row[9]))


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

