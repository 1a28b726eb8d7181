"""The durable per-study event log and the after-commit hand-off (COUP.md §9.1, PROTOCOL §4).

Every write that produces durable events runs as a `@db_write` function. Inside its
transaction it calls `append_event()` (which advances `studies.last_seq` and inserts the
`study_events` row) and the notification engine; both record what they did in the
transaction's `Effects`, and so do the functions that revoke login sessions. Only after the
transaction commits are the effects handed, events in seq order, then notifications, removals
and revocations, to the sink the realtime layer installed (the front door,
coup/actors/realtime.py). A rolled-back
write hands over nothing, so clients never see an event that is not in the database.

Gap-free seq under concurrent writers: the `UPDATE studies SET last_seq = last_seq + k`
takes the study's row lock on PostgreSQL and holds it to commit, so writers of one study are
serialised and each sees the previous writer's seq; SQLite has a single writer thread.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar

from coup import jsonutil
from coup.localtime import utcnow
from coup.store.bulk import insert_rows_sql
from coup.store.db import database, db_task, is_postgres
from coup.store.models import Study, StudyEvent

log = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class CommittedEvent:
    """A durable study event as pushed: `payload` is the `data` object, study_id and seq in."""

    study_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    # Wall-clock time of the commit (0 when read back from the database), for the
    # commit-to-socket latency metric.
    committed_at: float = 0.0


@dataclass(frozen=True)
class NotificationPush:
    """A notification row created or coalesced for a user, as `notification:new` shows it."""

    user_id: str
    notification: dict[str, Any]


@dataclass(frozen=True)
class RoomRemoval:
    """Sessions of `user_id` (or of everyone, when None) leave a study's room and call."""

    study_id: str
    user_id: str | None
    reason: str  # left, kicked or deleted


@dataclass(frozen=True)
class Revocation:
    """Login sessions revoked by the write: their sockets close with 1008 (COUP.md §5.1)."""

    session_ids: tuple[str, ...]
    reason: str


@dataclass
class Effects:
    """What one committed write owes the realtime layer, in the order it must be delivered."""

    events: list[CommittedEvent] = field(default_factory=list)
    notifications: list[NotificationPush] = field(default_factory=list)
    removals: list[RoomRemoval] = field(default_factory=list)
    revocations: list[Revocation] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.events or self.notifications or self.removals or self.revocations)


EffectsSink = Callable[[Effects], Awaitable[None]]


async def _drop_effects(effects: Effects) -> None:
    log.debug("no realtime sink installed; dropping %d events", len(effects.events))


# Process-wide: the store is (Peewee's database proxy is one per process, coup/store/db.py),
# and a @db_write function has no caller to hand its effects to but this.
_sink: EffectsSink = _drop_effects
_current = threading.local()


def install_effects_sink(sink: EffectsSink | None) -> None:
    """Called by the node at start: committed effects go to `sink` (None restores the no-op)."""
    global _sink
    _sink = sink or _drop_effects


def installed_effects_sink() -> EffectsSink:
    """The sink in place (tests wrap it to watch what the writes hand over)."""
    return _sink


async def hand_off(effects: Effects) -> None:
    """Give committed effects to the realtime layer; a failed push never fails the write."""
    if not effects:
        return
    try:
        await _sink(effects)
    except Exception:
        log.exception("delivering %d committed events failed; clients recover with since",
                      len(effects.events))


def current_effects() -> Effects:
    effects = getattr(_current, "effects", None)
    if effects is None:
        raise RuntimeError("durable events can only be appended inside a @db_write function")
    return effects


def db_write(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """One transaction around `fn`; its events and notifications are handed off after commit."""

    @functools.wraps(fn)
    def in_transaction(*args: P.args, **kwargs: P.kwargs) -> T:
        with database.atomic():
            return fn(*args, **kwargs)

    return db_write_own_transaction(in_transaction)


def db_write_own_transaction(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """Like db_write for a function that begins and commits its transaction itself (the chat
    group commit sends BEGIN and COMMIT along with other statements, saving round trips)."""

    def collecting(*args: P.args, **kwargs: P.kwargs) -> tuple[T, Effects]:
        effects = Effects()
        _current.effects = effects
        try:
            result = fn(*args, **kwargs)
        finally:
            _current.effects = None
        return result, effects

    run = db_task(collecting)

    @functools.wraps(fn)
    async def write_and_hand_off(*args: P.args, **kwargs: P.kwargs) -> T:
        result, effects = await run(*args, **kwargs)
        await hand_off(effects)
        return result

    return write_and_hand_off


def lock_study(study_id: str) -> Study | None:
    """Read the study row under its lock (COUP.md §1 item 16); None when it does not exist.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite: its one writer thread already serialises writes.
    """
    query = Study.select().where(Study.id == study_id)
    if is_postgres():
        query = query.for_update()
    return query.first()


def append_event(study_id: str, event_type: str, body: dict[str, Any]) -> CommittedEvent:
    """Append one durable event; `body` is the payload without study_id and seq."""
    return append_events(study_id, [(event_type, body)])[0]


def append_events(study_id: str, items: list[tuple[str, dict[str, Any]]]) -> list[CommittedEvent]:
    """Append k events in one step: last_seq + k, then k rows with consecutive seqs."""
    if not items:
        return []
    return record_events(study_id, reserve_seqs(study_id, len(items)), items)


def reserve_seqs(study_id: str, count: int) -> int:
    """Advance last_seq by `count` under the row lock; returns the first of the new seqs.

    Callers that must put the seq into their own rows (a chat message carries its event's seq)
    reserve first and then `record_events` with the same first seq, in the same transaction.
    """
    current_effects()
    updated = list(
        # updated_at is kept: it tracks the study's settings, not its traffic.
        Study.update(last_seq=Study.last_seq + count, updated_at=Study.updated_at)
        .where(Study.id == study_id)
        .returning(Study.last_seq)
        .execute()
    )
    if not updated:
        raise LookupError(f"study {study_id} does not exist")
    return updated[0].last_seq - count + 1


def reserve_seqs_many(counts: dict[str, int]) -> dict[str, int]:
    """`reserve_seqs` for several studies in one statement; returns each study's first seq.

    One UPDATE ... FROM (SELECT ... UNION ALL ...) RETURNING works on PostgreSQL and on SQLite
    (3.33+), so a group commit spanning many studies costs one round trip, not one per study.
    """
    current_effects()
    if len(counts) == 1:
        ((study_id, count),) = counts.items()
        return {study_id: reserve_seqs(study_id, count)}
    param = database.param
    rows_sql = " UNION ALL ".join(f"SELECT {param} AS id, {param} AS n" for _ in counts)
    params: list[Any] = [value for item in counts.items() for value in item]
    cursor = database.execute_sql(
        f"UPDATE studies SET last_seq = studies.last_seq + v.n FROM ({rows_sql}) AS v "
        f"WHERE studies.id = v.id RETURNING studies.id, studies.last_seq", params)
    heads = dict(cursor.fetchall())
    missing = set(counts) - set(heads)
    if missing:
        raise LookupError(f"studies do not exist: {sorted(missing)}")
    return {study_id: heads[study_id] - count + 1 for study_id, count in counts.items()}


EVENT_COLUMNS = (("study_id", "text"), ("seq", "bigint"), ("type", "text"),
                 ("payload", "jsonb"), ("created_at", "timestamp"))


def committed_events(groups: list[tuple[str, int, list[tuple[str, dict[str, Any]]]]]
                     ) -> list[CommittedEvent]:
    """The events of `groups` (study id, first reserved seq, items), queued for delivery after
    commit; the caller inserts their rows (event_rows_sql) in the same transaction."""
    wall = time.time()
    committed = [
        CommittedEvent(study_id, first_seq + offset, event_type,
                       {"study_id": study_id, "seq": first_seq + offset, **body}, wall)
        for study_id, first_seq, items in groups
        for offset, (event_type, body) in enumerate(items)
    ]
    current_effects().events.extend(committed)
    return committed


def event_rows_sql(committed: list[CommittedEvent]) -> tuple[str, list[Any]]:
    """The INSERT of the study_events rows of `committed`, and its parameters."""
    now = utcnow()
    return insert_rows_sql("study_events", EVENT_COLUMNS, [
        (e.study_id, e.seq, e.type, jsonutil.dumps(e.payload), now) for e in committed])


def record_events(study_id: str, first_seq: int,
                  items: list[tuple[str, dict[str, Any]]]) -> list[CommittedEvent]:
    """Insert the event rows for seqs reserved by `reserve_seqs` and queue them for delivery."""
    committed = committed_events([(study_id, first_seq, items)])
    database.execute_sql(*event_rows_sql(committed))
    return committed


def remove_from_room(study_id: str, user_id: str | None, reason: str) -> None:
    """After commit, the user's sessions (or everyone's) get `study:removed` and leave."""
    current_effects().removals.append(RoomRemoval(study_id, user_id, reason))


def sessions_revoked(session_ids: list[str], reason: str) -> None:
    """After commit, the sockets of these login sessions close, on every node."""
    if session_ids:
        current_effects().revocations.append(Revocation(tuple(session_ids), reason))


@db_task
def events_after(study_id: str, since: int, limit: int) -> list[CommittedEvent]:
    """Durable events with seq > since, in order, at most `limit` (for recovery)."""
    rows = (
        StudyEvent.select(StudyEvent.seq, StudyEvent.type, StudyEvent.payload)
        .where((StudyEvent.study == study_id) & (StudyEvent.seq > since))
        .order_by(StudyEvent.seq.asc())
        .limit(limit)
    )
    return [CommittedEvent(study_id, r.seq, r.type, r.payload) for r in rows]
