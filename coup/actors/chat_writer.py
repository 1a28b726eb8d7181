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
"""

from __future__ import annotations

import asyncio
import logging

from coup import metrics
from coup.store.chat import WriteOutcome
from coup.store.chat_batch import StudyBatch, write_message_batches

log = logging.getLogger(__name__)

# Messages per transaction at most; the rest wait for the next one.
MAX_MESSAGES_PER_COMMIT = 1000
# A second transaction starts only when this many messages wait behind the running one.
SECOND_COMMIT_BACKLOG = 12


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
            results = await write_message_batches([batch for batch, _ in taken])
        except Exception as exc:
            for _, future in taken:
                if not future.done():
                    future.set_exception(exc)
            return
        for (_, future), outcomes in zip(taken, results, strict=True):
            if not future.done():
                future.set_result(outcomes)

    def _take(self) -> list[tuple[StudyBatch, asyncio.Future[list[WriteOutcome]]]]:
        taken, count = [], 0
        while self._waiting and (not taken or count + len(self._waiting[0][0].drafts)
                                 <= MAX_MESSAGES_PER_COMMIT):
            item = self._waiting.pop(0)
            taken.append(item)
            count += len(item[0].drafts)
        self._waiting_drafts -= count
        return taken
