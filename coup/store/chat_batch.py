"""The chat group commit: every pending message of every room on the node in one transaction.

Each RoomActor keeps at most one batch in flight; the node's ChatWriter collects the batches of
all rooms that arrive while a transaction runs and writes them together. One transaction then
costs a fixed number of statements however many studies and messages it carries: lock the
studies (in id order), read the senders, the members and earlier copies of retried client ids,
insert the messages, advance every study's `last_seq` in one UPDATE, insert the events, and
write the CHAT notifications of members who are not in their room.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coup.errors import ApiError, NotFound, ValidationError
from coup.store.chat import (
    MessageDraft,
    WriteOutcome,
    chat_item,
    message_view,
    restriction_error,
)
from coup.store.events import db_write, lock_studies, record_events, reserve_seqs_many
from coup.store.fields import new_id, utcnow
from coup.store.models import File, Message, Study, StudyMember, User
from coup.store.notifications import notify_chat


@dataclass
class StudyBatch:
    """One room's pending messages and who is online in the room (no CHAT notification)."""

    study_id: str
    drafts: list[MessageDraft]
    online_user_ids: frozenset[str] = frozenset()
    outcomes: list[WriteOutcome | None] = field(default_factory=list)


@db_write
def write_message_batches(batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
    """Group commit across studies; one list of outcomes per batch, in draft order."""
    studies = lock_studies(sorted({b.study_id for b in batches}))
    drafts = [d for b in batches for d in b.drafts]
    now = utcnow()
    users = {u.id: u for u in User.select().where(User.id.in_({d.user_id for d in drafts}))}
    members: dict[str, set[str]] = {}
    for row in StudyMember.select(StudyMember.study, StudyMember.user).where(
            StudyMember.study.in_(list(studies)) & (StudyMember.status == "ACTIVE")):
        members.setdefault(row.study_id, set()).add(row.user_id)
    existing = {(m.study_id, m.user_id, m.client_id): m for m in Message.select().where(
        Message.study.in_(list(studies)) & Message.user.in_(list(users))
        & Message.client_id.in_({d.client_id for d in drafts}))}
    file_ids = {d.file_id for d in drafts if d.file_id}
    files = {f.id: f for f in File.select().where(File.id.in_(file_ids))} if file_ids else {}

    inserts: dict[str, list[tuple[StudyBatch, int, MessageDraft]]] = {}
    for batch in batches:
        batch.outcomes = [None] * len(batch.drafts)
        study = studies.get(batch.study_id)
        seen: dict[tuple[str, str], int] = {}
        for index, draft in enumerate(batch.drafts):
            error = _refusal(study, draft, users, members, files, now)
            key = (draft.user_id, draft.client_id)
            original = existing.get((batch.study_id, *key))
            if error is not None:
                batch.outcomes[index] = WriteOutcome(None, 0, False, error)
            elif original is not None:
                batch.outcomes[index] = WriteOutcome(
                    message_view(original, users[draft.user_id], files.get(original.file_id)),
                    original.seq, False)
            elif key in seen:  # a retry inside the same batch: answered like its first copy
                batch.outcomes[index] = _SameAs(seen[key])  # type: ignore[assignment]
            else:
                seen[key] = index
                inserts.setdefault(batch.study_id, []).append((batch, index, draft))

    if inserts:
        # Seqs first: each message row carries the seq of its own event.
        firsts = reserve_seqs_many({sid: len(rows) for sid, rows in inserts.items()})
        message_rows: list[dict[str, Any]] = []
        views_by_study: dict[str, list[dict[str, Any]]] = {}
        for study_id, rows in inserts.items():
            for offset, (batch, index, draft) in enumerate(rows):
                row = {"id": new_id(), "study": study_id, "user": draft.user_id,
                       "client_id": draft.client_id, "content": draft.content,
                       "file": draft.file_id, "created_at": now, "updated_at": now,
                       "seq": firsts[study_id] + offset}
                message_rows.append(row)
                message = Message(**{**row, "edited_at": None})
                message.study_id, message.user_id = study_id, draft.user_id
                view = message_view(message, users[draft.user_id], files.get(draft.file_id))
                views_by_study.setdefault(study_id, []).append(view)
                batch.outcomes[index] = WriteOutcome(view, row["seq"], True)
        Message.insert_many(message_rows).execute()
        online = {b.study_id: b.online_user_ids for b in batches}
        for study_id, views in views_by_study.items():
            record_events(study_id, firsts[study_id],
                          [("chat:new-message", {"message": v}) for v in views])
            recipients = members.get(study_id, set()) - online[study_id]
            notify_chat(recipients, studies[study_id], [chat_item(v) for v in views])

    results = []
    for batch in batches:
        outcomes = batch.outcomes
        for index, outcome in enumerate(outcomes):
            if isinstance(outcome, _SameAs):
                outcomes[index] = outcomes[outcome.first]
        results.append([o for o in outcomes if o is not None])
    return results


@dataclass(frozen=True)
class _SameAs:
    """Placeholder for an in-batch retry until its first copy has an outcome."""

    first: int


def _refusal(study: Study | None, draft: MessageDraft, users: dict[str, User],
             members: dict[str, set[str]], files: dict[str, File], now: Any) -> ApiError | None:
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
