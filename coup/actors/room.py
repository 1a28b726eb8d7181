"""RoomActor: one per active study on this node (ARCHITECTURE §2-§3, PROTOCOL §4-§8).

It holds the study's local sessions, local presence, the call, and the last seq it delivered.
Durable events reach it as EventsCommitted (from any writer on any node) and leave it in seq
order: an event that arrives early waits for the missing ones, which are fetched from the
database if they do not come within GAP_WAIT_SECONDS. Each event is encoded to its frame once
and the same bytes go to every session.

Chat messages are group-committed: messages that arrive while a write is in flight wait in
`_pending` and go out together in the next transaction, so the number of transactions per
second is bounded by the database's latency, not by the message rate.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict, deque
from typing import Any, Protocol

from coup import metrics, protocol
from coup.actors.call import Call
from coup.actors.chat_writer import ChatWriter
from coup.actors.messages import (
    CallCommand,
    CallParticipantGone,
    CheckHead,
    EventsCommitted,
    JoinRoom,
    LeaveRoom,
    Member,
    PostMessage,
    PresenceGone,
    RemoveFromRoom,
    RepairGap,
    RoomPush,
    SetTyping,
    StatusChanged,
    UserWentOffline,
)
from coup.actors.runtime import Actor, handles
from coup.bus.base import Bus
from coup.bus.messages import Relay, StudyPush
from coup.config import Settings
from coup.errors import ApiError, RateLimited
from coup.ratelimit import Limits
from coup.store import chat as chat_store
from coup.store import events as event_store
from coup.store import realtime_queries
from coup.store.chat_batch import StudyBatch
from coup.store.events import CommittedEvent

log = logging.getLogger(__name__)

# PROTOCOL §4: recovery returns at most this many missed events; beyond it recovered=false.
MAX_RECOVERY_EVENTS = 1000
# Recent event frames kept in memory for recovery without the database.
RECENT_EVENTS_KEPT = 1000
# How long an out-of-order event waits for the missing seqs before they are read from the db.
GAP_WAIT_SECONDS = 0.3
# PROTOCOL §6: a user who comes back within this time produces no offline/online pair.
RECONNECT_GRACE_SECONDS = 10.0
# PROTOCOL §5: at most one `is_typing: true` per user per study per this many seconds.
TYPING_THROTTLE_SECONDS = 3.0
# Client ids remembered per room so a quick retry is answered without touching the database.
RECENT_CLIENT_IDS_KEPT = 2048


class RoomHost(Protocol):
    """What a room needs of the node it runs on (the registry)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def bus(self) -> Bus: ...

    @property
    def limits(self) -> Limits: ...

    @property
    def chat_writer(self) -> ChatWriter: ...

    @property
    def draining(self) -> bool: ...

    def offline_after_grace(self, study_id: str, user_ids: list[str]) -> None:
        """A draining node reports these users offline only if they do not come back."""


class RoomActor(Actor):
    kind = "room"
    mailbox_size = 4096

    def __init__(self, host: RoomHost, study_id: str, resume_from_seq: int | None = None):
        self.host = host
        self.bus = host.bus
        self.study_id = study_id
        self.settings = host.settings
        self.sessions: dict[str, Member] = {}
        self.online: dict[str, int] = {}  # user id -> number of local sessions in the room
        self.users: dict[str, dict[str, Any]] = {}  # user id -> UserSummary
        self._offline_timers: dict[str, asyncio.TimerHandle] = {}
        self._typing_since: dict[str, float] = {}
        self.last_seq = 0
        self._resume_from_seq = resume_from_seq
        self._early: dict[int, CommittedEvent] = {}
        self._gap_timer: asyncio.TimerHandle | None = None
        # (seq, the event as encoded JSON): bytes, so 1,000 events per room add nothing for the
        # garbage collector to traverse (as dicts they made each full collection ~100 ms on a
        # busy node, bench scenario d).
        self._recent: deque[tuple[int, bytes]] = deque(maxlen=RECENT_EVENTS_KEPT)
        self._pending: list[PostMessage] = []
        self._flush_task: asyncio.Task[None] | None = None
        # (user id, client id) -> the message's seq. A retry is answered with the message in
        # _recent (already encoded once for delivery), or from the database when it is gone.
        self._client_ids: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._in_flight: dict[tuple[str, str], list[PostMessage]] = {}
        self.call = Call(study_id, self.settings, host.bus)
        self.idle_since = time.monotonic()

    def __repr__(self) -> str:
        return f"<RoomActor {self.study_id}>"

    @property
    def idle(self) -> bool:
        return not self.sessions and not self._pending and self._flush_task is None \
            and not self._early and not self._offline_timers and not self.ref.depth

    async def on_start(self) -> None:
        await self.bus.watch_study(self.study_id)
        latest = await realtime_queries.study_last_seq(self.study_id)
        if self._resume_from_seq is not None and self._resume_from_seq < latest:
            # A restarted room continues from where its predecessor stopped and fetches what
            # was committed in between, so re-attached sessions miss nothing.
            self.last_seq = self._resume_from_seq
            await self._fill_gap_from_database(latest)
        else:
            self.last_seq = latest

    async def on_stop(self) -> None:
        if self._gap_timer is not None:
            self._gap_timer.cancel()
        for timer in self._offline_timers.values():
            timer.cancel()
        if self._flush_task is not None:
            await asyncio.gather(self._flush_task, return_exceptions=True)
        draining = self.host.draining
        for session in list(self.sessions.values()):
            await self._detach(session, grace=draining)
        for timer in self._offline_timers.values():
            timer.cancel()
        leaving, self._offline_timers = list(self._offline_timers), {}
        if draining:
            # PROTOCOL §6 and §10: these users reconnect to another node within the grace
            # period; the registry reports offline only those who do not.
            self.host.offline_after_grace(self.study_id, leaving)
        else:
            for user_id in leaving:
                await self._went_offline(user_id)
        await self.bus.unwatch_study(self.study_id)

    # --- joining and leaving ------------------------------------------------------------------

    @handles(JoinRoom)
    async def on_join(self, message: JoinRoom) -> None:
        session, attempt = message.session, message.attempt
        try:
            await realtime_queries.check_room_access(self.study_id, session.user_id)
            if message.since is not None and message.since > self.last_seq:
                # The client saw events on a node that died before publishing them: catch
                # this room up from the database first, or they would reach it a second time.
                await self._fill_gap_from_database(
                    await realtime_queries.study_last_seq(self.study_id))
                self._deliver_ready()
            missed, recovered = await self._missed_since(message.since)
        except Exception as exc:
            if attempt.claim():
                session.reply_error(attempt.ref, exc)
            attempt.finish(joined=False)
            return
        if not attempt.claim():
            attempt.finish(joined=False)  # the session gave up waiting: leave no trace
            return
        try:
            announce, online = await self._seat(session, attempt.ref, missed, recovered)
        except Exception as exc:
            # Leave no trace and still answer the ref exactly once.
            log.exception("joining %s to room %s failed", session, self.study_id)
            await self._detach(session, grace=False)
            session.reply_error(attempt.ref, exc)
            attempt.finish(joined=False)
            return
        attempt.finish(joined=True)
        session.push_event("study:online-users", {"study_id": self.study_id, "users": online})
        if announce:
            metrics.PRESENCE_CHANGES.labels("online").inc()
            self._room_push("user:online", {"study_id": self.study_id, "user": session.user},
                            except_user=session.user_id)

    async def _seat(self, session: Member, ref: int | str | None,
                    missed: list[bytes],
                    recovered: bool) -> tuple[bool, list[dict[str, Any]]]:
        """Add a claimed join's session to the room and answer it; (announce online, online)."""
        user_id = session.user_id
        announce = False
        if session.session_id not in self.sessions:
            self.sessions[session.session_id] = session
            self.users[user_id] = session.user
            self.online[user_id] = self.online.get(user_id, 0) + 1
            if self.online[user_id] == 1:
                timer = self._offline_timers.pop(user_id, None)
                if timer is not None:
                    timer.cancel()  # back within the grace period: no offline/online pair
                else:
                    change = await self.bus.presence_join(self.study_id, session.user)
                    announce = change.became_online
        online = await self.online_users()
        if ref is not None:
            session.push(protocol.encode_reply_with_raw_list(ref, {
                "study_id": self.study_id, "seq": self.last_seq, "online": online,
                "call": await self.call.view(), "recovered": recovered,
            }, "missed", missed))
        return announce, online

    async def _missed_since(self, since: int | None) -> tuple[list[bytes], bool]:
        """The events after `since`, encoded, and whether they are all of them."""
        if since is None or since >= self.last_seq:
            return [], True
        if self.last_seq - since > MAX_RECOVERY_EVENTS:
            return [], False
        if self._recent and self._recent[0][0] <= since + 1:
            return [event for seq, event in self._recent if seq > since], True
        rows = await event_store.events_after(self.study_id, since, MAX_RECOVERY_EVENTS)
        missed = [protocol.encode({"event": e.type, "data": e.payload})
                  for e in rows if e.seq <= self.last_seq]
        return missed, True

    @handles(LeaveRoom)
    async def on_leave(self, message: LeaveRoom) -> None:
        await self._detach(message.session, grace=True)

    async def _detach(self, session: Member, *, grace: bool) -> None:
        if self.sessions.pop(session.session_id, None) is None:
            return
        if await self.call.leave(session):
            self._call_left(session.session_id, session.user_id)
        user_id = session.user_id
        remaining = self.online.get(user_id, 1) - 1
        if remaining > 0:
            self.online[user_id] = remaining
            return
        self.online.pop(user_id, None)
        if not self.sessions:
            self.idle_since = time.monotonic()
        if grace:
            loop = asyncio.get_running_loop()
            self._offline_timers[user_id] = loop.call_later(
                RECONNECT_GRACE_SECONDS, self.ref.tell_system, UserWentOffline(user_id))
        else:
            await self._went_offline(user_id)

    @handles(UserWentOffline)
    async def on_user_went_offline(self, message: UserWentOffline) -> None:
        if self._offline_timers.pop(message.user_id, None) is None:
            return  # the user came back within the grace period
        if message.user_id not in self.online:
            await self._went_offline(message.user_id)
        if not self.sessions:
            self.idle_since = time.monotonic()

    async def _went_offline(self, user_id: str) -> None:
        if (await self.bus.presence_leave(self.study_id, user_id)).became_offline:
            metrics.PRESENCE_CHANGES.labels("offline").inc()
            self._room_push("user:offline", {"study_id": self.study_id, "user_id": user_id})

    @handles(PresenceGone)
    def on_presence_gone(self, message: PresenceGone) -> None:
        """Users whose node died, reported once by the node that cleaned up after it."""
        for user_id in message.user_ids:
            if user_id not in self.online:
                metrics.PRESENCE_CHANGES.labels("offline").inc()
                self._push_local("user:offline", {"study_id": self.study_id,
                                                  "user_id": user_id})

    async def online_users(self) -> list[dict[str, Any]]:
        users = await self.bus.online_users(self.study_id)
        for user_id in self.online:  # this node's own view wins while the bus catches up
            users.setdefault(user_id, self.users[user_id])
        return list(users.values())

    @handles(RemoveFromRoom)
    async def on_remove(self, message: RemoveFromRoom) -> None:
        """Kick, leave or deletion: the sessions get study:removed and nothing more (§9.3)."""
        removed = [s for s in self.sessions.values()
                   if message.user_id is None or s.user_id == message.user_id]
        frame = protocol.encode_push("study:removed", {"study_id": self.study_id,
                                                       "reason": message.reason})
        for session in removed:
            session.push(frame)
            await self._detach(session, grace=False)
            session.removed_from_room(self.study_id)

    # --- durable events -----------------------------------------------------------------------

    @handles(EventsCommitted)
    def on_events(self, message: EventsCommitted) -> None:
        for event in message.events:
            if event.seq > self.last_seq:
                self._early[event.seq] = event
        self._deliver_ready()

    def _deliver_ready(self) -> None:
        ready: list[CommittedEvent] = []
        next_seq = self.last_seq + 1
        while (event := self._early.pop(next_seq, None)) is not None:
            ready.append(event)
            next_seq += 1
        if ready:
            self._deliver(ready)
        if self._early and self._gap_timer is None:
            self._gap_timer = asyncio.get_running_loop().call_later(
                GAP_WAIT_SECONDS, self.ref.tell_system, RepairGap(self.last_seq + 1))
        elif not self._early and self._gap_timer is not None:
            self._gap_timer.cancel()
            self._gap_timer = None

    def _deliver(self, events: list[CommittedEvent]) -> None:
        """Events in seq order to every session: each frame encoded once, and the frames of a
        group commit written together, so a socket gets one write per commit rather than one
        per message (bench scenario b: the write, not the encoding, is the cost per delivery)."""
        frames = []
        for event in events:
            body = protocol.encode({"event": event.type, "data": event.payload})
            self._recent.append((event.seq, body))
            frames.append(protocol.ws_frame(body))
        self.last_seq = events[-1].seq
        data = frames[0] if len(frames) == 1 else b"".join(frames)
        for session in self.sessions.values():
            try:
                session.push(data, frames=len(frames))
            except Exception:  # one broken socket must not cost the others these events
                log.exception("delivering seqs %d-%d to %s failed", events[0].seq,
                              events[-1].seq, session)
        metrics.WS_FANOUT_DELIVERIES.inc(len(self.sessions) * len(frames))
        now = time.time()
        for event in events:
            if event.committed_at:
                metrics.EVENT_PUBLISH_SECONDS.observe(max(0.0, now - event.committed_at))

    @handles(RepairGap)
    async def on_repair_gap(self, message: RepairGap) -> None:
        self._gap_timer = None
        if self.last_seq + 1 != message.expected_seq or not self._early:
            self._deliver_ready()
            return
        await self._fill_gap_from_database(min(self._early) - 1)
        self._deliver_ready()

    @handles(CheckHead)
    async def on_check_head(self, message: CheckHead) -> None:
        latest = await realtime_queries.study_last_seq(self.study_id)
        if latest > self.last_seq:
            await self._fill_gap_from_database(latest)
            self._deliver_ready()

    async def _fill_gap_from_database(self, upto_seq: int) -> None:
        missing = await event_store.events_after(self.study_id, self.last_seq,
                                                 upto_seq - self.last_seq)
        if missing:
            metrics.GAP_REPAIRS.inc()
            log.info("room %s filled seqs %d-%d from the database", self.study_id,
                     missing[0].seq, missing[-1].seq)
        for event in missing:
            if event.seq > self.last_seq:
                self._early[event.seq] = event
        self._deliver_ready()

    # --- chat ---------------------------------------------------------------------------------

    @handles(PostMessage)
    async def on_post(self, message: PostMessage) -> None:
        draft = message.draft
        key = (draft.user_id, draft.client_id)
        known_seq = self._client_ids.get(key)
        if known_seq is not None:
            # An idempotent retry: answered with the original, not counted by the rate limit.
            original = self._recent_message(known_seq)
            outcome = (chat_store.WriteOutcome(original, known_seq, False) if original is not None
                       else await chat_store.find_by_client_id(self.study_id, draft.user_id,
                                                               draft.client_id))
            if outcome is not None:
                message.reply(outcome, None)
                return
        waiting = self._in_flight.get(key)
        if waiting is not None:  # a retry of a message still being written
            waiting.append(message)
            return
        # Shared by REST and WebSocket on every node (COUP.md §7.7).
        wait = await self.host.limits.chat.hit(f"{self.study_id}:{draft.user_id}")
        if wait:
            # Idempotency comes before the rate limit (COUP.md §7.7): a retry of a message
            # this room no longer remembers is answered from the database, not refused.
            stored = await chat_store.find_by_client_id(self.study_id, draft.user_id,
                                                         draft.client_id)
            if stored is not None:
                message.reply(stored, None)
            else:
                message.reply(None, RateLimited(wait))
            return
        self._in_flight[key] = []
        self._pending.append(message)
        if self._flush_task is None:
            self._flush_task = asyncio.get_running_loop().create_task(self._flush())

    def _recent_message(self, seq: int) -> dict[str, Any] | None:
        """The message of chat event `seq` while it is among the recent events (they are
        consecutive, so its place follows from the first one's seq)."""
        index = seq - self._recent[0][0] if self._recent else -1
        if not 0 <= index < len(self._recent) or self._recent[index][0] != seq:
            return None
        return protocol.decode(self._recent[index][1])["data"]["message"]

    def on_dropped(self, message: Any) -> None:
        """A post still queued when the room stops is answered, never left hanging."""
        if isinstance(message, PostMessage):
            message.reply(None, ApiError("OVERLOADED", message="the room restarted; retry"))

    async def _flush(self) -> None:
        """The group-commit loop; part of this actor, it only writes to its own pending list,
        the client-id cache and the senders' outbound queues."""
        try:
            while self._pending:
                posts, self._pending = self._pending, []
                # Users with a session in the room on any node (the CHAT notification rule).
                online = frozenset(self.online) | frozenset(
                    await self.bus.online_users(self.study_id))
                try:
                    outcomes = await self.host.chat_writer.write(
                        StudyBatch(self.study_id, [p.draft for p in posts], online))
                except Exception as exc:
                    if not isinstance(exc, ApiError):
                        log.exception("group commit of %d messages failed in %s", len(posts),
                                      self.study_id)
                    for post in posts:
                        self._answer(post, None, exc)
                    continue
                now = time.perf_counter()
                for post, outcome in zip(posts, outcomes, strict=True):
                    if outcome.error is not None:
                        self._answer(post, None, outcome.error)
                        continue
                    self._remember(post, outcome)
                    metrics.CHAT_ACK_SECONDS.observe(now - post.received_at)
                    self._answer(post, outcome, None)
        finally:
            self._flush_task = None

    def _answer(self, post: PostMessage, outcome: Any, error: BaseException | None) -> None:
        """Reply to a post and to the retries of it that arrived while it was written; one
        failing reply (a closed socket) never keeps the others from theirs."""
        retries = self._in_flight.pop((post.draft.user_id, post.draft.client_id), [])
        replay = dataclasses.replace(outcome, created=False) if outcome is not None else None
        for target, answer in [(post, outcome), *((retry, replay) for retry in retries)]:
            try:
                target.reply(answer, error)
            except Exception:
                log.exception("answering a chat post in room %s failed", self.study_id)

    def _remember(self, post: PostMessage, outcome: Any) -> None:
        self._client_ids[(post.draft.user_id, post.draft.client_id)] = outcome.seq
        while len(self._client_ids) > RECENT_CLIENT_IDS_KEPT:
            self._client_ids.popitem(last=False)

    @handles(SetTyping)
    def on_typing(self, message: SetTyping) -> None:
        session = message.session
        if session.session_id not in self.sessions:
            return
        now = time.monotonic()
        if message.is_typing:
            if now - self._typing_since.get(session.user_id, -1e9) < TYPING_THROTTLE_SECONDS:
                return
            self._typing_since[session.user_id] = now
        else:
            self._typing_since.pop(session.user_id, None)
        self._room_push("chat:user-typing", {"study_id": self.study_id, "user": session.user,
                                             "is_typing": message.is_typing},
                        except_user=session.user_id, droppable=True)

    @handles(RoomPush)
    def on_room_push(self, message: RoomPush) -> None:
        """A push from this room on another node, or one the registry asked for."""
        self._push_local(message.event, message.data, except_user=message.except_user,
                         except_session=message.except_session, call_only=message.call_only,
                         droppable=message.droppable)

    @handles(StatusChanged)
    def on_status(self, message: StatusChanged) -> None:
        self._room_push("presence:user-status-changed",
                        {"user_id": message.user_id, "status": message.status})

    def _room_push(self, event: str, data: dict[str, Any], *, except_user: str | None = None,
                   except_session: str | None = None, call_only: bool = False,
                   droppable: bool = False) -> None:
        """A non-durable push to this room's sessions on every node."""
        self._push_local(event, data, except_user=except_user, except_session=except_session,
                         call_only=call_only, droppable=droppable)
        self.bus.publish_study(self.study_id, StudyPush(
            self.study_id, event, data, except_user, except_session, call_only, droppable))

    def _push_local(self, event: str, data: dict[str, Any], *, except_user: str | None = None,
                    except_session: str | None = None, call_only: bool = False,
                    droppable: bool = False) -> None:
        frame = protocol.encode_push(event, data)
        targets = self.call.local if call_only else self.sessions
        for session_id, session in targets.items():
            if session_id != except_session and session.user_id != except_user:
                session.push(frame, droppable)

    # --- video call ---------------------------------------------------------------------------

    @handles(CallCommand)
    async def on_call(self, message: CallCommand) -> None:
        session, event, data = message.session, message.event, message.data
        try:
            if session.session_id not in self.sessions:
                raise ApiError("FORBIDDEN", message="join the study's room first")
            result = await self._call_command(session, event, data)
        except ApiError as exc:
            session.reply_error(message.ref, exc)
            return
        except Exception as exc:
            # Every frame with a ref gets one reply (PROTOCOL §2), even when a call command
            # fails unexpectedly; the session renders it as INTERNAL and counts it.
            log.exception("call command %s failed in study %s", event, self.study_id)
            session.reply_error(message.ref, exc)
            return
        session.reply(message.ref, result)

    async def _call_command(self, session: Member, event: str,
                            data: dict[str, Any]) -> dict[str, Any]:
        if event == "video:join-room":
            reply, is_new = await self.call.join(session)
            if is_new:
                self._room_push("video:user-joined", {
                    "study_id": self.study_id, "session_id": session.session_id,
                    "user": session.user}, except_session=session.session_id, call_only=True)
            return reply
        if event == "video:leave-room":
            if await self.call.leave(session):
                self._call_left(session.session_id, session.user_id)
            return {}
        if event in ("video:offer", "video:answer", "video:ice-candidate"):
            target, node, payload = await self.call.relay_target(session, event, data)
            if target in self.call.local:
                self.call.local[target].push_event(event, payload)
            else:
                self.bus.publish_node(node, Relay(target, event, payload))
            return {}
        if event == "chat:video-message":
            await realtime_queries.check_not_restricted(session.user_id, "MESSAGE")
            await self.call.participant(session)
            self._room_push("chat:video-message-received", self.call.chat_payload(session, data),
                            call_only=True)
            return {}
        state = await self.call.set_state(session, event, data)
        self._room_push("video:peer-state", state, except_session=session.session_id,
                        call_only=True)
        return {}

    def _call_left(self, session_id: str, user_id: str | None) -> None:
        self._room_push("video:user-left", {"study_id": self.study_id, "session_id": session_id,
                                            "user_id": user_id}, call_only=True)

    @handles(CallParticipantGone)
    def on_call_participant_gone(self, message: CallParticipantGone) -> None:
        self._push_local("video:user-left", {"study_id": self.study_id,
                                             "session_id": message.session_id,
                                             "user_id": message.user_id}, call_only=True)
