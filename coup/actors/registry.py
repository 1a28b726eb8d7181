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
from coup.actors.chat_writer import ChatWriter
from coup.actors.heartbeat import Heartbeat
from coup.actors.messages import (
    CallParticipantGone,
    CheckHead,
    EventsCommitted,
    PresenceGone,
    RemoveFromRoom,
    RoomPush,
)
from coup.actors.room import RECONNECT_GRACE_SECONDS, RoomActor
from coup.actors.runtime import ActorRef, start_actor, stop_actor
from coup.bus.base import Bus, BusMessage
from coup.ratelimit import SlidingWindowLimiter
from coup.store.events import CommittedEvent, Effects
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
    def __init__(self, settings: Settings, bus: Bus) -> None:
        self.settings = settings
        self.bus = bus
        self.rooms: dict[str, ActorRef] = {}
        self.sessions: dict[str, SessionActor] = {}
        self.user_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        self.login_sessions: dict[str, set[SessionActor]] = defaultdict(set)
        # Shared by REST and WebSocket chat (COUP.md §7.7): one budget per user and study.
        self.chat_limiter = SlidingWindowLimiter(settings.chat_rate.count,
                                                 settings.chat_rate.window_seconds)
        self.chat_writer = ChatWriter()
        self._passivating: set[str] = set()
        self._background: set[asyncio.Task[Any]] = set()
        self.settings_listeners: list[Any] = []
        self.draining = False
        self._gc_task: asyncio.Task[None] | None = None
        self.heartbeat = Heartbeat(settings.ws_heartbeat_ms / 1000,
                                   lambda: (s.connection for s in self.sessions.values()))
        # (study, user) whose presence a draining node leaves until the grace period ends.
        self._offline_after_grace: list[tuple[str, str]] = []

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        self._gc_task = asyncio.get_running_loop().create_task(self._gc_forever())
        self.heartbeat.start()
        await self.bus.start(self.on_bus_message, self.on_bus_reconnected)
        if hasattr(self.bus, "on_node_dead"):
            self.bus.on_node_dead = self.on_node_dead

    async def drain(self, timeout: float) -> None:
        """PROTOCOL §10: finish queued frames, flush every room's pending chat to the
        database (acknowledging it), then close every socket with 1001."""
        started = time.monotonic()
        deadline = started + timeout
        self.draining = True
        while any(s.ref.depth for s in self.sessions.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)
        for session in list(self.sessions.values()):
            session.close(protocol.WS_1001_GOING_AWAY, "server shutting down")
        while self.sessions and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        await self._report_offline_after_grace(min(deadline, started + RECONNECT_GRACE_SECONDS))
        await self.stop()

    def offline_after_grace(self, study_id: str, user_ids: list[str]) -> None:
        self._offline_after_grace.extend((study_id, user_id) for user_id in user_ids)

    async def _report_offline_after_grace(self, until: float) -> None:
        """The users of a drained node who did not come back on another node go offline."""
        if not self._offline_after_grace:
            return
        await asyncio.sleep(max(0.0, until - time.monotonic()))
        for study_id, user_id in self._offline_after_grace:
            if (await self.bus.presence_leave(study_id, user_id)).became_offline:
                metrics.PRESENCE_CHANGES.labels("offline").inc()
                self.bus.publish_study(study_id, {
                    "t": "push", "study_id": study_id, "event": "user:offline",
                    "data": {"study_id": study_id, "user_id": user_id}})
        self._offline_after_grace.clear()

    async def stop(self) -> None:
        await self.heartbeat.stop()
        if self._gc_task is not None:
            self._gc_task.cancel()
            await asyncio.gather(self._gc_task, return_exceptions=True)
        for session in list(self.sessions.values()):
            await stop_actor(session.ref)
        for study_id in list(self.rooms):
            await self._stop_room(study_id)
        await self.bus.stop()

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
        if not mine:
            self._spawn(self.bus.watch_user(session.user_id))
        mine.add(session)
        self.login_sessions[session.login_session_id].add(session)
        metrics.WS_CONNECTIONS.set(len(self.sessions))
        self._spawn(self._enforce_connection_limit(session))

    async def _enforce_connection_limit(self, session: SessionActor) -> None:
        """PROTOCOL §9: a user's oldest connections, on any node, make room for the new one."""
        excess = await self.bus.connection_opened(session.user_id, session.session_id,
                                                  self.settings.ws_max_sessions_per_user)
        for node_id, session_id in excess:
            if node_id == self.bus.node_id:
                self._close_session(session.user_id, session_id, "too many connections")
            else:
                self.bus.publish_node(node_id, {"t": "close_session", "session_id": session_id,
                                                "user_id": session.user_id,
                                                "reason": "too many connections"})

    def _close_session(self, user_id: str, session_id: str, reason: str) -> None:
        old = self.sessions.get(session_id)
        if old is not None:
            old.close(protocol.WS_1008_POLICY_VIOLATION, reason)
        else:  # already gone: forget its stale entry in the count
            self._spawn(self.bus.connection_closed(user_id, session_id))

    def remove_session(self, session: SessionActor) -> None:
        self.sessions.pop(session.session_id, None)
        _discard(self.user_sessions, session.user_id, session)
        if session.user_id not in self.user_sessions:
            self._spawn(self.bus.unwatch_user(session.user_id))
        self._spawn(self.bus.connection_closed(session.user_id, session.session_id))
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

    async def online_in_study(self, study_id: str, local_online: dict[str, int]) -> set[str]:
        """Users with a session in the study's room on any node (CHAT notification rule)."""
        return set(local_online) | set(await self.bus.online_users(study_id))

    async def hit_chat_rate(self, user_id: str, study_id: str) -> float:
        """The chat budget of a user in a study, shared by REST and WebSocket on every node."""
        rate = self.settings.chat_rate
        if self.bus.kind == "MemoryBus":
            return self.chat_limiter.hit(f"{user_id}:{study_id}")
        return await self.bus.hit_rate(f"chat:{study_id}:{user_id}", rate.count,
                                       rate.window_seconds)

    # --- routing committed effects ------------------------------------------------------------

    async def deliver_effects(self, effects: Effects) -> None:
        """Committed events to their rooms (in seq order), then notifications, then removals."""
        by_study: dict[str, list[Any]] = defaultdict(list)
        for event in effects.events:
            by_study[event.study_id].append(event)
        for study_id, events in by_study.items():
            self._events_to_room(study_id, events)
            self.bus.publish_study(study_id, {
                "t": "events", "study_id": study_id,
                "events": [[e.seq, e.type, e.payload, e.committed_at] for e in events]})
        for push in effects.notifications:
            self.push_to_user(push.user_id, "notification:new", {"notification": push.notification})
            self.bus.publish_user(push.user_id, {"t": "user_push", "user_id": push.user_id,
                                                 "event": "notification:new",
                                                 "data": {"notification": push.notification}})
        for removal in effects.removals:
            self._remove_from_room(removal.study_id, removal.user_id, removal.reason)
            self.bus.publish_study(removal.study_id, {
                "t": "remove", "study_id": removal.study_id, "user_id": removal.user_id,
                "reason": removal.reason})

    def _events_to_room(self, study_id: str, events: list[CommittedEvent]) -> None:
        room = self.active_room(study_id)
        if room is not None:
            room.tell_system(EventsCommitted(events))

    def _remove_from_room(self, study_id: str, user_id: str | None, reason: str) -> None:
        room = self.active_room(study_id)
        if room is not None:
            room.tell_system(RemoveFromRoom(user_id, reason))

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
        self.bus.publish_user(user_id, {"t": "user_push", "user_id": user_id,
                                        "event": "notification:unread-count",
                                        "data": {"unread": unread}})

    def revoke_everywhere(self, login_session_ids: list[str], reason: str) -> None:
        """Close the revoked sessions' sockets here and on every other node (within 1 s)."""
        self.close_login_sessions(login_session_ids, reason)
        self.bus.publish_all({"t": "revoke", "sessions": login_session_ids, "reason": reason})

    async def after_cursor_move(self, room: ActorRef | None, study_id: str, user_id: str,
                                moved: CursorMove) -> None:
        """chat:message-read to the room when the cursor moved; unread count when the CHAT
        notification was marked read (COUP.md §7.7, §8.2)."""
        if moved.moved:
            data = {"study_id": study_id, "user_id": user_id, "seq": moved.last_read_seq}
            room = room or self.active_room(study_id)
            if room is not None:
                room.tell_system(RoomPush("chat:message-read", data))
            self.bus.publish_study(study_id, {"t": "push", "study_id": study_id,
                                              "event": "chat:message-read", "data": data})
        if moved.chat_notification_read:
            self.push_unread_count(user_id, await unread_count(user_id))

    # --- messages from other nodes --------------------------------------------------------------

    def on_bus_message(self, message: BusMessage) -> None:
        kind = message.get("t")
        if kind == "events":
            events = [CommittedEvent(message["study_id"], seq, event_type, payload, committed)
                      for seq, event_type, payload, committed in message["events"]]
            self._events_to_room(message["study_id"], events)
        elif kind == "push":
            room = self.active_room(message["study_id"])
            if room is not None:
                room.tell_system(RoomPush(message["event"], message["data"],
                                          message.get("except_user"),
                                          message.get("except_session"),
                                          bool(message.get("call_only")),
                                          bool(message.get("droppable"))))
        elif kind == "remove":
            self._remove_from_room(message["study_id"], message.get("user_id"), message["reason"])
        elif kind == "user_push":
            self.push_to_user(message["user_id"], message["event"], message["data"])
        elif kind == "revoke":
            self.close_login_sessions(message["sessions"], message["reason"])
        elif kind == "close_session":
            self._close_session(message["user_id"], message["session_id"],
                                message.get("reason", ""))
        elif kind == "relay":
            session = self.sessions.get(message["session_id"])
            if session is not None:
                session.push_event(message["event"], message["data"])
        elif kind == "presence":
            self.on_node_dead([(message["study_id"], message["user_id"])], [], publish=False)
        elif kind == "call_left":
            self.on_node_dead([], [(message["study_id"], message["session_id"],
                                    {"user": {"id": message.get("user_id")}})], publish=False)
        elif kind == "check_heads":
            self.on_bus_reconnected()
        elif kind == "settings":
            for listener in self.settings_listeners:
                listener()
        else:
            log.warning("unknown bus message type %r", kind)

    def on_bus_reconnected(self) -> None:
        """After a bus outage every room compares its seq with the database (gap repair)."""
        for room in self.rooms.values():
            room.tell_system(CheckHead())

    def on_node_dead(self, offline: list[tuple[str, str]],
                     calls: list[tuple[str, str, dict[str, Any]]], *,
                     publish: bool = True) -> None:
        """A node died: its users went offline and its call participants left; rooms here
        also re-check their seq, in case the dead node committed events it never published."""
        by_study: dict[str, list[str]] = defaultdict(list)
        for study_id, user_id in offline:
            by_study[study_id].append(user_id)
            if publish:
                self.bus.publish_study(study_id, {"t": "presence", "study_id": study_id,
                                                  "user_id": user_id})
        for study_id, user_ids in by_study.items():
            room = self.active_room(study_id)
            if room is not None:
                room.tell_system(PresenceGone(tuple(user_ids)))
        for study_id, session_id, info in calls:
            user_id = (info.get("user") or {}).get("id")
            room = self.active_room(study_id)
            if room is not None:
                room.tell_system(CallParticipantGone(session_id, user_id))
            if publish:
                self.bus.publish_study(study_id, {"t": "call_left", "study_id": study_id,
                                                  "session_id": session_id, "user_id": user_id})
        if publish:
            # Only this node ran the cleanup: every other survivor must also repair the gaps
            # the dead node may have left (events committed but never published).
            self.bus.publish_all({"t": "check_heads"})
            self.on_bus_reconnected()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
