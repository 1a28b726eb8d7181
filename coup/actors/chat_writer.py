"""The node's chat group commit: one transaction for the pending messages of every room.

Each RoomActor hands over at most one batch at a time and waits for its outcome, so what waits
here is bounded by the number of active rooms. While a transaction runs, the batches of other
rooms accumulate and go out together in the next one: the number of transactions per second
is bounded by the database's latency, not by the number of rooms or messages.

When a backlog of SECOND_COMMIT_BACKLOG messages builds up behind the running transaction, a
second one takes it, so under heavy load the database's round-trip waits overlap (bench
scenario d). Below that, one transaction at a time keeps the batches large and the CPU per
message low. Two transactions never hold the same study (a room has at most one batch in
flight), so seqs stay in order and their row locks cannot deadlock.

One transaction carries the messages of many rooms, so a message that fails inside the database
(content the driver cannot encode, a row a constraint refuses) would fail them all. When a group
commit fails for such a reason, `write_isolating` writes it again in halves, by study and then
by message, until the failing message stands alone: only its sender gets an error. A failure of
the database itself (a lost connection, a lock timeout) is not split: it fails everyone with the
retryable OVERLOADED, as before. Nothing here runs while transactions succeed.
"""

from __future__ import annotations

import asyncio
import logging

import peewee

from coup import metrics
from coup.errors import ApiError, Overloaded
from coup.store.chat import WriteOutcome
from coup.store.chat_batch import StudyBatch, write_message_batches

log = logging.getLogger(__name__)

# Messages per transaction at most; the rest wait for the next one.
MAX_MESSAGES_PER_COMMIT = 1000
# A second transaction starts only when this many messages wait behind the running one.
SECOND_COMMIT_BACKLOG = 12
# Failed transactions of several messages one isolation may split before it stops and answers
# the rest OVERLOADED (a retry goes into a new group commit): a failure that hits every
# transaction costs at most 1 + 2 * MAX_ISOLATION_SPLITS attempts. One faulty message among
# 1,000 in 30 studies takes about 11 splits (log2 of the studies, then of the study's messages).
MAX_ISOLATION_SPLITS = 32


class ChatWriter:
    def __init__(self) -> None:
        self._waiting: list[tuple[StudyBatch, asyncio.Future[list[WriteOutcome]]]] = []
        self._task: asyncio.Task[None] | None = None
        self._second: asyncio.Task[None] | None = None
        self._waiting_drafts = 0

    async def write(self, batch: StudyBatch) -> list[WriteOutcome]:
        """Commit a room's drafts (with other rooms' drafts); outcomes in draft order."""
        future: asyncio.Future[list[WriteOutcome]] = asyncio.get_running_loop().create_future()
        self._waiting.append((batch, future))
        self._waiting_drafts += len(batch.drafts)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._commit_while_waiting())
        elif self._second is None and self._waiting_drafts >= SECOND_COMMIT_BACKLOG:
            self._second = asyncio.get_running_loop().create_task(self._second_commit())
        return await future

    async def _second_commit(self) -> None:
        try:
            await self._commit_once()
        finally:
            self._second = None

    async def _commit_while_waiting(self) -> None:
        try:
            while self._waiting:
                await self._commit_once()
        finally:
            self._task = None

    async def _commit_once(self) -> None:
        taken = self._take()
        if not taken:
            return
        metrics.CHAT_BATCH_SIZE.observe(sum(len(b.drafts) for b, _ in taken))
        try:
            results = await write_isolating([batch for batch, _ in taken])
        except Exception as exc:
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcomes in zip(taken, results, strict=True):
            if not future.done():
                future.set_result(outcomes)

    @property
    def busy(self) -> bool:
        """A group commit is running (the batches that arrive now wait for the next one)."""
        return self._task is not None

    @property
    def waiting_batches(self) -> int:
        """Batches waiting for the next group commit."""
        return len(self._waiting)

    def _take(self) -> list[tuple[StudyBatch, asyncio.Future[list[WriteOutcome]]]]:
        taken: list[tuple[StudyBatch, asyncio.Future[list[WriteOutcome]]]] = []
        count = 0
        while self._waiting and (not taken or count + len(self._waiting[0][0].drafts)
                                 <= MAX_MESSAGES_PER_COMMIT):
            item = self._waiting.pop(0)
            taken.append(item)
            count += len(item[0].drafts)
        self._waiting_drafts -= count
        return taken


async def write_isolating(batches: list[StudyBatch]) -> list[list[WriteOutcome]]:
    """The group commit of `batches`, one list of outcomes per batch in draft order. When the
    transaction fails because of what it carries, the messages not at fault are still written
    and each message that failed alone is answered INTERNAL; when the database itself fails,
    this raises OVERLOADED for all of them."""
    try:
        return await write_message_batches(batches)
    except Exception as exc:
        failure = _database_failure(exc)
        if failure is exc:
            raise
        if failure is not None:
            log.warning("group commit of %d messages failed in the database (%r); answered "
                        "OVERLOADED", sum(len(b.drafts) for b in batches), exc)
            raise failure from exc
        log.warning("group commit of %d messages in %d studies failed (%r); writing it in parts",
                    sum(len(b.drafts) for b in batches), len(batches), exc)
        isolation = _Isolation(batches)
        await isolation.after_failure(isolation.everything(), exc)
        return isolation.outcomes()


# Part of a group commit: (index of a batch, indexes of some of its drafts), in draft order.
_Part = list[tuple[int, list[int]]]


class _Isolation:
    """Writes the parts of a failed group commit apart, halving each part that fails, depth
    first and left to right, so every room's messages keep their order."""

    def __init__(self, batches: list[StudyBatch]) -> None:
        self.batches = batches
        self.results: list[list[WriteOutcome | None]] = [[None] * len(b.drafts)
                                                         for b in batches]
        self.splits_left = MAX_ISOLATION_SPLITS
        # Set when isolation stops: the answer of every draft not written by then.
        self.stopped: ApiError | None = None

    def everything(self) -> _Part:
        return [(index, list(range(len(b.drafts)))) for index, b in enumerate(self.batches)]

    async def write(self, part: _Part) -> None:
        if self.stopped is not None:
            return
        try:
            results = await write_message_batches(self._batches_of(part))
        except Exception as exc:
            await self.after_failure(part, exc)
            return
        for (batch_index, draft_indexes), outcomes in zip(part, results, strict=True):
            for draft_index, outcome in zip(draft_indexes, outcomes, strict=True):
                self.results[batch_index][draft_index] = outcome

    async def after_failure(self, part: _Part, exc: Exception) -> None:
        failure = _database_failure(exc)
        if failure is not None:
            self.stopped = failure
            log.warning("isolating a failed group commit stopped: the database failed (%r)", exc)
        elif len(part) == 1 and len(part[0][1]) == 1:
            self._failed_alone(part[0][0], part[0][1][0], exc)
        elif self.splits_left == 0:
            log.error("isolating a failed group commit gave up after %d splits (%r); the "
                      "messages not yet written are answered OVERLOADED", MAX_ISOLATION_SPLITS,
                      exc)
            self.stopped = Overloaded()
        else:
            self.splits_left -= 1
            for half in _halves(part):
                await self.write(half)

    def _failed_alone(self, batch_index: int, draft_index: int, exc: Exception) -> None:
        """A message whose own transaction failed: the fault is its own."""
        batch = self.batches[batch_index]
        draft = batch.drafts[draft_index]
        log.error("chat message %s of user %s in study %s failed in the database on its own; "
                  "answered INTERNAL", draft.client_id, draft.user_id, batch.study_id,
                  exc_info=exc)
        self.results[batch_index][draft_index] = WriteOutcome(None, 0, False, ApiError("INTERNAL"))

    def outcomes(self) -> list[list[WriteOutcome]]:
        unwritten = WriteOutcome(None, 0, False, self.stopped or Overloaded())
        return [[outcome if outcome is not None else unwritten for outcome in row]
                for row in self.results]

    def _batches_of(self, part: _Part) -> list[StudyBatch]:
        return [StudyBatch(self.batches[batch_index].study_id,
                           [self.batches[batch_index].drafts[i] for i in draft_indexes],
                           self.batches[batch_index].online_user_ids)
                for batch_index, draft_indexes in part]


def _halves(part: _Part) -> tuple[_Part, _Part]:
    """Split by study while the part spans several, then by message."""
    if len(part) > 1:
        middle = len(part) // 2
        return part[:middle], part[middle:]
    (batch_index, draft_indexes), = part
    middle = len(draft_indexes) // 2
    return [(batch_index, draft_indexes[:middle])], [(batch_index, draft_indexes[middle:])]


def _database_failure(exc: Exception) -> ApiError | None:
    """The error for everyone when `exc` is the database failing rather than what a group
    commit carried (None then): a lost connection is already OVERLOADED (coup/store/db.py);
    the other operational errors (a lock timeout, a full disk, a cancelled statement) are
    answered the same way, since nothing was stored and a retry may succeed."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, peewee.OperationalError | peewee.InterfaceError):
        return Overloaded()
    return None
