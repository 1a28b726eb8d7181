"""The per-node registry: who is connected here and which rooms are active (ARCHITECTURE §2).

Node-local state lives in these few maps, each with named add/get/remove functions:

- `rooms`: study id -> RoomActor ref, activated on the first join or chat post, passivated by
  the GC after ROOM_IDLE_SECONDS without sessions or work;
- `sessions`: connection id -> SessionActor;
- `user_sessions`: user id -> that user's SessionActors here (per-user pushes, limits);
- `login_sessions`: login session id -> the SessionActors it authenticated (revocation).

It is also where committed effects from the store arrive on this node and are routed: events
and removals to rooms, notifications to users, revocations to sockets.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from coup import metrics, protocol
from coup.actors.messages import Broadcast, EventsCommitted, RemoveFromRoom
from coup.actors.room import RoomActor
from coup.actors.runtime import ActorRef, start_actor, stop_actor
from coup.ratelimit import SlidingWindowLimiter
from coup.store.events import Effects
from coup.store.notifications import unread_count

if TYPE_CHECKING:
    from coup.actors.session import SessionActor
    from coup.config import Settings
    from coup.store.chat import CursorMove

log = logging.getLogger(__name__)

# A room with no sessions and no work for this long is stopped; it restarts on the next join.
ROOM_IDLE_SECONDS = 60.0
# How often the GC looks for idle rooms and dead sessions.
GC_INTERVAL_SECONDS = 30.0


class Registry:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rooms: dict[str, ActorRef] = {}
        self.sessions: dict[str, SessionActor] = {}
        self.user_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        self.login_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        # Shared by REST and WebSocket chat (COUP.md §7.7): one budget per user and study.
        self.chat_limiter = SlidingWindowLimiter(settings.chat_rate.count,
                                                 settings.chat_rate.window_seconds)
        self._passivating: set[str] = set()
        self.draining = False
        self._gc_task: asyncio.Task[None] | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        self._gc_task = asyncio.get_running_loop().create_task(self._gc_forever())

    async def drain(self, timeout: float) -> None:
        """PROTOCOL §10: finish queued frames, flush every room's pending chat to the
        database (acknowledging it), then close every socket with 1001."""
        deadline = time.monotonic() + timeout
        self.draining = True
        while any(s.ref.depth for s in self.sessions.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)
        for session in list(self.sessions.values()):
            session.close(protocol.WS_1001_GOING_AWAY, "server shutting down")
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self.stop()

    async def stop(self) -> None:
        if self._gc_task is not None:
            self._gc_task.cancel()
            await asyncio.gather(self._gc_task, return_exceptions=True)
        for session in list(self.sessions.values()):
            await stop_actor(session.ref)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)

    # --- rooms --------------------------------------------------------------------------------

    async def room_for(self, study_id: str) -> ActorRef:
        """The study's RoomActor on this node, started on demand."""
        room = self.rooms.get(study_id)
        if room is not None and room.alive:
            return room
        return self._start_room(study_id, None)

    def active_room(self, study_id: str) -> ActorRef | None:
        room = self.rooms.get(study_id)
        return room if room is not None and room.alive else None

    def _start_room(self, study_id: str, resume_from_seq: int | None) -> ActorRef:
        room = start_actor(RoomActor(self, study_id, resume_from_seq))
        self.rooms[study_id] = room
        metrics.ACTIVE_ROOMS.set(len(self.rooms))
        room.stopped.add_done_callback(lambda _: self._room_stopped(study_id, room))
        return room

    def _room_stopped(self, study_id: str, room: ActorRef) -> None:
        if self.rooms.get(study_id) is room:
            del self.rooms[study_id]
            metrics.ACTIVE_ROOMS.set(len(self.rooms))
        if study_id in self._passivating:
            return
        # Supervision: a room that stopped on its own lost its state; its sessions are told to
        # join again with `since`, which recovers every event they have not seen.
        actor: RoomActor = room.actor  # type: ignore[assignment]
        if actor.sessions:
            log.warning("room %s stopped unexpectedly; %d sessions told to rejoin", study_id,
                        len(actor.sessions))
        frame = protocol.encode_push("study:rejoin", {"study_id": study_id,
                                                      "seq": actor.last_seq})
        from coup.actors.session import RoomRemoved

        for session in actor.sessions.values():
            session.push(frame)
            session.ref.tell_system(RoomRemoved(study_id))

    async def _stop_room(self, study_id: str) -> None:
        room = self.rooms.get(study_id)
        if room is None:
            return
        self._passivating.add(study_id)
        try:
            await stop_actor(room)
        finally:
            self._passivating.discard(study_id)

    def rooms_of_user(self, user_id: str) -> list[ActorRef]:
        rooms: dict[str, ActorRef] = {}
        for session in self.user_sessions.get(user_id, ()):
            rooms.update(session.rooms)
        return list(rooms.values())

    # --- sessions -----------------------------------------------------------------------------

    def add_session(self, session: SessionActor) -> None:
        self.sessions[session.session_id] = session
        mine = self.user_sessions[session.user_id]
        mine.add(session)
        self.login_sessions[session.login_session_id].add(session)
        metrics.WS_CONNECTIONS.set(len(self.sessions))
        limit = self.settings.ws_max_sessions_per_user
        if len(mine) > limit:
            # PROTOCOL §9: the oldest connections make room for the new one.
            for old in sorted(mine, key=lambda s: s.connected_at)[: len(mine) - limit]:
                old.close(protocol.WS_1008_POLICY_VIOLATION, "too many connections")

    def remove_session(self, session: SessionActor) -> None:
        self.sessions.pop(session.session_id, None)
        _discard(self.user_sessions, session.user_id, session)
        _discard(self.login_sessions, session.login_session_id, session)
        metrics.WS_CONNECTIONS.set(len(self.sessions))

    def close_login_sessions(self, login_session_ids: Iterable[str], reason: str) -> int:
        """Close every connection of the revoked login sessions with 1008 (COUP.md §5.1)."""
        closed = 0
        for login_session_id in login_session_ids:
            for session in list(self.login_sessions.get(login_session_id, ())):
                session.close(protocol.WS_1008_POLICY_VIOLATION, f"session revoked: {reason}")
                closed += 1
        return closed

    def close_user(self, user_id: str, reason: str) -> None:
        for session in list(self.user_sessions.get(user_id, ())):
            session.close(protocol.WS_1008_POLICY_VIOLATION, reason)

    # --- presence -----------------------------------------------------------------------------

    def online_in_study(self, study_id: str, local_online: dict[str, int]) -> set[str]:
        """Users with a session in the study's room; the bus widens this to the cluster."""
        return set(local_online)

    def presence_changed(self, study_id: str) -> None:
        """Hook for the cluster bus: this node's online set for the study changed."""

    # --- routing committed effects ------------------------------------------------------------

    async def deliver_effects(self, effects: Effects) -> None:
        """Committed events to their rooms (in seq order), then notifications, then removals."""
        by_study: dict[str, list[Any]] = defaultdict(list)
        for event in effects.events:
            by_study[event.study_id].append(event)
        for study_id, events in by_study.items():
            room = self.active_room(study_id)
            if room is not None:
                room.tell_system(EventsCommitted(events))
        for push in effects.notifications:
            self.push_to_user(push.user_id, "notification:new", {"notification": push.notification})
        for removal in effects.removals:
            room = self.active_room(removal.study_id)
            if room is not None:
                room.tell_system(RemoveFromRoom(removal.user_id, removal.reason))

    def push_to_user(self, user_id: str, event: str, data: Any,
                     except_session: SessionActor | None = None) -> None:
        sessions = self.user_sessions.get(user_id)
        if not sessions:
            return
        frame = protocol.encode_push(event, data)
        for session in sessions:
            if session is not except_session:
                session.push(frame)

    def push_unread_count(self, user_id: str, unread: int,
                          except_session: SessionActor | None = None) -> None:
        self.push_to_user(user_id, "notification:unread-count", {"unread": unread},
                          except_session)

    async def after_cursor_move(self, room: ActorRef | None, study_id: str, user_id: str,
                                moved: CursorMove) -> None:
        """chat:message-read to the room when the cursor moved; unread count when the CHAT
        notification was marked read (COUP.md §7.7, §8.2)."""
        if moved.moved:
            room = room or self.active_room(study_id)
            if room is not None:
                room.tell_system(Broadcast("chat:message-read", {
                    "study_id": study_id, "user_id": user_id, "seq": moved.last_read_seq}))
        if moved.chat_notification_read:
            self.push_unread_count(user_id, await unread_count(user_id))

    # --- garbage collection -------------------------------------------------------------------

    async def _gc_forever(self) -> None:
        while True:
            await asyncio.sleep(GC_INTERVAL_SECONDS)
            try:
                await self.collect_garbage()
            except Exception:
                log.exception("registry GC failed")

    async def collect_garbage(self, idle_seconds: float = ROOM_IDLE_SECONDS) -> list[str]:
        """Stop idle rooms and forget dead sessions; logs what it removed and how long it took."""
        started = time.perf_counter()
        now = time.monotonic()
        idle = [study_id for study_id, room in self.rooms.items()
                if room.actor.idle and now - room.actor.idle_since >= idle_seconds]  # type: ignore[attr-defined]
        for study_id in idle:
            await self._stop_room(study_id)
        dead = [s for s in self.sessions.values() if not s.ref.alive]
        for session in dead:
            self.remove_session(session)
        depth = max((room.depth for room in self.rooms.values()), default=0)
        metrics.MAILBOX_DEPTH.labels("room").set(depth)
        if idle or dead:
            log.info("registry GC: %d idle rooms stopped, %d dead sessions removed in %.1f ms",
                     len(idle), len(dead), 1000 * (time.perf_counter() - started))
        return idle


def _discard(index: dict[str, set[Any]], key: str, value: Any) -> None:
    values = index.get(key)
    if values is not None:
        values.discard(value)
        if not values:
            del index[key]
